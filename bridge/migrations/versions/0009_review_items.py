"""The review list: events parked because Bitrix24 already holds records that may be their 1C object.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per parked 1C object (source, onec_type, onec_id) while it is open: a newer event of the same
    # object replaces the stored envelope (the newest version wins).  The operator's decision stays on the
    # row once resolved: the handler reads it when the event comes back (adopt target_id, or create).
    op.execute("""
        CREATE TABLE review_items (
            id            bigserial   PRIMARY KEY,
            consumer      text        NOT NULL,
            source        text        NOT NULL,
            onec_type     text        NOT NULL,
            onec_id       text        NOT NULL,
            entity        text,
            entity_id     text,
            event_id      uuid        NOT NULL,
            event_type    text,
            version       bigint,
            reason        text        NOT NULL,
            summary       text,
            error         text,
            candidates    jsonb       NOT NULL DEFAULT '[]',
            envelope      jsonb       NOT NULL,
            parked_at     timestamptz NOT NULL DEFAULT now(),
            updated_at    timestamptz NOT NULL DEFAULT now(),
            times_parked  int         NOT NULL DEFAULT 1,
            resolved_at   timestamptz,
            resolved_by   text,
            decision      text        CHECK (decision IN ('adopt', 'create')),
            target_id     bigint,
            note          text,
            CHECK ((resolved_at IS NULL) = (decision IS NULL)),
            CHECK (decision IS DISTINCT FROM 'adopt' OR target_id IS NOT NULL)
        )""")
    op.execute("CREATE UNIQUE INDEX review_items_open ON review_items (source, onec_type, onec_id) "
               "WHERE resolved_at IS NULL")
    op.execute("CREATE INDEX review_items_object ON review_items (source, onec_type, onec_id, id)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS review_items")
