"""deploy/prometheus/rules.yml: promtool accepts it and its unit tests pass, every alert is documented in
Russian and English with a runbook anchor, and every metric it reads is one the bridge exports."""

from __future__ import annotations

import re
import subprocess

import yaml

from tests.deploy.support import CHART, ROOT, RULE_TESTS, RULES, selector_names, tool, unknown_metrics

CYRILLIC = re.compile("[а-яА-ЯёЁ]")


def alerts() -> list[dict]:
    source = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in source["groups"] for rule in group["rules"]]


def test_the_chart_ships_the_same_rules_file():
    copy = CHART / "files" / "prometheus-rules.yml"
    assert copy.read_text(encoding="utf-8") == RULES.read_text(encoding="utf-8"), (
        f"{copy} differs from {RULES}: edit {RULES.name}, then cp deploy/prometheus/rules.yml {copy.relative_to(CHART.parents[2])}")


def test_promtool_accepts_the_rules():
    result = subprocess.run([tool("promtool"), "check", "rules", str(RULES)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_promtool_unit_tests_of_the_alerts_pass():
    promtool = tool("promtool")
    runs = [subprocess.Popen([promtool, "test", "rules", str(path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             text=True) for path in RULE_TESTS]  # side by side: each file takes a couple of seconds
    for run in runs:
        output, _ = run.communicate()
        assert run.returncode == 0, output


def test_every_alert_has_a_unit_test_that_makes_it_fire():
    tests = [test for path in RULE_TESTS for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]]
    fired = {case["alertname"] for test in tests for case in test["alert_rule_test"] if case["exp_alerts"]}
    quiet = {case["alertname"] for test in tests for case in test["alert_rule_test"] if not case["exp_alerts"]}
    names = {rule["alert"] for rule in alerts()}
    assert names - fired == set(), "alerts no promtool test makes fire"
    # the alerts with a subtle condition also have a case where they must stay quiet
    assert {"BridgeOutboxLag", "BridgeRelayNotCycling", "BridgeConsumerPaused", "BridgeB24Errors",
            "BridgeNoEventsIngested"} <= quiet


def test_every_alert_explains_itself_in_english_and_russian_and_links_its_runbook():
    for rule in alerts():
        name, notes = rule["alert"], rule["annotations"]
        assert re.fullmatch(r"Bridge[A-Z][A-Za-z0-9]+", name)
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        for key in ("summary", "description"):
            assert notes[key] and not CYRILLIC.search(notes[key]), f"{name}: {key} should be English"
            assert CYRILLIC.search(notes[f"{key}_ru"]), f"{name}: {key}_ru should be Russian"
        assert notes["runbook_url"] == f"docs/operations.md#{name.lower()}", name


def test_rules_read_only_metrics_the_bridge_or_rabbitmq_export():
    used = set()
    for rule in alerts():
        used |= selector_names(rule["expr"])
    assert {n for n in used if n.startswith("bridge_")}, "the rules read no bridge metric at all"
    assert unknown_metrics(used) == set()


def test_the_deployment_guide_lists_every_alert():
    guide = (ROOT / "docs" / "deployment.md").read_text(encoding="utf-8")
    listed = set(re.findall(r"^\| `(Bridge\w+)` \|", guide, re.MULTILINE))
    assert listed == {rule["alert"] for rule in alerts()}
