"""deploy/grafana/onec-b24-bridge.json: well-formed panels, PromQL that parses, metrics that exist."""

from __future__ import annotations

import json

import pytest

from tests.deploy.support import CHART, DASHBOARD, promql, selector_names, unknown_metrics

pytest.importorskip("promql_parser")


def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(board: dict) -> list[dict]:
    out = []
    for panel in board["panels"]:
        out.append(panel)
        out += panel.get("panels", [])  # panels inside collapsed rows
    return out


def targets(board: dict) -> list[tuple[str, dict]]:
    return [(panel["title"], target) for panel in panels(board) for target in panel.get("targets", [])]


def test_the_chart_ships_the_same_dashboard():
    copy = CHART / "files" / "grafana-dashboard.json"
    assert copy.read_text(encoding="utf-8") == DASHBOARD.read_text(encoding="utf-8"), (
        f"{copy} differs: cp deploy/grafana/onec-b24-bridge.json {copy.relative_to(CHART.parents[2])}")


def test_panel_ids_are_unique_and_panels_fit_the_grid():
    board = dashboard()
    ids = [panel["id"] for panel in panels(board)]
    assert len(ids) == len(set(ids)), "duplicate panel ids"
    cells = set()
    for panel in panels(board):
        pos = panel["gridPos"]
        assert pos["w"] >= 1 and pos["x"] + pos["w"] <= 24, panel["title"]
        for x in range(pos["x"], pos["x"] + pos["w"]):
            for y in range(pos["y"], pos["y"] + pos["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps another panel"
                cells.add((x, y))


def test_every_query_uses_the_datasource_variable():
    board = dashboard()
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for panel in panels(board):
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
    for title, target in targets(board):
        assert target["datasource"]["uid"] == "${datasource}", title
    for variable in variables.values():
        if variable["type"] == "query":
            assert variable["datasource"]["uid"] == "${datasource}", variable["name"]


def test_every_query_is_valid_promql():
    board = dashboard()
    assert len(targets(board)) > 30
    for title, target in targets(board):
        try:
            promql(target["expr"])
        except ValueError as exc:
            pytest.fail(f"{title}: {target['expr']!r}: {exc}")
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            inner = variable["definition"].removeprefix("label_values(").rsplit(",", 1)[0]
            promql(inner)


def test_every_metric_on_the_dashboard_is_one_the_bridge_or_rabbitmq_exports():
    used = set()
    for _, target in targets(dashboard()):
        used |= selector_names(target["expr"])
    assert unknown_metrics(used) == set()


def test_the_dashboard_covers_every_stage_of_the_pipeline():
    used = set()
    for _, target in targets(dashboard()):
        used |= selector_names(target["expr"])
    for metric in ("bridge_ingest_events_total", "bridge_outbox_pending", "bridge_outbox_oldest_pending_seconds",
                   "bridge_relay_published_total", "bridge_relay_batch_seconds_bucket",
                   "bridge_consumer_messages_total", "bridge_consumer_handle_seconds_bucket",
                   "bridge_end_to_end_seconds_bucket", "bridge_consumer_retries_total",
                   "bridge_consumer_dead_letters_total", "bridge_consumer_dependency_waits_total",
                   "bridge_consumer_paused", "bridge_b24_http_requests_total", "bridge_b24_request_seconds_bucket",
                   "bridge_b24_rate_limit_wait_seconds_total", "rabbitmq_detailed_queue_messages",
                   "bridge_onec_pending", "bridge_onec_rejected", "bridge_onec_last_heartbeat_timestamp_seconds"):
        assert metric in used, f"no panel shows {metric}"


def _queue_matchers(expr: str) -> list:
    """The label matchers on `queue` of every selector in a PromQL expression."""
    import promql_parser

    found = []

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            found.extend(m for m in node.matchers.matchers if m.name == "queue")

    promql_parser.walk(promql(expr), visit)
    return found


def _matches(matcher, name: str) -> bool:
    import re

    import promql_parser

    if matcher.op == promql_parser.MatchOp.Equal:
        return name == matcher.value
    if matcher.op == promql_parser.MatchOp.Re:
        return re.fullmatch(matcher.value, name) is not None  # Prometheus anchors regexes at both ends
    raise AssertionError(f"unexpected matcher {matcher}")


def test_each_queue_panel_shows_exactly_the_queues_the_bridge_declares_for_it():
    """The RabbitMQ panels select queues by name: checked against bridge/topology.py, so a regex that misses
    a kind of queue (the dependency waits are b24.<target>.wait.<N>s) does not leave a panel half empty."""
    from bridge import topology

    queues = [spec.name for target in topology.TARGETS.values() for spec in topology.queues_for(target)]
    main = {t.queue for t in topology.TARGETS.values()}
    expected = {
        "Consumer queues": main,
        "Consumers per queue": main,
        "Dead-letter queues": {t.dlq for t in topology.TARGETS.values()},
        "Retry and wait queues": {q for q in queues if ".retry." in q or ".wait." in q},
    }
    assert any(".wait." in q for q in expected["Retry and wait queues"])
    assert any(".retry." in q for q in expected["Retry and wait queues"])
    seen = set()
    for title, target in targets(dashboard()):
        if title not in expected:
            continue
        seen.add(title)
        for matcher in _queue_matchers(target["expr"]):
            shown = {q for q in queues if _matches(matcher, q)}
            assert shown == expected[title], f"{title}: {matcher.value!r} misses {expected[title] - shown}, " \
                                             f"shows {shown - expected[title]} too"
    assert seen == set(expected)
