"""What the console's tests share: a stored dead letter, and a console app on a test database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from bridge import console, dlq, metrics, topology, wire
from bridge.console.auth import Credentials, Signer
from tests.contract.samples import event

USER, PASSWORD = "anna", "correct horse battery"
TOKEN = "console-script-token-0001"


def config(grafana_url: str | None = "https://grafana.example/d/bridge") -> console.ConsoleConfig:
    return console.ConsoleConfig(Credentials.parse([f"{USER}:{PASSWORD}"], [TOKEN]), Signer(), grafana_url)


def app(pool, cfg: console.ConsoleConfig | None = None):
    return console.create_app(cfg or config(), pool, metrics.registry("console"))


async def store_dead_letter(pool, body: dict | None = None, *, reason: str = "b24_rejected",
                            error: str = "ERROR_CORE: Bad e-mail") -> dict:
    """A dead letter of the counterparty consumer, as the sink stores it; returns the event."""
    e = body or event(event_id=str(uuid.uuid4()), entity_id=str(uuid.uuid4()))
    now = datetime.now(UTC)
    letter = dlq.letter_from_message(
        topology.TARGETS["counterparty"].dlq, message_id=e["event_id"], event_type=e["event_type"],
        headers={wire.H_REASON: reason, wire.H_ERROR: error, wire.H_QUEUE: "b24.counterparty",
                 wire.H_ATTEMPT: 2, wire.H_FAILED_AT: now.isoformat(), wire.H_FIRST_FAILED: now.isoformat(),
                 wire.H_ENTITY: "counterparty", wire.H_ENTITY_ID: e["entity_id"]},
        body=json.dumps(e).encode(), received_at=now)
    assert await dlq.DeadLetterTable(pool).store(letter)
    return e
