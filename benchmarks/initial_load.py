"""Initial load: the whole 1C catalogue through the bridge into a portal limited to 2 requests/s, burst 50.

    python -m benchmarks.initial_load                  # 10,000 products + 2,000 counterparties (~20 min)
    python -m benchmarks.initial_load --scale 0.1      # a tenth of it (~3 min)
    python -m benchmarks.initial_load --skip-third-party --skip-second-run

End to end, as at a client's first run: the 1C simulator builds a base (checksum-valid INN/KPP, BIK and
accounts, contact persons, prices) and posts one ``upserted`` event per card through the real HTTP ingest
in batches of 500, as the 1C sender does; relay, RabbitMQ and the consumers apply them to a Bitrix24
sandbox running as its own process (the portal is another machine) that enforces the cloud portal's
leaky bucket.  Products go first, then counterparties, each timed from the first event posted to the
last one applied.  Printed per phase and in total: wall time, HTTP requests, commands, commands per
request, refusals, and the ratio of wall time to the portal's theoretical minimum, commands ÷ (rate × 50)
seconds.  The portal is then compared field by field with what the simulator says it must hold.

Baselines in the same run, each against a fresh sandbox portal with the same limit:

- **fast_bitrix24** (its batching ``call``): the same 10,000 products, ``catalog.product.add`` and then
  ``catalog.price.add`` for each — the commands the bridge spends per new product, minus the look-up that
  makes the bridge idempotent.
- **b24pysdk**, one call per command, for ``--b24pysdk-products`` products while the bridge loads (the
  full 10,000 would take hours at 2 requests/s); its time for all products is extrapolated from its
  steady rate and printed as such.

Then the **second run**: the same cards exported again (new event ids, higher versions, same data).  It
must change nothing: the bridge's requests in that run are counted by method and every one of them must be
a look-up (``*.list``/``*.get``); none at all is the best answer.

Needs PostgreSQL and RabbitMQ with the management plugin (a database ``<name>_bench_load`` and a vhost
``b24bridge-bench_load`` are recreated and dropped at the end; ``--namespace`` changes that suffix).  Exits 1 when the portal
does not match the 1C base or the second run wrote anything.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import yaml
from pydantic import SecretStr

from bridge import logs
from bridge.b24.limits import MAX_BATCH_COMMANDS
from bridge.domain.product import onec_id_of_key
from bridge.settings import Settings

SOURCE = "ut103-main"
WRITES = ("add", "update", "modify", "delete", "set", "register")
ROOT = Path(__file__).resolve().parent.parent
TLS = ROOT / "tests" / "conformance" / "tls"  # the sandbox's self-signed test certificate (b24pysdk needs https)


# --- the 1C side ------------------------------------------------------------------------------------------


def catalogue(seed: int, products: int, counterparties: int):
    from onec_outbox.simulator.world import build_world

    return build_world(seed, counterparties=counterparties, products=products)


def export_events(cards, entity: str, version: int) -> list[dict[str, Any]]:
    """One ``<entity>.upserted`` per card, as the 1C module's initial export enqueues them."""
    occurred = datetime.fromtimestamp(version / 1000, UTC).isoformat(timespec="seconds")
    return [{"event_id": str(uuid.uuid4()), "event_type": f"{entity}.upserted", "source": SOURCE,
             "entity_id": card.id, "version": version, "occurred_at": occurred, "payload": card.payload}
            for card in cards]


# --- a sandbox portal of its own, in its own process ------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Portal:
    """`b24bridge sandbox` as a subprocess: the webhook URL, its stats and its state over HTTP."""

    def __init__(self, rate: float, burst: int) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.webhook_url = f"{self.base}/rest/1/sandbox0webhook0code/"
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "bridge.cli", "sandbox", "--port", str(self.port), "--rate", str(rate),
             "--burst", str(burst), "--log-level", "WARNING"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.close()
        raise RuntimeError("the sandbox portal did not start")

    def stats(self) -> dict[str, Any]:
        return httpx.get(f"{self.base}/_sandbox/stats", timeout=60).json()

    def state(self) -> dict[str, Any]:
        return httpx.get(f"{self.base}/_sandbox/state", timeout=300).json()

    def close(self) -> None:
        self._proc.terminate()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()


# --- figures ----------------------------------------------------------------------------------------------


@dataclass
class Figures:
    name: str
    seconds: float
    requests: int
    commands: int
    refused: int
    rate: float
    per_method: dict[str, int] = field(default_factory=dict)
    note: str = ""

    @property
    def per_request(self) -> float:
        return self.commands / self.requests if self.requests else 0.0

    @property
    def minimum(self) -> float:
        """The portal's theoretical minimum: every request full, at the drain rate, no burst credit."""
        return self.commands / (self.rate * MAX_BATCH_COMMANDS)

    @property
    def ratio(self) -> float:
        return self.seconds / self.minimum if self.minimum else 0.0

    def row(self) -> str:
        return (f"{self.name:<34} {self.seconds:9.1f} {self.requests:9d} {self.commands:9d} {self.per_request:9.2f}"
                f" {self.minimum:9.1f} {self.ratio:7.2f} {self.refused:7d}  {self.note}")


HEADER = (f"{'':<34} {'wall s':>9} {'requests':>9} {'commands':>9} {'cmd/req':>9} {'min s':>9} {'ratio':>7}"
          f" {'503s':>7}")


def _diff(after: dict[str, Any], before: dict[str, Any] | None) -> tuple[int, int, int, dict[str, int]]:
    before = before or {"http_requests": 0, "commands": 0, "rate_limited": 0, "per_method": {}}
    methods = {m: n - before["per_method"].get(m, 0) for m, n in after["per_method"].items()}
    return (after["http_requests"] - before["http_requests"], after["commands"] - before["commands"],
            after["rate_limited"] - before["rate_limited"], {m: n for m, n in methods.items() if n})


def say(text: str) -> None:
    print(text, flush=True)


# --- the bridge -------------------------------------------------------------------------------------------


async def bridge_load(args: argparse.Namespace, products: list, counterparties: list) -> dict[str, Any]:
    from bridge import bootstrap
    from bridge.demo import (
        drain,
        drop_database,
        drop_vhost,
        fresh_database,
        fresh_vhost,
        prepare_portal,
        wait_up,
    )
    from bridge.verify import compare
    from onec_outbox.simulator.expected import expected_state
    from onec_outbox.simulator.sender import SendOptions, send

    settings = Settings()
    dsn = await fresh_database(settings.database_url.get_secret_value(), f"_{args.namespace}")
    amqp_url = await fresh_vhost(settings.amqp_url.get_secret_value(), args.rabbitmq_api,
                                 f"b24bridge-{args.namespace}")
    portal = Portal(args.rate, args.burst)
    out: dict[str, Any] = {"phases": []}
    try:
        mapping, text = await prepare_portal(portal.webhook_url, None)
        if args.no_matching:  # the bridge's own keys only: what matching before create costs, side by side
            data = yaml.safe_load(text)
            data["matching"] = {"company": ["key"], "contact": ["key"], "product": ["key"]}
            text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False)
        mapping_file = Path(tempfile.mkdtemp(prefix="b24bridge-bench-")) / "mapping.yaml"
        mapping_file.write_text(text, encoding="utf-8")
        token = secrets.token_urlsafe(24)
        ingest_port = _free_port()
        bridge_settings = settings.model_copy(update={
            "database_url": SecretStr(dsn), "amqp_url": SecretStr(amqp_url),
            "b24_webhook_url": SecretStr(portal.webhook_url), "ingest_tokens": [SecretStr(token)],
            "ingest_port": ingest_port, "ingest_host": "127.0.0.1", "mapping_file": mapping_file,
            "consumer_prefetch": args.prefetch, "log_level": "WARNING",
            "consumer_entities": ["product", "counterparty"]})
        stop = asyncio.Event()
        task = asyncio.create_task(bootstrap.run_all(bridge_settings, stop))
        ingest_url = f"http://127.0.0.1:{ingest_port}"
        root_cm = bootstrap.build(bridge_settings, bootstrap.Needs(pool_size=bootstrap.COMMAND_POOL_SIZE))
        root = await root_cm.__aenter__()
        pool = root.pool
        try:
            await wait_up(ingest_url, task)
            done = 0

            async def phase(name: str, events: list[dict[str, Any]]) -> Figures:
                nonlocal done
                before = portal.stats()
                started = time.monotonic()
                last = [0.0]

                def progress(handled: int) -> None:
                    now = time.monotonic()
                    if now - last[0] >= 10 or handled == done + len(events):
                        last[0] = now
                        say(f"  {name}: {handled - done}/{len(events)} applied, {now - started:6.0f} s")

                report = await send(events, url=ingest_url, token=token,
                                    options=SendOptions(batch_size=500, timeout=120))
                report.raise_for_problems()
                say(f"  {name}: {len(events)} events posted through the ingest in {time.monotonic() - started:.1f} s")
                await drain(pool, done + len(events), args.timeout, task, progress)
                seconds = time.monotonic() - started
                done += len(events)
                requests, commands, refused, methods = _diff(portal.stats(), before)
                return Figures(name, seconds, requests, commands, refused, args.rate, methods)

            drain_s = args.burst / args.rate if args.rate else 0
            say(f"  letting the portal's bucket drain after portal setup ({drain_s:.0f} s): the load starts on a "
                "rested portal, as the baselines do on their fresh ones")
            await asyncio.sleep(drain_s)
            say(f"bridge: {len(products)} products, then {len(counterparties)} counterparties "
                f"(portal {args.rate}/s burst {args.burst}, prefetch {args.prefetch})")
            first = [export_events(products, "product", 1_000_000), export_events(counterparties, "counterparty",
                                                                                   1_000_000)]
            for name, events in (("bridge: products", first[0]), ("bridge: counterparties", first[1])):
                out["phases"].append(await phase(name, events))
            phases = out["phases"]
            out["total"] = Figures("bridge: whole load", sum(p.seconds for p in phases),
                                   sum(p.requests for p in phases), sum(p.commands for p in phases),
                                   sum(p.refused for p in phases), args.rate,
                                   dict(sum((Counter(p.per_method) for p in phases), Counter())))
            say("  comparing the portal with the 1C base, field by field …")
            expected = expected_state(first[0] + first[1], paid_rule=mapping.deals.paid_when)
            state = portal.state()
            out["problems"] = compare(expected, state, mapping)
            out["portal"] = {"products": len(state.get("products") or []), "companies": len(state["companies"]),
                             "contacts": len(state["contacts"]), "requisites": len(state.get("requisites") or []),
                             "bank_details": len(state.get("bank_details") or state.get("bankdetails") or [])}
            if not args.skip_second_run:
                again = export_events(products, "product", 2_000_000) + export_events(
                    counterparties, "counterparty", 2_000_000)
                out["second"] = await phase("bridge: second run (same data)", again)
        finally:
            stop.set()
            try:
                await asyncio.wait_for(task, 60)
            except Exception:  # noqa: BLE001 - shutting down after the measurement
                pass
            await root_cm.__aexit__(None, None, None)
    finally:
        portal.close()
        await drop_vhost(settings.amqp_url.get_secret_value(), args.rabbitmq_api, f"b24bridge-{args.namespace}")
        await drop_database(settings.database_url.get_secret_value(), dsn)
    return out


# --- the third parties ------------------------------------------------------------------------------------


def _product_fields(card, iblock: int) -> dict[str, Any]:
    from bridge.domain import product as domain

    desired = domain.desired_state(card.payload, key=domain.product_key(SOURCE, card.id), api=domain.CATALOG,
                                   base_price_type_id=1)
    return {"iblockId": iblock, **desired.fields}


def _price_fields(card, product_id: int) -> dict[str, Any]:
    price = card.payload["sale_price"]
    return {"productId": product_id, "catalogGroupId": 1, "price": float(Decimal(price["amount"])),
            "currency": price["currency"]}


def _catalog_iblock(result: dict[str, Any]) -> int:
    from bridge.b24.envelope import items_of
    from bridge.domain.product import product_iblock

    iblock = product_iblock(items_of(result))
    assert iblock is not None, result
    return iblock


def fast_bitrix24_load(args: argparse.Namespace, products: list) -> list[Figures]:
    """As published first (parallel batches); if it gives up, once more in its documented ``slow()`` mode
    (one request at a time), which its README recommends when a portal refuses requests."""
    import logging

    from fast_bitrix24 import BitrixAsync

    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # its abandoned retries are reported below
    runs: list[Figures] = []
    for mode in ("defaults", "slow()"):
        portal = Portal(args.rate, args.burst)
        try:
            iblock = _catalog_iblock(httpx.post(portal.webhook_url + "catalog.catalog.list", json={},
                                                timeout=30).json()["result"])
            before = portal.stats()
            say(f"fast_bitrix24 ({mode}): {len(products)} products, catalog.product.add then catalog.price.add")

            async def load(client: BitrixAsync) -> None:
                added = await client.call("catalog.product.add",
                                          [{"fields": _product_fields(card, iblock)} for card in products])
                elements = [item.get("element", item) for item in added]  # it unwraps one-key results
                ids = {onec_id_of_key(str(e["xmlId"])): int(e["id"]) for e in elements}
                await client.call("catalog.price.add", [{"fields": _price_fields(card, ids[card.id])}
                                                        for card in products])

            async def run() -> None:
                client = BitrixAsync(portal.webhook_url, verbose=False)
                if mode == "defaults":
                    await load(client)
                else:
                    with client.slow():
                        await load(client)

            started = time.monotonic()
            note = ""
            try:
                asyncio.run(run())
            except RuntimeError as exc:  # "All attempts to get data from server exhausted"
                note = f"gave up: {exc}"
            seconds = time.monotonic() - started
            requests, commands, refused, methods = _diff(portal.stats(), before)
            runs.append(Figures(f"fast_bitrix24 ({mode}): products", seconds, requests, commands, refused,
                                args.rate, methods, note=note))
            if not note:
                return runs
        finally:
            portal.close()
    return runs


class B24pysdkRun(threading.Thread):
    """b24pysdk, one call per command, in a thread beside the bridge (its own portal, its own bucket)."""

    def __init__(self, args: argparse.Namespace, products: list, total_products: int) -> None:
        super().__init__(name="b24pysdk", daemon=True)
        self.args = args
        self.products = products
        self.total_products = total_products
        self.figures: Figures | None = None
        self.error: BaseException | None = None

    def run(self) -> None:
        from b24_sandbox import SandboxConfig, serve_in_thread

        os.environ["REQUESTS_CA_BUNDLE"] = str(TLS / "cert.pem")
        try:
            from b24pysdk import BitrixWebhook, Client

            with serve_in_thread(SandboxConfig(rate=self.args.rate, burst=self.args.burst),
                                 ssl_certfile=str(TLS / "cert.pem"), ssl_keyfile=str(TLS / "key.pem")) as srv:
                client = Client(BitrixWebhook(domain=srv.domain, webhook_token="1/sandbox0webhook0code"))
                iblock = _catalog_iblock(srv.sandbox.call("catalog.catalog.list", {}).result.value)
                before = srv.sandbox.stats()
                started = time.monotonic()
                marks: list[float] = []
                for card in self.products:
                    added = client.catalog.product.add(fields=_product_fields(card, iblock)).result
                    product_id = int(added["element"]["id"])
                    client.catalog.price.add(fields=_price_fields(card, product_id)).result
                    marks.append(time.monotonic() - started)
                seconds = marks[-1]
                requests, commands, refused, methods = _diff(srv.sandbox.stats(), before)
                # the first products ride the burst; the steady rate is what the rest of the catalogue gets
                steady_from = min(len(marks) - 1, math.ceil(self.args.burst / 2))
                per_product = (marks[-1] - marks[steady_from]) / max(1, len(marks) - 1 - steady_from)
                whole = marks[steady_from] + per_product * (self.total_products - steady_from)
                self.figures = Figures(f"b24pysdk: {len(self.products)} products", seconds, requests, commands,
                                       refused, self.args.rate, methods,
                                       note=f"→ {self.total_products} products ≈ {whole:,.0f} s (extrapolated)")
        except BaseException as exc:  # noqa: BLE001 - reported with the figures
            self.error = exc


# --- the run ----------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--products", type=int, default=10_000)
    parser.add_argument("--counterparties", type=int, default=2_000)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply both counts (0.1 = a tenth)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rate", type=float, default=2.0, help="portal drain, requests per second")
    parser.add_argument("--burst", type=int, default=50, help="portal bucket size")
    parser.add_argument("--prefetch", type=int, default=80,
                        help="events each consumer handles at once (the documented first-load prefetch)")
    parser.add_argument("--b24pysdk-products", type=int, default=300,
                        help="products b24pysdk adds (its time for all is extrapolated)")
    parser.add_argument("--skip-third-party", action="store_true", help="no fast_bitrix24 or b24pysdk runs")
    parser.add_argument("--skip-second-run", action="store_true")
    parser.add_argument("--no-matching", action="store_true",
                        help="look records up by the bridge's own keys only (matching: key only)")
    parser.add_argument("--timeout", type=float, default=7200, help="seconds to wait for a phase to drain")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--namespace", default="bench_load",
                        help="suffix of the database and RabbitMQ vhost the run recreates")
    parser.add_argument("--rabbitmq-api", help="management API URL (default: http://<amqp host>:15672/api)")
    args = parser.parse_args()
    logs.configure("WARNING", fmt="text")  # the bridge's warnings with their fields (error=…), not bare messages
    n_products = max(1, round(args.products * args.scale))
    n_counterparties = max(1, round(args.counterparties * args.scale))
    world = catalogue(args.seed, n_products, n_counterparties)
    products, counterparties = list(world.products), list(world.counterparties)
    say(f"1C base: {len(products)} products, {len(counterparties)} counterparties "
        f"({sum(len(c.payload.get('contact_persons') or []) for c in counterparties)} contact persons, "
        f"{sum(len(c.payload.get('bank_accounts') or []) for c in counterparties)} bank accounts)")

    pysdk = None
    if not args.skip_third_party and args.b24pysdk_products > 0:
        pysdk = B24pysdkRun(args, products[: args.b24pysdk_products], len(products))
        pysdk.start()
    bridge = asyncio.run(bridge_load(args, products, counterparties))
    fast_runs = [] if args.skip_third_party else fast_bitrix24_load(args, products)
    fast = next((f for f in fast_runs if not f.note), None)
    if pysdk is not None:
        say("waiting for b24pysdk …")
        pysdk.join()

    rows: list[Figures] = [*bridge["phases"], bridge["total"]]
    say("")
    say(HEADER)
    for f in rows:
        say(f.row())
    for f in fast_runs:
        say(f.row())
    if pysdk is not None:
        if pysdk.figures:
            say(pysdk.figures.row())
        else:
            say(f"b24pysdk failed: {pysdk.error!r}")
    say("")
    say(f"portal after the load: {bridge['portal']}")
    problems = bridge["problems"]
    say(f"portal matches the 1C base field by field: {'yes' if not problems else 'NO'}")
    for problem in problems[:20]:
        say(f"  {problem}")
    total: Figures = bridge["total"]
    say(f"bridge commands by method: {json.dumps(total.per_method, ensure_ascii=False)}")
    products_phase = bridge["phases"][0]
    if fast:
        say(f"products: bridge {products_phase.seconds:.1f} s vs fast_bitrix24 {fast.seconds:.1f} s "
            f"(bridge ÷ fast_bitrix24 = {products_phase.seconds / fast.seconds:.2f}; "
            f"commands per product {products_phase.commands / len(products):.2f} vs "
            f"{fast.commands / len(products):.2f})")
    say(f"whole load: {total.seconds:.1f} s = {total.ratio:.2f} × the theoretical minimum "
        f"({total.commands} commands ÷ {args.rate * MAX_BATCH_COMMANDS:g}/s = {total.minimum:.1f} s)")
    second = bridge.get("second")
    writes: dict[str, int] = {}
    if second:
        writes = {m: n for m, n in second.per_method.items() if m != "batch" and m.rsplit(".", 1)[-1] in WRITES}
        say(f"second run: {second.seconds:.1f} s, {second.requests} requests, commands by method "
            f"{json.dumps(second.per_method)}; writes: {sum(writes.values())}")
    if args.json:
        def plain(f: Figures | None) -> dict[str, Any] | None:
            return None if f is None else {**f.__dict__, "per_request": f.per_request, "minimum": f.minimum,
                                           "ratio": f.ratio}
        args.json.write_text(json.dumps({
            "bridge": [plain(f) for f in rows], "second_run": plain(second), "fast_bitrix24": plain(fast),
            "fast_bitrix24_runs": [plain(f) for f in fast_runs],
            "b24pysdk": plain(pysdk.figures if pysdk else None), "portal": bridge["portal"],
            "problems": problems}, ensure_ascii=False, indent=2), encoding="utf-8")
    if problems or writes:
        sys.exit(1)


if __name__ == "__main__":
    main()
