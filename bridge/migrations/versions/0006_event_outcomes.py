"""What each consumer did with each event, and the Bitrix24 calls it made: the trace's memory.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per consumer decision about a delivered event (applied, unchanged, stale, duplicate, waiting,
    # retry, dead_lettered, paused, held, parked), written by the consumer after it obeyed the decision.  The
    # entity columns come from the message headers, so an event can be traced after its outbox row was
    # purged.  `calls` are the Bitrix24 calls of that attempt ([{method, ids, code, ms}], no payload, no
    # secret).  Purged by the relay after BRIDGE_TRACE_RETENTION_DAYS.
    op.execute(
        """
        CREATE TABLE event_outcomes (
            id            bigserial   PRIMARY KEY,
            event_id      uuid        NOT NULL,
            consumer      text        NOT NULL,
            outcome       text        NOT NULL,
            at            timestamptz NOT NULL DEFAULT now(),
            entity        text,
            entity_id     uuid,
            reason        text,
            error         text,
            retry_tier    int,
            missing       text[],
            waiting_since timestamptz,
            calls         jsonb       NOT NULL DEFAULT '[]'
        )
        """
    )
    op.execute("CREATE INDEX event_outcomes_event ON event_outcomes (event_id, id)")
    op.execute("CREATE INDEX event_outcomes_entity ON event_outcomes (entity_id, id)")
    op.execute("CREATE INDEX event_outcomes_at ON event_outcomes (at)")
    # `trace ТД000004914`: a document's number is in its event payload and in the order projection.
    op.execute("CREATE INDEX outbox_document_number ON outbox ((body->'payload'->>'number')) "
               "WHERE entity IN ('customer_order', 'invoice', 'payment', 'shipment')")
    op.execute("CREATE INDEX order_documents_number ON order_documents ((snapshot->>'number'))")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS order_documents_number")
    op.execute("DROP INDEX IF EXISTS outbox_document_number")
    op.execute("DROP TABLE IF EXISTS event_outcomes")
