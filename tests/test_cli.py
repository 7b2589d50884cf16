"""The `b24bridge` registry: every command module is a command, and `--help` lists them without loading them."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

import bridge.cli
from bridge.cli import main
from bridge.settings import Settings


def test_every_command_module_is_the_command_of_its_name():
    ctx = click.Context(main)
    modules = {m.name for m in pkgutil.iter_modules(bridge.cli.__path__) if not m.name.startswith("_")}
    assert set(main.list_commands(ctx)) == modules
    for name in modules:
        assert main.get_command(ctx, name).name == name
    assert main.get_command(ctx, "no-such-command") is None


def test_help_lists_each_command_with_its_own_summary():
    ctx = click.Context(main)
    shown = CliRunner().invoke(main, ["--help"], terminal_width=100).output
    listed = shown.split("Commands:\n", 1)[1]
    width = max(len(name) for name in main.list_commands(ctx))
    for name in main.list_commands(ctx):
        summary = main.get_command(ctx, name).get_short_help_str(limit=100 - 6 - width)
        assert f"  {name.ljust(width)}  {summary}\n" in listed, (name, summary)


def test_help_imports_no_command_module():
    """`b24bridge --help` stays quick: it reads the summaries instead of importing FastAPI, the client…"""
    probe = ("import sys\nfrom bridge.cli import main\n"
             "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
             "heavy = ('fastapi', 'asyncpg', 'aio_pika', 'httpx', 'alembic', 'b24_sandbox', 'onec_outbox')\n"
             "print(sorted(m for m in sys.modules if m.startswith('bridge.cli.') and m != 'bridge.cli._optional'\n"
             "             or m.split('.')[0] in heavy))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]"  # no command module, none of what they pull in


def test_consume_help_names_the_consumers_it_starts_by_default(monkeypatch):
    monkeypatch.delenv("BRIDGE_CONSUMER_ENTITIES", raising=False)
    shown = " ".join(CliRunner().invoke(main, ["consume", "--help"], terminal_width=200).output.split())
    started = Settings().consumer_entities  # what `consume` without --entity runs
    assert f"which defaults to {', '.join(started)})" in shown


def test_dev_demo_never_migrates_the_configured_database():
    """The demo makes and migrates a database of its own (bridge/demo.py fresh_database) and never touches
    BRIDGE_DATABASE_URL's.  `./dev demo` used to run `b24bridge migrate` on it first: even `./dev demo --help`
    upgraded the configured database, a production one too if that is what BRIDGE_DATABASE_URL named."""
    import re
    from pathlib import Path

    script = (Path(__file__).resolve().parents[1] / "dev").read_text(encoding="utf-8")
    branch = re.search(r"^  demo\)\n(.*?);;", script, re.MULTILINE | re.DOTALL)
    assert branch is not None and "b24bridge\" demo" in branch.group(1)
    assert "migrate" not in branch.group(1)


PORT_OPTIONS = [["ingest", "--port"], ["run", "--port"], ["console", "--port"], ["sandbox", "--port"],
                ["demo", "--ingest-port"], ["demo", "--sandbox-port"]]


@pytest.mark.parametrize("command", PORT_OPTIONS, ids=" ".join)
@pytest.mark.parametrize("port", ["70000", "0", "-1"])
def test_a_port_option_outside_1_to_65535_is_a_usage_error(command, port):
    """`b24bridge ingest --port 70000` ended in a traceback (OverflowError from bind(), exit 1), and
    `--port 0` was silently the default port."""
    done = CliRunner().invoke(main, [*command, port])
    assert done.exit_code == 2, done.output
    assert "1<=x<=65535" in done.output and "Traceback" not in done.output


NUMBER_OPTIONS = [  # (arguments, the value, the range the error names)
    (["dlq", "list", "--limit"], "-5", "1<=x<=100000"), (["trace", "x", "--limit"], "0", "1<=x<=100000"),
    (["review", "list", "--limit"], "-1", "1<=x<=100000"),
    (["review", "show"], "99999999999999999999999", "1<=x<=9223372036854775807"),
    (["review", "resolve", "1", "--any-record", "--adopt"], "0", "1<=x<=9223372036854775807"),
    (["relay", "--batch-size"], "-5", "1<=x<=10000"),
    (["simulate", "--dry-run", "--counterparties"], "99999999999999999999", "1<=x<=100000"),  # (it hung)
    (["demo", "--orders"], "-5", "0<=x<=100000"), (["demo", "--days"], "0", "1<=x<=250"),  # (after a reset)
    (["sandbox", "--rate"], "-5", "x>=0"),
]


@pytest.mark.parametrize("args, value, bounds", NUMBER_OPTIONS, ids=lambda v: " ".join(v) if isinstance(v, list) else v)
def test_a_count_or_id_out_of_its_range_is_a_usage_error_before_any_database_is_asked(args, value, bounds):
    """A negative --limit was PostgreSQL's "LIMIT must not be negative", a 23-digit id asyncpg's
    OverflowError, --adopt 0 a ValueError: tracebacks with exit 1.  (No database is reachable here: the
    usage error comes first.)"""
    done = CliRunner().invoke(main, [*args, value], env={"BRIDGE_DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert done.exit_code == 2, done.output
    assert bounds in done.output and "Traceback" not in done.output


@pytest.mark.parametrize("name", ["BRIDGE_INGEST_PORT", "BRIDGE_RELAY_METRICS_PORT", "BRIDGE_CONSUMER_METRICS_PORT",
                                  "BRIDGE_CONSOLE_PORT", "BRIDGE_RECONCILE_METRICS_PORT"])
def test_a_port_setting_over_65535_is_refused_at_start(monkeypatch, name):
    import pydantic

    monkeypatch.setenv(name, "70000")
    with pytest.raises(pydantic.ValidationError, match=name.removeprefix("BRIDGE_").lower()):
        Settings()


@pytest.mark.parametrize("name", ["BRIDGE_RELAY_METRICS_PORT", "BRIDGE_CONSUMER_METRICS_PORT",
                                  "BRIDGE_RECONCILE_METRICS_PORT"])
def test_a_probe_port_of_0_is_a_free_port_the_system_picks(monkeypatch, name):
    """As the end-to-end tests start relays and consumers side by side."""
    monkeypatch.setenv(name, "0")
    assert getattr(Settings(), name.removeprefix("BRIDGE_").lower()) == 0


@pytest.mark.parametrize("name", ["BRIDGE_INGEST_MAX_BATCH", "BRIDGE_INGEST_MAX_BODY_BYTES"])
def test_an_ingest_limit_below_one_is_refused_at_start(monkeypatch, name):
    """BRIDGE_INGEST_MAX_BATCH=0 started an ingest that answered every request 413."""
    import pydantic

    monkeypatch.setenv(name, "0")
    with pytest.raises(pydantic.ValidationError):
        Settings()


def test_simulate_with_conflicting_token_entries_is_one_error_line_not_a_traceback(monkeypatch):
    monkeypatch.setenv("BRIDGE_INGEST_TOKENS", "tok@ut-a,tok@ut-b")
    result = CliRunner().invoke(main, ["simulate", "--url", "http://127.0.0.1:9/v1/events"])
    assert result.exit_code == 2, result.output
    assert "entries 1 and 2 of BRIDGE_INGEST_TOKENS" in result.output and "Traceback" not in result.output


def test_portal_setup_refuses_a_write_it_cannot_make_before_it_changes_the_portal(tmp_path):
    """`portal setup --write` into a directory that does not exist made the stages and fields, then could not
    save the mapping naming them: now it stops first (the portal here is unreachable: it is never asked)."""
    done = CliRunner().invoke(main, ["portal", "setup", "--write", str(tmp_path / "no" / "such" / "m.yaml")],
                              env={"BRIDGE_B24_WEBHOOK_URL": "http://127.0.0.1:1/rest/1/code1234/"})
    assert done.exit_code == 2, done.output
    assert "no such directory" in done.output and "nothing was changed" in done.output


def test_an_empty_mapping_file_setting_means_the_embedded_default(monkeypatch):
    """A Helm value left empty sets BRIDGE_MAPPING_FILE="": that is the default mapping, not the current
    directory read as a file ("Is a directory")."""
    monkeypatch.setenv("BRIDGE_MAPPING_FILE", "  ")
    assert Settings().mapping_file is None


@pytest.mark.parametrize("given, level", [("warn", "WARNING"), ("FATAL", "CRITICAL"), (" debug ", "DEBUG")])
def test_a_log_level_is_read_as_logging_reads_it(monkeypatch, given, level):
    """WARN and FATAL are what `logging` itself accepts: a deployment that set them keeps starting."""
    monkeypatch.setenv("BRIDGE_LOG_LEVEL", given)
    assert Settings().log_level == level


def test_a_database_url_of_several_hosts_is_accepted(monkeypatch):
    """asyncpg connects to the first of several hosts that answers (a primary and its standby)."""
    monkeypatch.setenv("BRIDGE_DATABASE_URL", "postgresql://u:p@h1:5432,h2:5432/db?target_session_attrs=read-write")
    assert Settings().database_url.get_secret_value().startswith("postgresql://u:p@h1:5432,h2:5432/")


@pytest.mark.parametrize("args, says", [
    (["simulate", "--url", "not a url"], "must be an http:// or https:// URL with a host"),  # (retried for ever)
    (["sandbox", "--webhook-code", " "], "must not be empty"),  # (a webhook URL ending in //)
])
def test_a_url_or_code_that_cannot_work_is_a_usage_error(args, says):
    done = CliRunner().invoke(main, args)
    assert done.exit_code == 2 and says in done.output, done.output


def test_the_consoles_grafana_link_is_an_http_address_or_refused(monkeypatch):
    """The console renders it as a link: a javascript: URL would run in every operator's page."""
    monkeypatch.setenv("BRIDGE_CONSOLE_GRAFANA_URL", "javascript:alert(1)")
    with pytest.raises(ValueError, match="must be an http:// or https:// address"):
        Settings()
    monkeypatch.setenv("BRIDGE_CONSOLE_GRAFANA_URL", " https://grafana.example/d/bridge ")
    assert Settings().console_grafana_url == "https://grafana.example/d/bridge"


def test_portal_check_json_prints_its_document_when_the_portal_cannot_be_asked():
    """`--json` promises one JSON document on stdout: an unreachable portal is one too (exit 2)."""
    import json

    done = CliRunner().invoke(main, ["portal", "check", "--json"],
                              env={"BRIDGE_B24_WEBHOOK_URL": "http://127.0.0.1:1/rest/1/code1234/",
                                   "BRIDGE_B24_MAX_RETRIES": "0"})
    assert done.exit_code == 2, done.output
    document = json.loads(done.stdout)
    assert document["ok"] is False and document["checked"] is False and "cannot ask the portal" in document["error"]
    assert "code1234" not in done.output


def test_a_listening_component_says_where_and_an_unknown_host_is_named(caplog):
    """An operator reading the logs of `ingest`, `run` or a component's /metrics port learns where it
    listens; a host this machine has no address for is named as such, not blamed on a busy port."""
    import logging

    from bridge import ops_http
    from bridge.errors import ConfigError

    caplog.set_level(logging.INFO, logger="bridge.ops_http")
    sock = ops_http.listen("127.0.0.1", 0)
    port = sock.getsockname()[1]
    sock.close()
    assert [r.getMessage() for r in caplog.records] == [f"listening on 127.0.0.1:{port}"]
    with pytest.raises(ConfigError, match=r"no address 'no\.such\.host\.invalid' on this machine"):
        ops_http.listen("no.such.host.invalid", 18123)
