"""Leases on 1C objects: the per-object serialisation of consumers without a connection held across
Bitrix24 calls.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per 1C object (or shared Bitrix24 key) a consumer is working on: taken in the event's first
    # short transaction, deleted in its last, renewed while the push runs.  A row whose expires_at has
    # passed belongs to a consumer that died: the next one takes it over (links it was pushing are marked in
    # doubt already, entity_links.pushing_since).
    op.execute("""
        CREATE TABLE object_leases (
            key        text        PRIMARY KEY,
            holder     text        NOT NULL,
            expires_at timestamptz NOT NULL
        )
    """)


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS object_leases")
