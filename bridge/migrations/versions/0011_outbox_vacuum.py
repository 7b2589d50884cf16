"""Vacuum the outbox by row count, not by table fraction, so the relay's claim index stays free of dead entries.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# Marking a row published writes a new row version (published_at is in the predicate of the claim index
# outbox_unpublished, so the update is never HOT and fillfactor would not help): the old version's entry in
# the claim index is dead until vacuum removes it, and every claim walks the index from its start.  With
# the default (20 % of the table) a week of retained rows means autovacuum waits for hundreds of thousands of
# dead versions; a fixed threshold vacuums after every ~10,000 published rows, and inserts alone trigger it
# too (which also keeps the visibility map fresh for the backlog query).
SETTINGS = {
    "autovacuum_vacuum_scale_factor": "0",
    "autovacuum_vacuum_threshold": "10000",
    "autovacuum_vacuum_insert_scale_factor": "0",
    "autovacuum_vacuum_insert_threshold": "20000",
    "autovacuum_analyze_scale_factor": "0.02",
    "autovacuum_vacuum_cost_delay": "1",
}


def upgrade() -> None:
    op.execute("ALTER TABLE outbox SET (" + ", ".join(f"{k} = {v}" for k, v in SETTINGS.items()) + ")")


def downgrade() -> None:
    op.execute("ALTER TABLE outbox RESET (" + ", ".join(SETTINGS) + ")")
