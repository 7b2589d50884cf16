"""`b24bridge` as people and scripts run it: a real subprocess, stdout a pipe (as under `kubectl exec`
without -t or `| grep`), real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from bridge import db, dlq, topology, wire
from tests import services
from tests.helpers import execute_sql, free_port

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def b24bridge(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("BRIDGE_") and k != "COLUMNS"}
    return subprocess.run([sys.executable, "-m", "bridge.cli", *args], env={**clean, **env},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)


# --------------------------------------------------------------------------------- configuration errors

@pytest.fixture
def busy_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.fixture
def bad_mapping(tmp_path):
    path = tmp_path / "mapping.yaml"
    path.write_text("deals: [this is: not, a mapping\n", encoding="utf-8")
    return path


CASES = {
    "empty token list": (lambda f: (["ingest", "--port", str(free_port())], {"BRIDGE_INGEST_TOKENS": ""}),
                         "BRIDGE_INGEST_TOKENS is empty"),
    "busy port": (lambda f: (["ingest", "--port", str(f["busy_port"])],
                             {"BRIDGE_INGEST_TOKENS": "cli-test-token", "BRIDGE_INGEST_HOST": "127.0.0.1",
                              "BRIDGE_DATABASE_URL": f["db_url"]}),
                  "cannot listen on 127.0.0.1:"),
    "unknown consumer entity": (lambda f: (["consume", "--entity", "invoices"], {}),
                                "unknown consumer(s) invoices"),
    "missing database": (lambda f: (["relay"], {"BRIDGE_DATABASE_URL": services.replace_database(
        f["pg_server"], "no_such_db_" + uuid.uuid4().hex[:8])}), "does not exist"),
    "missing database for migrate": (lambda f: (["migrate"], {"BRIDGE_DATABASE_URL": services.replace_database(
        f["pg_server"], "no_such_db_" + uuid.uuid4().hex[:8])}), "does not exist"),
    "database without the schema": (lambda f: (["dlq", "list"], {"BRIDGE_DATABASE_URL": f["empty_db_url"]}),
                                    "has no bridge schema (no table outbox): run `b24bridge migrate`"),
    "database without the schema for trace": (lambda f: (["trace", "НФ-000001"],
                                                         {"BRIDGE_DATABASE_URL": f["empty_db_url"]}),
                                              "has no bridge schema"),
    "database without the schema for relay": (lambda f: (["relay"], {"BRIDGE_DATABASE_URL": f["empty_db_url"]}),
                                              "has no bridge schema"),
    "database migrated by an older release": (lambda f: (["review", "list"], {"BRIDGE_DATABASE_URL": f["old_db_url"]}),
                                               f"is migrated to revision 0005, this release needs "
                                               f"{db.SCHEMA_REVISION}: run `b24bridge migrate`"),
    "tables under another schema": (lambda f: (["dlq", "list"], {"BRIDGE_DATABASE_URL": f["other_schema_db_url"]}),
                                    "the bridge's tables are in schema elsewhere, which is not on this role's "
                                    "search_path"),
    "bad mapping": (lambda f: (["consume", "--entity", "counterparty"], {"BRIDGE_MAPPING_FILE": str(f["bad_mapping"])}),
                    "not valid YAML"),
    "bad setting": (lambda f: (["relay"], {"BRIDGE_RELAY_BATCH_SIZE": "many"}), "BRIDGE_RELAY_BATCH_SIZE"),
    "unknown log level": (lambda f: (["relay"], {"BRIDGE_LOG_LEVEL": "LOUD"}), "BRIDGE_LOG_LEVEL"),
    # the refused password is no registered secret: the message is not masked into "***er than"
    "short console password": (lambda f: (["console"], {"BRIDGE_CONSOLE_USERS": "anna:short",
                                                       "BRIDGE_DATABASE_URL": f["pg_server"]}),
                               "the password of 'anna' is shorter than 8 characters"),
    "mapping saved as cp1251": (lambda f: (["consume", "--entity", "deal"], {"BRIDGE_MAPPING_FILE": str(f["cp1251_mapping"])}),
                                "not UTF-8 text (byte 26): save it as UTF-8"),
    "database URL of another kind": (lambda f: (["dlq", "list"], {"BRIDGE_DATABASE_URL": "mysql://u:pw-1234@h/db"}),
                                     "BRIDGE_DATABASE_URL: Value error, must be a postgresql:// URL"),
    "broker URL of another kind": (lambda f: (["relay"], {"BRIDGE_AMQP_URL": "rabbit://u:pw-1234@h/"}),
                                   "BRIDGE_AMQP_URL: Value error, must be an amqp:// URL"),
}


@pytest.mark.parametrize("case", CASES)
def test_each_configuration_error_gives_one_line_a_json_log_line_and_exit_2(case, request, pg_server, bad_mapping):
    cp1251 = bad_mapping.with_name("cp1251.yaml")  # a Windows editor's save of a mapping with a Russian comment
    cp1251.write_bytes("deals:\n  category_id: 0 # Продажи\n".encode("cp1251"))
    fixtures = {"pg_server": pg_server, "bad_mapping": bad_mapping, "cp1251_mapping": cp1251}
    if case == "busy port":
        fixtures |= {"busy_port": request.getfixturevalue("busy_port"), "db_url": request.getfixturevalue("db_url")}
    if case.startswith("database without the schema"):
        fixtures |= {"empty_db_url": request.getfixturevalue("empty_db_url")}
    if case == "database migrated by an older release":  # an upgrade whose `b24bridge migrate` did not run
        url = request.getfixturevalue("empty_db_url")
        from bridge import schema

        schema.migrate(url, "0005")
        fixtures |= {"old_db_url": url}
    if case == "tables under another schema":  # migrated by a role whose search_path put them in "elsewhere"
        url = request.getfixturevalue("empty_db_url")
        asyncio.run(execute_sql(url, "CREATE SCHEMA elsewhere; CREATE TABLE elsewhere.outbox (id bigint)"))
        fixtures |= {"other_schema_db_url": url}
    make, expected = CASES[case]
    args, env = make(fixtures)

    done = b24bridge(*args, **env)

    assert done.returncode == 2, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2, done.stderr
    errors = [line for line in lines if line.startswith("Error: ")]
    assert len(errors) == 1 and expected in errors[0], done.stderr
    [logged] = [json.loads(line) for line in lines if line.startswith("{")]
    assert logged["level"] == "error" and logged["action"] == "config.error"
    assert logged["msg"] == errors[0].removeprefix("Error: ")
    assert "pw-1234" not in done.stderr  # a URL's password is never echoed


# --------------------------------------------------------------------------------------- dead letters

async def dead_letter(db_url: str) -> tuple[str, str]:
    """One dead letter of b24.counterparty.dlq in the table, with no event type (its cell must be empty, not
    None), as the sink stores it."""
    event_id, entity_id = str(uuid.uuid4()), str(uuid.uuid4())
    headers = {wire.H_REASON: "b24_rejected", wire.H_ENTITY_ID: entity_id,
               wire.H_ERROR: "crm.company.add: ERROR_CORE: [EMAIL] is not valid"}
    letter = dlq.letter_from_message(topology.TARGETS["counterparty"].dlq, message_id=event_id, event_type=None,
                                     headers=headers, body=b'{"event_id": "x"}', received_at=datetime.now(UTC))
    pool = await db.create_pool(db_url, max_size=1)
    try:
        await dlq.DeadLetterTable(pool).store(letter)
    finally:
        await pool.close()
    return event_id, entity_id


async def test_dlq_list_through_a_pipe_keeps_full_ids_that_dlq_show_accepts(db_url):
    event_id, entity_id = await dead_letter(db_url)

    listed = b24bridge("dlq", "list", "--queue", "counterparty", BRIDGE_DATABASE_URL=db_url)

    assert listed.returncode == 0, listed.stderr
    assert event_id in listed.stdout and entity_id in listed.stdout
    assert "…" not in listed.stdout and "None" not in listed.stdout
    assert "[EMAIL]" in listed.stdout  # the error as written, not eaten as markup
    shown_id = next(i for i in UUID.findall(listed.stdout) if i == event_id)
    shown = b24bridge("dlq", "show", shown_id, BRIDGE_DATABASE_URL=db_url)
    assert shown.returncode == 0 and json.loads(shown.stdout)["entity_id"] == entity_id


async def test_dlq_purge_needs_a_filter_or_all_like_replay(db_url):
    event_id, _ = await dead_letter(db_url)

    refused = b24bridge("dlq", "purge", "--yes", "--reason", "cleanup", BRIDGE_DATABASE_URL=db_url)

    assert refused.returncode == 2 and "--all" in refused.stderr
    assert event_id in b24bridge("dlq", "list", "--json", BRIDGE_DATABASE_URL=db_url).stdout

    purged = b24bridge("dlq", "purge", "--all", "--yes", "--reason", "cleanup", BRIDGE_DATABASE_URL=db_url)

    assert purged.returncode == 0 and "purged 1 dead letter(s)" in purged.stdout
    assert b24bridge("dlq", "list", BRIDGE_DATABASE_URL=db_url).stdout.strip() == "no dead letters"


# --------------------------------------------------------------------------------- review

async def parked_item(db_url: str) -> int:
    """One open review item of a counterparty with two candidate companies, #7 and #8, as a consumer parks it."""
    from bridge.review import ReviewStore
    from tests.contract.samples import event

    envelope = event("counterparty")
    pool = await db.create_pool(db_url, max_size=1)
    try:
        return await ReviewStore(pool).park(
            consumer="counterparty", onec_type="counterparty", onec_id=envelope["entity_id"],
            reason="several_candidates", summary="#7; #8", error="several candidate(s)",
            candidates=[{"id": 7, "step": "requisite", "strong": True}, {"id": 8, "step": "requisite", "strong": True}],
            event=envelope, body=json.dumps(envelope).encode())
    finally:
        await pool.close()


async def test_review_resolve_refuses_to_adopt_a_record_that_is_not_a_candidate(db_url):
    item_id = await parked_item(db_url)

    typo = b24bridge("review", "resolve", str(item_id), "--adopt", "9", BRIDGE_DATABASE_URL=db_url)

    assert typo.returncode == 2, typo.stderr
    assert "#9 is not a candidate" in typo.stderr and "#7, #8" in typo.stderr
    still = b24bridge("review", "list", "--json", BRIDGE_DATABASE_URL=db_url)
    assert json.loads(still.stdout)["state"] == "open"  # nothing decided: the operator can pick again

    picked = b24bridge("review", "resolve", str(item_id), "--adopt", "8", BRIDGE_DATABASE_URL=db_url)

    assert picked.returncode == 0 and "adopt Bitrix24 #8" in picked.stdout, picked.stderr


async def test_review_resolve_adopts_a_record_matching_did_not_find_when_told_so(db_url):
    """The right company may be one no matching step found (its ИНН mistyped in Bitrix24): --any-record adopts
    it; without the override the only way out was --create, a duplicate."""
    item_id = await parked_item(db_url)

    other = b24bridge("review", "resolve", str(item_id), "--adopt", "500", "--any-record", BRIDGE_DATABASE_URL=db_url)

    assert other.returncode == 0 and "adopt Bitrix24 #500" in other.stdout, other.stderr
    pool = await db.create_pool(db_url, max_size=1)
    try:
        assert await pool.fetchval("SELECT target_id FROM review_items WHERE id = $1", item_id) == 500
    finally:
        await pool.close()


def test_reconcile_against_a_portal_it_cannot_reach_exits_2_not_1(db_url):
    """Exit 1 tells a script that Bitrix24 has drifted; a portal that could not be read has not been compared
    at all: one `Error:` line and exit 2, as `portal check` does, never a traceback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed once the block ends: nothing listens there
    done = b24bridge("reconcile", BRIDGE_DATABASE_URL=db_url, BRIDGE_B24_MAX_RETRIES="0",
                     BRIDGE_B24_WEBHOOK_URL=f"http://127.0.0.1:{port}/rest/1/code1234/")
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1 and "the portal failed: " in errors[0] and "code1234" not in done.stderr, done.stderr


@pytest.mark.parametrize("direction", ["--revision", "--downgrade"])
def test_migrate_to_a_revision_that_does_not_exist_names_the_ones_that_do(empty_db_url, direction):
    done = b24bridge("migrate", direction, "nosuch", BRIDGE_DATABASE_URL=empty_db_url)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    [error] = errors
    assert error.startswith("Error: no schema revision 'nosuch': use head, base or one of 0001, 0002, ")
    assert error.endswith(f", {db.SCHEMA_REVISION}"), error


def test_migrate_on_a_database_a_newer_release_migrated_says_so(empty_db_url):
    """An older image's `migrate` against a database at a revision it does not know: Alembic names the
    database's revision, not the one asked for ("head")."""
    from bridge import schema

    schema.migrate(empty_db_url)
    asyncio.run(execute_sql(empty_db_url, "UPDATE alembic_version SET version_num = '0999'"))
    done = b24bridge("migrate", BRIDGE_DATABASE_URL=empty_db_url)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    [error] = [line for line in done.stderr.splitlines() if line.startswith("Error: ")]
    assert error.startswith("Error: the database is at schema revision '0999', which this release does not know")


def test_a_sandbox_on_a_busy_port_says_so_before_it_prints_its_addresses(busy_port):
    """It printed "Webhook URL … Board …" as if it had started, then uvicorn exited 3."""
    done = b24bridge("sandbox", "--port", str(busy_port))
    assert done.returncode == 2 and "Webhook URL" not in done.stdout, done.stdout + done.stderr
    assert f"Error: cannot listen on 127.0.0.1:{busy_port}: Address already in use" in done.stderr
