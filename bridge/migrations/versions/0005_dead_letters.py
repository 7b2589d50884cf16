"""Dead letters kept in PostgreSQL, and the outbox learns how often an event was replayed.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every message the dead-letter sink took off b24.<target>.dlq or onec.unrouted: what failed, why, and
    # the message itself.  Reading (`b24bridge dlq list/show/export/count`) reads only this table; replay
    # and purge mark a row (who, when, why) instead of deleting it.  One row per (queue, event_id, replays):
    # a message the broker delivers twice (the sink crashed between commit and ack) finds its row, while
    # the same event failing again after a replay (x-bridge-replayed one higher) is a new row.
    op.execute(
        """
        CREATE TABLE dead_letters (
            id              bigserial   PRIMARY KEY,
            queue           text        NOT NULL,
            consumer        text,
            event_id        text        NOT NULL,
            replays         integer     NOT NULL DEFAULT 0,
            event_type      text,
            source          text,
            entity          text,
            entity_id       text,
            version         bigint,
            reason          text        NOT NULL,
            error           text,
            attempts        integer     NOT NULL DEFAULT 0,
            first_failed_at timestamptz,
            last_failed_at  timestamptz,
            exchange        text,
            routing_key     text,
            headers         jsonb       NOT NULL DEFAULT '{}'::jsonb,
            body            bytea       NOT NULL,
            stored_at       timestamptz NOT NULL DEFAULT now(),
            replayed_at     timestamptz,
            replayed_by     text,
            replay_reason   text,
            purged_at       timestamptz,
            purged_by       text,
            purge_reason    text,
            CONSTRAINT dead_letters_message_key UNIQUE (queue, event_id, replays)
        )
        """
    )
    op.execute("CREATE INDEX dead_letters_open ON dead_letters (queue, reason) "
               "WHERE replayed_at IS NULL AND purged_at IS NULL")
    op.execute("CREATE INDEX dead_letters_entity ON dead_letters (entity_id)")
    op.execute("CREATE INDEX dead_letters_event ON dead_letters (event_id)")
    # A replayed event goes out through the outbox again; the relay puts this count into the message's
    # x-bridge-replayed header, so a failure after the replay is told apart from the one replayed.
    op.execute("ALTER TABLE outbox ADD COLUMN replays integer NOT NULL DEFAULT 0")


def downgrade() -> None:
    op.execute("ALTER TABLE outbox DROP COLUMN IF EXISTS replays")
    op.execute("DROP TABLE IF EXISTS dead_letters")
