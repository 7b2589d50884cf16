"""What each process's /metrics shows: only its own families, with the series alerts need already at 0."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from bridge import build, errors, metrics, topology
from bridge.broker import connector
from bridge.consumer import Consumer, Outcome

ROOT = Path(__file__).resolve().parents[2]
OWN = {"ingest": ("bridge_ingest_",), "relay": ("bridge_relay_", "bridge_outbox_", "bridge_onec_"),
       "consumer": ("bridge_consumer_", "bridge_end_to_end_", "bridge_deal_", "bridge_b24_", "bridge_dead_letters_",
                    "bridge_review_")}


def scrape(*components: str) -> dict[str, list]:
    text = generate_latest(metrics.registry(*components)).decode()
    return {f.name: f.samples for f in text_string_to_metric_families(text)}


def test_each_process_exports_only_its_own_families_and_its_build():
    for component, prefixes in OWN.items():
        names = {n for n in scrape(component) if n.startswith("bridge_")}
        others = {n for n in names if n != "bridge_build_info" and not n.startswith(prefixes)}
        assert others == set(), f"{component} exports {others}"
        assert any(n.startswith(prefixes) for n in names), component
        build_info = scrape(component)["bridge_build_info"]
        assert build_info[0].labels == {"version": build.VERSION, "revision": build.revision()}
        assert build_info[0].value == 1


def test_no_created_series_are_exported():
    text = generate_latest(metrics.registry(*metrics.COMPONENTS)).decode()
    assert "_created" not in text


def test_timestamps_are_named_timestamp_seconds():
    for component in metrics.COMPONENTS.values():
        for metric in component:
            help_text = metric._documentation.lower()
            if "unix time" in help_text or help_text.startswith("when "):
                assert metric._name.endswith("_timestamp_seconds"), metric._name


class _Handler:
    name = "test-consumer"
    target = topology.TARGETS["counterparty"]
    event_types = frozenset()

    async def handle(self, event):
        return Outcome.APPLIED


def test_a_consumer_creates_every_dead_letter_reason_retry_and_outcome_at_0_when_it_starts():
    Consumer(_Handler(), connector("amqp://unused/"))
    samples = scrape("consumer")
    mine = lambda family: {tuple(sorted(s.labels.items())): s.value for s in samples[family]  # noqa: E731
                           if s.labels.get("consumer") == "test-consumer"}
    dead = mine("bridge_consumer_dead_letters")
    reasons = {dict(k)["reason"] for k in dead}
    # read from the error classes: every class-level reason, the poison reasons and the consumer's own
    assert {errors.B24ValidationError.reason, errors.B24AccessDenied.reason, errors.B24MethodNotFound.reason,
            "dependency_missing", "retries_exhausted", *errors.PoisonMessage.reasons} <= reasons
    assert set(dead.values()) == {0.0}
    assert {dict(k)["outcome"] for k in mine("bridge_consumer_messages")} >= {o.value for o in Outcome} | {
        "dead_lettered", "waiting", "retried", "parked"}
    assert "unexpected_error" in {dict(k)["reason"] for k in mine("bridge_consumer_retries")}
    assert list(mine("bridge_consumer_paused").values()) == [0.0]
    assert list(mine("bridge_consumer_dependency_waits").values()) == [0.0]


def test_the_ingest_and_the_relay_start_with_every_entity_at_0():
    ingest = scrape("ingest")
    accepted = {s.labels["entity"] for s in ingest["bridge_ingest_events"] if s.labels["result"] == "accepted"}
    assert set(topology.ENTITIES) <= accepted
    assert {s.labels["status"] for s in ingest["bridge_ingest_requests"]} >= {"200", "401", "503"}
    relay = scrape("relay")
    assert {s.labels["entity"] for s in relay["bridge_outbox_pending"]} == set(topology.ENTITIES)
    assert {s.labels["entity"] for s in relay["bridge_relay_published"]} == set(topology.ENTITIES)


def test_every_reason_the_code_gives_a_poison_message_is_declared():
    """PoisonMessage callers name their reason; each must be in PoisonMessage.reasons, or its dead-letter
    series would be born at 1."""
    given = set()
    for path in [*ROOT.glob("bridge/**/*.py"), *ROOT.glob("onec_outbox/**/*.py")]:
        if "sandbox" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                for kw in node.keywords:
                    if kw.arg == "reason" and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, str):
                        given.add(kw.value.value)
    assert given, "found no reason= at all: the scan is broken"
    assert given <= set(metrics.dead_letter_reasons()), given - set(metrics.dead_letter_reasons())


def test_an_unknown_component_is_refused():
    try:
        metrics.registry("ingest", "relays")
    except ValueError as exc:
        assert re.search("relays", str(exc))
    else:
        raise AssertionError("registry('relays') should be refused")
