"""Dead letters in PostgreSQL: the sink moves them out of RabbitMQ exactly once, the ``dlq`` commands read
the table only, and replay/purge mark rows (real PostgreSQL and RabbitMQ; the handler is a test double of
our own Handler protocol)."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime

import aio_pika
import pytest
from click.testing import CliRunner

from bridge import schema, topology, wire
from bridge.broker import connector
from bridge.cli import main
from bridge.consumer import Consumer, ConsumerConfig, Outcome
from bridge.dlq import DeadLetterTable, Selector
from bridge.dlq_sink import DeadLetterSink
from tests.contract.samples import event
from tests.helpers import wait_for

TARGET = topology.Target("counterparty", (("counterparty", "counterparty.upserted"),), retry_delays=(1, 1))


class AlwaysFailing:
    """A handler whose every attempt raises an unexpected error: the event walks the retry tiers to the DLQ."""

    name = "counterparty"
    target = TARGET
    event_types = frozenset({"counterparty.upserted"})

    def __init__(self) -> None:
        self.calls = 0

    async def handle(self, event_obj) -> Outcome:
        self.calls += 1
        raise RuntimeError(f"boom #{self.calls}")


async def publish(amqp_url: str, body: bytes, *, message_id: str | None, routing_key: str = "counterparty.upserted",
                  exchange: str = "onec.counterparty", headers: dict | None = None,
                  event_type: str = "counterparty.upserted") -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await topology.declare(channel, [TARGET])
        target = channel.default_exchange if exchange == "" else await channel.get_exchange(exchange)
        await target.publish(aio_pika.Message(body, message_id=message_id, type=event_type, delivery_mode=2,
                                              headers=headers or {}), routing_key=routing_key, mandatory=True)


async def dead_lettered(amqp_url: str, reason: str = "b24_rejected") -> tuple[str, bytes]:
    """Put a message into the DLQ the way the consumer does (x-bridge-* headers, via b24.dlx)."""
    e = event(event_id=str(uuid.uuid4()))
    body = json.dumps(e).encode()
    now = datetime.now(UTC).isoformat()
    await publish(amqp_url, body, message_id=e["event_id"], exchange=topology.DLX, routing_key=TARGET.dlq,
                  headers={wire.H_REASON: reason, wire.H_ERROR: "ERROR_CORE: bad e-mail", wire.H_QUEUE: TARGET.queue,
                           wire.H_FAILED_AT: now, wire.H_ENTITY: "counterparty", wire.H_ENTITY_ID: e["entity_id"],
                           wire.H_SOURCE: e["source"], wire.H_VERSION: e["version"]})
    return e["event_id"], body


async def queue_depth(amqp_url: str, name: str) -> int:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        return (await channel.declare_queue(name, passive=True)).declaration_result.message_count


async def rows(pool) -> list[dict]:
    return [dict(r) for r in await pool.fetch("SELECT * FROM dead_letters ORDER BY id")]


async def run(sink_or_consumer) -> tuple[asyncio.Event, asyncio.Task]:
    stop = asyncio.Event()
    return stop, asyncio.create_task(sink_or_consumer.run(stop))


async def settle(*running: tuple[asyncio.Event, asyncio.Task]) -> None:
    for stop, task in running:
        stop.set()
    for _, task in running:
        await asyncio.wait_for(task, 30)


async def test_a_dead_lettered_event_lands_in_the_table_with_reason_attempts_and_times(db_pool, amqp_url):
    handler = AlwaysFailing()
    e = event(event_id=str(uuid.uuid4()))
    await publish(amqp_url, json.dumps(e).encode(), message_id=e["event_id"])
    consumer = await run(Consumer(handler, connector(amqp_url), ConsumerConfig(prefetch=4)))
    sink = await run(DeadLetterSink(db_pool, connector(amqp_url), [TARGET]))
    stored = await wait_for(lambda: rows(db_pool), timeout=30)
    await settle(consumer, sink)

    assert len(stored) == 1
    row = stored[0]
    assert (row["queue"], row["consumer"], row["event_id"], row["reason"]) == \
        (TARGET.dlq, "counterparty", e["event_id"], "retries_exhausted")
    assert row["attempts"] == handler.calls == 3  # the first try and two retry tiers
    assert row["first_failed_at"] < row["last_failed_at"]  # a retry tier (1 s) lies between them
    assert "boom #3" in row["error"]
    assert (row["exchange"], row["routing_key"]) == ("onec.counterparty", "counterparty.upserted")
    assert (row["source"], row["entity_id"], row["version"]) == (e["source"], e["entity_id"], e["version"])
    assert json.loads(row["body"]) == e and row["headers"][wire.H_QUEUE] == TARGET.queue
    assert await queue_depth(amqp_url, TARGET.dlq) == 0  # RabbitMQ only carried it to the sink


async def test_an_unrouted_event_is_kept_with_reason_unrouted(db_pool, amqp_url):
    e = {**event(event_id=str(uuid.uuid4())), "event_type": "counterparty.merged"}  # no queue is bound for it
    await publish(amqp_url, json.dumps(e).encode(), message_id=e["event_id"], routing_key="counterparty.merged",
                  event_type="counterparty.merged", headers={wire.H_ENTITY: "counterparty", wire.H_ENTITY_ID: e["entity_id"]})
    sink = await run(DeadLetterSink(db_pool, connector(amqp_url), [TARGET]))
    stored = await wait_for(lambda: rows(db_pool))
    await settle(sink)
    assert [(r["queue"], r["reason"], r["consumer"], r["attempts"]) for r in stored] == \
        [(topology.UNROUTED, "unrouted", None, 0)]
    assert (stored[0]["exchange"], stored[0]["routing_key"]) == ("onec.counterparty", "counterparty.merged")
    assert await queue_depth(amqp_url, topology.UNROUTED) == 0


class CrashingBeforeAck(DeadLetterSink):
    """Dies (for this message) right after its row committed, before the ack: the worst moment."""

    async def _store(self, letter) -> bool:
        await super()._store(letter)
        raise RuntimeError("sink killed between commit and ack")


async def test_a_sink_crash_between_insert_and_ack_makes_no_second_row(db_pool, amqp_url):
    event_id, _ = await dead_lettered(amqp_url)
    crashing = CrashingBeforeAck(db_pool, connector(amqp_url), [TARGET])
    first = await run(crashing)
    assert await wait_for(lambda: rows(db_pool))
    await settle(first)  # its channel closes: the unacked message goes back to the DLQ (a quorum queue takes
    assert await wait_for(lambda: _is(queue_depth(amqp_url, TARGET.dlq), 1))  # it back a moment later)

    sink = DeadLetterSink(db_pool, connector(amqp_url), [TARGET])
    second = await run(sink)
    assert await wait_for(lambda: _is(queue_depth(amqp_url, TARGET.dlq), 0))
    await settle(second)
    assert [r["event_id"] for r in await rows(db_pool)] == [event_id]
    assert sink.stored == 0  # the redelivery met its row and was only acked


async def _is(depth, expected: int) -> bool:
    return await depth == expected


async def test_the_same_event_failing_again_after_a_replay_is_a_new_row(db_pool, amqp_url):
    """Unique per (queue, event_id, replays): a redelivery is not a new dead letter, a new failure is."""
    e = event(event_id=str(uuid.uuid4()))
    for replays in (0, 0, 1):
        await publish(amqp_url, json.dumps(e).encode(), message_id=e["event_id"], exchange=topology.DLX,
                      routing_key=TARGET.dlq, headers={wire.H_REASON: "b24_rejected", wire.H_REPLAYED: replays})
    sink = await run(DeadLetterSink(db_pool, connector(amqp_url), [TARGET]))
    assert await wait_for(lambda: _is(queue_depth(amqp_url, TARGET.dlq), 0))
    await settle(sink)
    assert [r["replays"] for r in await rows(db_pool)] == [0, 1]


def cli(db_url: str, *args: str):
    """``b24bridge`` with RabbitMQ unreachable: the dlq commands must not need it."""
    return CliRunner().invoke(main, list(args), env={"BRIDGE_DATABASE_URL": db_url,
                                                     "BRIDGE_AMQP_URL": "amqp://nobody:nothing@127.0.0.1:1/"})


async def test_reading_dead_letters_ten_times_changes_nothing_in_the_broker_or_the_table(db_url, db_pool, amqp_url):
    stored_id, _ = await dead_lettered(amqp_url)
    sink = await run(DeadLetterSink(db_pool, connector(amqp_url), [TARGET]))
    assert await wait_for(lambda: rows(db_pool))
    await settle(sink)
    waiting_id, _ = await dead_lettered(amqp_url)  # no sink now: this one stays in the broker
    before = await rows(db_pool)

    for _ in range(10):
        for args in (["dlq", "list"], ["dlq", "list", "--json", "--state", "all"], ["dlq", "show", stored_id],
                     ["dlq", "count"], ["dlq", "export", "--queue", "counterparty"]):
            result = await asyncio.to_thread(cli, db_url, *args)
            assert result.exit_code == 0, result.output

    assert await rows(db_pool) == before
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        dlq = await channel.declare_queue(TARGET.dlq, passive=True)
        assert dlq.declaration_result.message_count == 1
        message = await dlq.get(no_ack=True)
        assert message.message_id == waiting_id
        assert not message.redelivered  # nobody fetched it in the meantime
        assert (message.headers or {}).get("x-delivery-count", 0) == 0
    listed = [json.loads(line) for line in (await asyncio.to_thread(cli, db_url, "dlq", "list", "--json")).output.splitlines()]
    assert [(x["event_id"], x["reason"], x["state"]) for x in listed] == [(stored_id, "b24_rejected", "open")]


async def _stored(db_pool, amqp_url, n: int = 2) -> list[str]:
    ids = [(await dead_lettered(amqp_url, reason))[0] for reason in ("b24_rejected", "b24_access_denied")[:n]]
    sink = await run(DeadLetterSink(db_pool, connector(amqp_url), [TARGET]))
    assert await wait_for(lambda: _has(rows(db_pool), n))
    await settle(sink)
    return ids


async def _has(found, n: int) -> bool:
    return len(await found) >= n


async def test_headers_are_stored_as_an_object_that_show_export_and_sql_read_by_key(db_url, db_pool, amqp_url):
    """They were stored as a JSON string of JSON: `dlq show`/`export` and the console printed one long string,
    and `headers->>'x-bridge-reason'` in SQL found nothing."""
    (event_id,) = await _stored(db_pool, amqp_url, 1)
    assert await db_pool.fetchval("SELECT headers->>'x-bridge-reason' FROM dead_letters") == "b24_rejected"
    shown = await asyncio.to_thread(cli, db_url, "dlq", "show", event_id)
    assert json.loads(shown.output)["headers"][wire.H_REASON] == "b24_rejected"
    exported = await asyncio.to_thread(cli, db_url, "dlq", "export")
    (line,) = [line for line in exported.output.splitlines() if line.startswith("{")]
    assert json.loads(line)["headers"][wire.H_ERROR] == "ERROR_CORE: bad e-mail"


async def test_a_row_stored_with_headers_as_a_json_string_still_shows_them_as_an_object(db_url, db_pool, amqp_url):
    (event_id,) = await _stored(db_pool, amqp_url, 1)
    await db_pool.execute("UPDATE dead_letters SET headers = to_jsonb(headers::text)")  # as older versions wrote
    shown = await asyncio.to_thread(cli, db_url, "dlq", "show", event_id)
    assert json.loads(shown.output)["headers"][wire.H_REASON] == "b24_rejected"
    # and migration 0013 turns such rows into objects, so SQL reads them by key too
    await asyncio.to_thread(schema.downgrade, db_url, "0012")
    await asyncio.to_thread(schema.migrate, db_url)
    assert await db_pool.fetchval("SELECT headers->>'x-bridge-reason' FROM dead_letters") == "b24_rejected"


async def test_reading_commands_take_the_failure_reason_filter_under_both_names(db_url, db_pool, amqp_url):
    rejected, denied = await _stored(db_pool, amqp_url)

    for name in ("--reason", "--failure-reason"):  # a filter copied from replay/purge works on list and export
        listed = await asyncio.to_thread(cli, db_url, "dlq", "list", "--json", name, "b24_access_denied")
        assert listed.exit_code == 0, listed.output
        assert [json.loads(line)["event_id"] for line in listed.output.splitlines()] == [denied]
        exported = await asyncio.to_thread(cli, db_url, "dlq", "export", name, "b24_rejected")
        assert exported.exit_code == 0, exported.output
        assert [json.loads(line)["event_id"] for line in exported.output.splitlines()
                if line.startswith("{")] == [rejected]


async def test_purge_needs_a_filter_or_all_and_marks_rows_with_who_when_and_why(db_url, db_pool, amqp_url):
    rejected, denied = await _stored(db_pool, amqp_url)

    refused = await asyncio.to_thread(cli, db_url, "dlq", "purge", "--reason", "cleanup", "--yes")
    assert refused.exit_code == 2 and "--all" in refused.output
    assert all(r["purged_at"] is None for r in await rows(db_pool))

    done = await asyncio.to_thread(cli, db_url, "dlq", "purge", "--failure-reason", "b24_rejected",
                                   "--reason", "TICKET-7 bad test data", "--by", "anna", "--yes")
    assert done.exit_code == 0 and "purged 1" in done.output
    by_event = {r["event_id"]: r for r in await rows(db_pool)}
    assert (by_event[rejected]["purged_by"], by_event[rejected]["purge_reason"]) == ("anna", "TICKET-7 bad test data")
    assert by_event[rejected]["purged_at"] is not None and by_event[denied]["purged_at"] is None
    assert len(by_event) == 2  # marked, not deleted

    everything = await asyncio.to_thread(cli, db_url, "dlq", "purge", "--all", "--reason", "cleanup", "--yes")
    assert "purged 1" in everything.output  # only the one still open
    listed = await asyncio.to_thread(cli, db_url, "dlq", "list", "--json")
    assert listed.output == ""


async def test_replay_needs_a_reason_and_a_filter_and_marks_the_row_once(db_url, db_pool, amqp_url):
    (event_id,) = await _stored(db_pool, amqp_url, 1)
    no_reason = await asyncio.to_thread(cli, db_url, "dlq", "replay", "--event-id", event_id)
    assert no_reason.exit_code == 2 and "--reason" in no_reason.output
    no_filter = await asyncio.to_thread(cli, db_url, "dlq", "replay", "--reason", "fixed")
    assert no_filter.exit_code == 2
    for blank in (["--reason", "  "], ["--reason", "fixed", "--by", ""]):  # a record that says nothing
        refused = await asyncio.to_thread(cli, db_url, "dlq", "replay", "--event-id", event_id, *blank)
        assert refused.exit_code == 2 and "must not be empty" in refused.output, refused.output

    first = await asyncio.to_thread(cli, db_url, "dlq", "replay", "--event-id", event_id, "--reason", "e-mail fixed",
                                    "--by", "ops")
    second = await asyncio.to_thread(cli, db_url, "dlq", "replay", "--event-id", event_id, "--reason", "again")
    assert "replayed 1 dead letter" in first.output and "replayed 0 dead letter" in second.output
    (row,) = await rows(db_pool)
    assert (row["replayed_by"], row["replay_reason"]) == ("ops", "e-mail fixed")
    outbox = await db_pool.fetch("SELECT published_at, replays, jsonb_typeof(body) AS kind, body->>'event_id' AS id "
                                 "FROM outbox WHERE event_id = $1::uuid", event_id)
    assert [(r["published_at"], r["replays"]) for r in outbox] == [(None, 1)]  # queued once, for the relay
    # the event as an object, as the ingest stores it (the pool's jsonb codec once stored the text as a string)
    assert [(r["kind"], r["id"]) for r in outbox] == [("object", event_id)]


async def test_a_body_that_is_not_an_event_cannot_be_replayed_only_purged(db_url, db_pool, amqp_url):
    await publish(amqp_url, b"not json", message_id="poison-1", exchange=topology.DLX, routing_key=TARGET.dlq,
                  headers={wire.H_REASON: "unparseable"})
    sink = await run(DeadLetterSink(db_pool, connector(amqp_url), [TARGET]))
    assert await wait_for(lambda: rows(db_pool))
    await settle(sink)
    dry = await asyncio.to_thread(CliRunner().invoke, main, ["dlq", "replay", "--event-id", "poison-1", "--reason",
                                                              "try", "--dry-run"], env={"BRIDGE_DATABASE_URL": db_url})
    assert "would replay" not in dry.output and "cannot replay poison-1" in dry.output, dry.output  # as the run says
    result = await DeadLetterTable(db_pool).replay(Selector(event_ids=frozenset({"poison-1"})), by="t", why="try")
    assert result.done == [] and "not JSON" in result.refused[0][1]
    assert (await rows(db_pool))[0]["replayed_at"] is None
    assert await db_pool.fetchval("SELECT count(*) FROM outbox") == 0


@pytest.mark.parametrize("queue", ["nonsense", "b24.nothing.dlq"])
def test_an_unknown_queue_is_refused_by_name(db_url, queue):
    result = cli(db_url, "dlq", "list", "--queue", queue)
    assert result.exit_code == 2 and "not a dead-letter queue" in result.output


async def test_the_dead_letter_queues_carry_an_explicit_delivery_limit(rabbit, amqp_url):
    """RabbitMQ 4.x gives quorum queues a default limit of 20 that would drop dead letters; ours is explicit."""
    import httpx
    from urllib.parse import quote, urlsplit

    await publish(amqp_url, b"{}", message_id="x", exchange=topology.DLX, routing_key=TARGET.dlq)  # declares
    vhost = quote(urlsplit(amqp_url).path.lstrip("/"), safe="")
    async with httpx.AsyncClient(timeout=10) as api:
        for name in (TARGET.dlq, topology.UNROUTED):
            queue = (await api.get(f"{rabbit.api_url}/queues/{vhost}/{quote(name, safe='')}")).json()
            assert queue["arguments"]["x-delivery-limit"] == topology.DEAD_LETTER_DELIVERY_LIMIT, name


async def test_a_dlq_declared_by_an_older_version_is_a_configuration_error_naming_the_fix(amqp_url):
    from bridge.errors import ConfigError

    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel()
        await channel.declare_queue(TARGET.dlq, durable=True, arguments={"x-queue-type": "quorum"})  # as before
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        with pytest.raises(ConfigError, match="Changing queue arguments"):
            await topology.declare(await connection.channel(), [TARGET])


async def test_a_message_the_queue_dead_lettered_for_its_delivery_limit_is_stored_and_counted(db_pool, amqp_url):
    """Such a letter is not counted by a consumer; the sink counts it where BridgeDeadLettersGrowing looks."""
    from bridge import metrics

    fragile = topology.Target("counterparty", TARGET.sources, delivery_limit=1)
    e = event(event_id=str(uuid.uuid4()))
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        await topology.declare(channel, [fragile])
        exchange = await channel.get_exchange("onec.counterparty")
        await exchange.publish(aio_pika.Message(json.dumps(e).encode(), message_id=e["event_id"],
                                                type="counterparty.upserted"), routing_key="counterparty.upserted")
        queue = await channel.get_queue(fragile.queue)
        for _ in range(5):  # a consumer that keeps dying with the message in hand
            message = await queue.get(no_ack=False, fail=False)
            if message is None:
                break
            await message.nack(requeue=True)
    counted = metrics.DEAD_LETTERS.labels("counterparty", "delivery_limit")._value.get()
    sink = await run(DeadLetterSink(db_pool, connector(amqp_url), [fragile]))
    stored = await wait_for(lambda: rows(db_pool))
    await settle(sink)
    assert [(r["event_id"], r["reason"], r["consumer"]) for r in stored] == \
        [(e["event_id"], "delivery_limit", "counterparty")]
    assert stored[0]["last_failed_at"] is not None and stored[0]["exchange"] == "onec.counterparty"
    assert metrics.DEAD_LETTERS.labels("counterparty", "delivery_limit")._value.get() == counted + 1


def test_export_makes_its_file_even_when_nothing_matches_and_refuses_a_path_it_cannot_write(db_url, tmp_path):
    """`dlq export -o FILE` is how an operator keeps a copy: no file at all for an empty export looked like a
    failure, and a path in a missing directory said "exported 0" with exit 0."""
    empty = tmp_path / "none.jsonl"
    done = cli(db_url, "dlq", "export", "--event-id", "nothing-like-this", "-o", str(empty))
    assert done.exit_code == 0 and empty.exists() and empty.read_text() == "", done.output
    refused = cli(db_url, "dlq", "export", "-o", str(tmp_path / "no" / "such" / "x.jsonl"))
    assert refused.exit_code == 2 and "exported" not in refused.output, refused.output


def test_an_export_that_cannot_read_the_table_leaves_an_earlier_export_alone(tmp_path):
    kept = tmp_path / "yesterday.jsonl"
    kept.write_text('{"event_id": "kept"}\n', encoding="utf-8")
    done = cli("postgresql://nobody@127.0.0.1:1/none", "dlq", "export", "-o", str(kept))
    assert done.exit_code != 0 and kept.read_text(encoding="utf-8") == '{"event_id": "kept"}\n', done.output
