"""Per-call cost of the sandbox's look-ups by key as the portal fills: 1,000 records against 50,000.

    python -m benchmarks.sandbox_cost                     # sizes 1000 and 50000, 300 calls per look-up
    python -m benchmarks.sandbox_cost --sizes 1000 50000 --calls 300 --json figures.json

For each size the sandbox is filled in-process (companies with ORIGIN_ID, each with a requisite with an
INN, catalog products with an xmlId, one deal with product rows per 10 companies), then each look-up a
client makes by key is timed over ``calls`` random keys, through ``Sandbox.execute`` (the method as the
HTTP layer runs it, without the network).  "after" is the sandbox as it is (hash indexes); "before" is the
same store with its indexes switched off (every look-up scans its table), which is how the sandbox
worked until issue 12.  Printed per look-up: microseconds per call at each size (the best of 5 passes
with indexes, one pass without: a scan of 50,000 records takes long enough to be steady) and the
large/small ratio (1.0 = flat), and the records scanned per call.
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import time
from typing import Any

LOOKUPS: dict[str, tuple[str, Any]] = {
    "crm.company.list ORIGIN_ID": (
        "crm.company.list", lambda n, r: {"filter": {"ORIGINATOR_ID": "1C", "ORIGIN_ID": f"guid-{r.randrange(n)}"},
                                          "select": ["ID"]}),
    "crm.company.list @ORIGIN_ID (50)": (
        "crm.company.list", lambda n, r: {"filter": {"@ORIGIN_ID": [f"guid-{r.randrange(n)}" for _ in range(50)]},
                                          "select": ["ID", "ORIGIN_ID"]}),
    "crm.requisite.list RQ_INN+RQ_KPP": (
        "crm.requisite.list", lambda n, r: {"filter": {"RQ_INN": f"77{r.randrange(n):08d}", "RQ_KPP": "770101001"}}),
    "crm.requisite.list ENTITY_ID": (
        "crm.requisite.list", lambda n, r: {"filter": {"ENTITY_TYPE_ID": 4, "ENTITY_ID": r.randrange(n) + 1}}),
    "catalog.product.list xmlId (50)": (
        "catalog.product.list", lambda n, r: {"select": ["id", "iblockId", "xmlId"],
                                              "filter": {"iblockId": 25,
                                                         "xmlId": [f"nom-{r.randrange(n)}" for _ in range(50)]}}),
    "crm.deal.productrows.get": (
        "crm.deal.productrows.get", lambda n, r: {"id": r.randrange(max(n // 10, 1)) + 1}),
    "crm.deal.list ID (a deal's fields)": (
        "crm.deal.list", lambda n, r: {"filter": {"ID": r.randrange(max(n // 10, 1)) + 1},
                                       "select": ["ID", "OPPORTUNITY", "STAGE_ID"]}),
}


def fill(sandbox: Any, size: int) -> None:
    for i in range(size):
        company_id = sandbox.call("crm.company.add", {"fields": {
            "TITLE": f"ООО Компания {i}", "ORIGINATOR_ID": "1C", "ORIGIN_ID": f"guid-{i}"}}).result.value
        sandbox.call("crm.requisite.add", {"fields": {
            "ENTITY_TYPE_ID": 4, "ENTITY_ID": company_id, "PRESET_ID": 1, "NAME": "Организация",
            "RQ_INN": f"77{i:08d}", "RQ_KPP": "770101001", "XML_ID": f"req-{i}"}})
        sandbox.call("catalog.product.add", {"fields": {"iblockId": 25, "name": f"Товар {i}", "xmlId": f"nom-{i}"}})
        if i % 10 == 0:
            deal_id = sandbox.call("crm.deal.add", {"fields": {"TITLE": f"Заказ {i}", "COMPANY_ID": company_id,
                                                               "ORIGIN_ID": f"order-{i}"}}).result.value
            sandbox.call("crm.deal.productrows.set", {"id": deal_id, "rows": [
                {"PRODUCT_NAME": f"Товар {i}", "PRICE": 100, "QUANTITY": 2}]})


def measure(sandbox: Any, size: int, calls: int, seed: int, rounds: int) -> dict[str, dict[str, float]]:
    """Per look-up: the best of ``rounds`` passes over the same ``calls`` requests (the machine is shared;
    the best pass is the one least disturbed), and the records scanned per call."""
    out: dict[str, dict[str, float]] = {}
    for name, (method, params) in LOOKUPS.items():
        rng = random.Random(seed)
        requests = [params(size, rng) for _ in range(calls)]
        sandbox.execute(method, requests[0], sandbox.config.webhook_user)  # warm-up: builds the index
        gc.collect()
        best = float("inf")
        for _ in range(rounds):
            sandbox.store.scanned.clear()
            started = time.perf_counter()
            for request in requests:
                outcome = sandbox.execute(method, request, sandbox.config.webhook_user)
                assert outcome.error is None, (name, outcome.error)
            best = min(best, time.perf_counter() - started)
        out[name] = {"us_per_call": best / calls * 1e6,
                     "scanned_per_call": sum(sandbox.store.scanned.values()) / calls}
    return out


def run(sizes: list[int], calls: int, seed: int) -> dict[str, Any]:
    from b24_sandbox import Sandbox, SandboxConfig

    figures: dict[str, Any] = {"sizes": sizes, "calls": calls, "after": {}, "before": {}}
    for size in sizes:
        sandbox = Sandbox(SandboxConfig(rate=0, operating_limit=0))
        started = time.perf_counter()
        fill(sandbox, size)
        print(f"filled {size} companies, requisites, products and {size // 10} deals in "
              f"{time.perf_counter() - started:.1f} s", flush=True)
        gc.collect()
        gc.freeze()  # the filled portal is permanent: keep the collector from re-walking it during timing
        figures["after"][size] = measure(sandbox, size, calls, seed, rounds=5)
        sandbox.store.use_indexes = False
        figures["before"][size] = measure(sandbox, size, max(calls // 10, 5), seed, rounds=1)
        sandbox.store.use_indexes = True
        gc.unfreeze()
        del sandbox
    return figures


def report(figures: dict[str, Any]) -> None:
    small, large = min(figures["sizes"]), max(figures["sizes"])
    print(f"\nper-call cost of a look-up by key, µs (records scanned per call); ratio = {large} / {small}")
    print(f"{'look-up':36} {'':6} {small:>14} {large:>16} {'ratio':>7}")
    for name in LOOKUPS:
        for label in ("before", "after"):
            a, b = figures[label][small][name], figures[label][large][name]
            print(f"{name:36} {label:6} {a['us_per_call']:8.0f} ({a['scanned_per_call']:>5.0f})"
                  f" {b['us_per_call']:9.0f} ({b['scanned_per_call']:>6.0f}) {b['us_per_call'] / a['us_per_call']:7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 50000])
    parser.add_argument("--calls", type=int, default=300, help="timed calls per look-up (a tenth without indexes)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--smoke", action="store_true", help="a tiny run (CI): sizes 100 and 300, 10 calls")
    args = parser.parse_args()
    if args.smoke:
        args.sizes, args.calls = [100, 300], 10
    figures = run(sorted(args.sizes), args.calls, args.seed)
    report(figures)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(figures, f, indent=1, ensure_ascii=False)


if __name__ == "__main__":
    main()
