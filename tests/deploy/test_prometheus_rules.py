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
            "BridgeNoEventsIngested", "BridgeOnecSilent", "BridgeOnecBacklogGrowing"} <= quiet


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


# What BridgeDeadLettersGrowing was before: blind to a series that is born at 1 (increase() needs two samples).
INCREASE_ONLY = "sum by (namespace, consumer, reason) (increase(bridge_consumer_dead_letters_total[15m])) > 0"


def _promtool_test(tmp_path, rules: dict, tests: list[dict]) -> subprocess.CompletedProcess:
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(rules, allow_unicode=True, sort_keys=False), encoding="utf-8")
    spec = {"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests}
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(spec, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return subprocess.run([tool("promtool"), "test", "rules", str(tmp_path / "tests.yml")], capture_output=True,
                          text=True, check=False)


def test_the_first_dead_letter_of_a_kind_alerts_where_increase_alone_stays_silent(tmp_path):
    tests = yaml.safe_load(RULE_TESTS[0].read_text(encoding="utf-8"))["tests"]
    first = [t for t in tests if "first seen at 1" in t["name"]]
    assert len(first) == 1, "tests.yml lost its dead-letter series born at 1"
    series = first[0]["input_series"][0]
    assert series["series"].startswith("bridge_consumer_dead_letters_total") and series["values"].startswith("_x")
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))

    now = _promtool_test(tmp_path, rules, first)
    assert now.returncode == 0, now.stdout + now.stderr

    for rule in (r for group in rules["groups"] for r in group["rules"]):
        if rule.get("alert") == "BridgeDeadLettersGrowing":
            rule["expr"] = INCREASE_ONLY
    before = _promtool_test(tmp_path, rules, first)
    assert before.returncode != 0, "the test case would pass with the old rule: it proves nothing"
    said = before.stdout + before.stderr
    assert "alertname: BridgeDeadLettersGrowing" in said and "got:[]" in said, said


def test_relay_down_is_told_per_installation_not_by_absent():
    rule = next(r for r in alerts() if r["alert"] == "BridgeRelayDown")
    assert "absent(" not in rule["expr"]
    assert "namespace" in rule["expr"]
