"""A BRIDGE_* variable no setting reads is named at start-up with the setting it was probably meant to be
(issue 13: a misspelt BRIDGE_B24_RATE_PER_SECONDS silently left the rate at its default)."""

from __future__ import annotations

import json
import logging
import os

import pytest

from bridge import runner
from bridge.settings import Settings, unknown_variables


def test_a_misspelt_setting_is_reported_with_the_one_it_resembles():
    environ = {"BRIDGE_B24_RATE_PER_SECONDS": "5", "BRIDGE_DATABSE_URL": "postgresql://x@db/b",
               "BRIDGE_CONSUMER_PREFECH": "16", "BRIDGE_LOG_LEVEL": "DEBUG", "PATH": "/usr/bin"}
    assert unknown_variables(environ) == [
        ("BRIDGE_B24_RATE_PER_SECONDS", "BRIDGE_B24_RATE_PER_SECOND"),
        ("BRIDGE_CONSUMER_PREFECH", "BRIDGE_CONSUMER_PREFETCH"),
        ("BRIDGE_DATABSE_URL", "BRIDGE_DATABASE_URL"),
    ]


def test_a_name_like_no_setting_gets_no_suggestion():
    assert unknown_variables({"BRIDGE_COLOUR": "blue"}) == [("BRIDGE_COLOUR", None)]


def test_every_setting_and_the_tooling_variables_are_known_whatever_their_case():
    environ = {f"BRIDGE_{name.upper()}": "x" for name in Settings.model_fields}
    environ |= {"bridge_log_level": "INFO", "BRIDGE_VENV": ".venv", "BRIDGE_TEST_REQUIRE_SERVICES": "1",
                "OTHER_B24_RATE_PER_SECONDS": "5"}
    assert unknown_variables(environ) == []


@pytest.fixture
def stderr_logs(capsys):
    """The JSON lines the bridge's logging writes to stderr during the test; its handler removed after."""
    root = logging.getLogger()
    level = root.level
    yield lambda: [json.loads(line) for line in capsys.readouterr().err.splitlines() if line.startswith("{")]
    for handler in list(root.handlers):
        if getattr(handler, "_bridge", False):
            root.removeHandler(handler)
    root.setLevel(level)


def test_start_up_logs_one_json_warning_per_unknown_name_and_never_its_value(monkeypatch, stderr_logs):
    monkeypatch.setenv("BRIDGE_B24_RATE_PER_SECONDS", "5")
    monkeypatch.setenv("BRIDGE_AMQP_ULR", "amqp://bridge:rabbit-password@mq/")
    runner.setup(Settings())
    warnings = [line for line in stderr_logs() if line.get("action") == "settings.unknown_variable"]
    assert [(w["level"], w["variable"], w["did_you_mean"]) for w in warnings] == [
        ("warning", "BRIDGE_AMQP_ULR", "BRIDGE_AMQP_URL"),
        ("warning", "BRIDGE_B24_RATE_PER_SECONDS", "BRIDGE_B24_RATE_PER_SECOND"),
    ]
    assert "did you mean BRIDGE_B24_RATE_PER_SECOND?" in warnings[1]["msg"]
    assert "rabbit-password" not in json.dumps(warnings) and '"5"' not in json.dumps(warnings)


def test_a_clean_environment_logs_no_warning(monkeypatch, stderr_logs):
    for name in [n for n in os.environ if n.upper().startswith("BRIDGE_")]:
        monkeypatch.delenv(name)
    runner.setup(Settings())
    assert [line for line in stderr_logs() if line.get("action") == "settings.unknown_variable"] == []
