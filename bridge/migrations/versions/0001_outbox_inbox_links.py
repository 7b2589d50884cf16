"""Outbox, consumer inbox and entity links: the tables the walking skeleton needs.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Every accepted 1C event, in arrival order.  `body` is the validated event as JSON; the columns
    # beside it are copies for indexing and operations.  The relay publishes rows where published_at
    # IS NULL in id order; the partial index keeps that scan small however large the table grows.
    op.execute(
        """
        CREATE TABLE outbox (
            id           bigserial   PRIMARY KEY,
            event_id     uuid        NOT NULL,
            event_type   text        NOT NULL,
            entity       text        NOT NULL,
            source       text        NOT NULL,
            entity_id    uuid        NOT NULL,
            version      bigint      NOT NULL,
            occurred_at  timestamptz NOT NULL,
            body         jsonb       NOT NULL,
            received_at  timestamptz NOT NULL DEFAULT now(),
            published_at timestamptz,
            CONSTRAINT outbox_event_id_key UNIQUE (event_id)
        )
        """
    )
    op.execute("CREATE INDEX outbox_unpublished ON outbox (id) WHERE published_at IS NULL")
    op.execute("CREATE INDEX outbox_entity ON outbox (source, entity, entity_id)")

    # Which events each consumer has applied: written in the same transaction as the effect.
    op.execute(
        """
        CREATE TABLE inbox (
            consumer     text        NOT NULL,
            event_id     uuid        NOT NULL,
            processed_at timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (consumer, event_id)
        )
        """
    )
    op.execute("CREATE INDEX inbox_processed_at ON inbox (processed_at)")

    # 1C object ↔ Bitrix24 object, with the last version applied and what was last pushed, so that the
    # bridge sends only differences and never re-creates what it already made.
    op.execute(
        """
        CREATE TABLE entity_links (
            source       text        NOT NULL,
            onec_type    text        NOT NULL,
            onec_id      text        NOT NULL,
            b24_type     text        NOT NULL,
            b24_id       bigint      NOT NULL,
            version      bigint      NOT NULL DEFAULT -1,
            state_hash   text,
            pushed_state jsonb,
            updated_at   timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (source, onec_type, onec_id, b24_type)
        )
        """
    )
    op.execute("CREATE INDEX entity_links_b24 ON entity_links (b24_type, b24_id)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS entity_links")
    op.execute("DROP TABLE IF EXISTS inbox")
    op.execute("DROP TABLE IF EXISTS outbox")
