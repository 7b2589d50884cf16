"""What `b24bridge demo` prints at the end: with --serve, what a person needs to use the running stack
(the ingest's token, the webhook); without it, that everything stops now.  And where its log goes."""

from __future__ import annotations

import io

from rich.console import Console

from bridge.cli.demo import _print_summary, _report, log_path_for
from bridge.demo import DemoResult

COUNTS = {"companies": 2, "contacts": 3, "products": 4, "deals": 1, "notifications": 0,
          "deals_by_stage": {"Новая": 1}, "dead_letters": {}}


def result() -> DemoResult:
    return DemoResult(summary=dict(COUNTS), expected=dict(COUNTS), board_url="http://127.0.0.1:8090/_sandbox/",
                      webhook_url="http://127.0.0.1:8090/rest/1/sandbox0webhook0code/",
                      ingest_url="http://127.0.0.1:8080", ingest_token="t0ken-of-this-run", events=9, seconds=3.0,
                      database="bridge_demo")


def printed(serving: bool) -> str:
    out = io.StringIO()
    _print_summary(Console(file=out, width=300), result(), serving)
    return out.getvalue()


def test_serving_prints_the_ingest_token_and_the_webhook_a_person_needs():
    text = printed(serving=True)
    assert "Authorization: Bearer t0ken-of-this-run" in text
    assert "http://127.0.0.1:8090/rest/1/sandbox0webhook0code/" in text
    assert "http://127.0.0.1:8090/_sandbox/" in text


def test_without_serve_it_says_the_addresses_stop_working_and_how_to_keep_them():
    text = printed(serving=False)
    assert "t0ken-of-this-run" not in text
    assert "--serve" in text and "stop now" in text


def test_the_json_report_carries_the_token_only_when_serving():
    assert _report(result(), serving=True)["ingest_token"] == "t0ken-of-this-run"
    assert _report(result(), serving=True)["webhook"].endswith("/sandbox0webhook0code/")
    assert "ingest_token" not in _report(result(), serving=False)


def test_serving_says_where_the_operator_tools_must_look():
    text = printed(serving=True)
    assert "trace" in text and "database bridge_demo" in text
    assert "BRIDGE_B24_WEBHOOK_URL=http://127.0.0.1:8090/rest/1/sandbox0webhook0code/" in text
    assert _report(result(), serving=True)["database"] == "bridge_demo"


def test_the_token_and_the_webhook_stay_whole_on_an_80_column_console():
    """Off a terminal rich wraps at 80 columns: the token and the webhook were broken across lines
    ("Bearer \\n<token>"), so a pasted token or BRIDGE_B24_WEBHOOK_URL=… was wrong."""
    out = io.StringIO()
    long = result()
    long.ingest_token = "j8DYdI1tYYGseGYglhaA3lW_is0dMSdz"
    long.webhook_url = "http://127.0.0.1:18090/rest/1/sandbox0webhook0code/"
    _print_summary(Console(file=out, width=80), long, True)
    lines = out.getvalue().splitlines()
    assert any("Authorization: Bearer j8DYdI1tYYGseGYglhaA3lW_is0dMSdz" in line for line in lines)
    assert any("BRIDGE_B24_WEBHOOK_URL=http://127.0.0.1:18090/rest/1/sandbox0webhook0code/" in line for line in lines)


def test_each_vhost_has_its_own_log_file():
    assert log_path_for("b24bridge-demo").name == "b24bridge-demo.log"  # the default, as documented
    assert log_path_for("test").name == "b24bridge-demo-test.log"  # never another program's /tmp/test.log
    assert log_path_for("team/a b").name == "b24bridge-demo-team_a_b.log"  # a vhost name is not a path
