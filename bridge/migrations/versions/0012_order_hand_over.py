"""An order's documents hand their recompute to the push holding the order's lease instead of waiting for it.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A document whose order is being pushed by another consumer (or another task) leaves its merged facts
    # (its order_resync row) to that push: handed_over tells the lease's holder, when it gives the lease
    # back, that it must recompute the order once more.
    op.execute("ALTER TABLE object_leases ADD COLUMN handed_over boolean NOT NULL DEFAULT false")
    # written_at: when the row was last written, so a row nobody settled (its holder died after a hand-over,
    # or failed) is found and recomputed by the deal consumers' sweep; event_ids / received_at: the events
    # that wrote it and when the ingest accepted the first, so the push that settles the row — maybe another
    # consumer's — records those events applied (their inbox rows) and measures their latency.
    op.execute("""
        ALTER TABLE order_resync
            ADD COLUMN written_at  timestamptz NOT NULL DEFAULT now(),
            ADD COLUMN event_ids   uuid[]      NOT NULL DEFAULT '{}',
            ADD COLUMN received_at timestamptz
    """)
    op.execute("CREATE INDEX order_resync_written ON order_resync (written_at)")


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS order_resync_written")
    op.execute("""
        ALTER TABLE order_resync
            DROP COLUMN IF EXISTS received_at,
            DROP COLUMN IF EXISTS event_ids,
            DROP COLUMN IF EXISTS written_at
    """)
    op.execute("ALTER TABLE object_leases DROP COLUMN IF EXISTS handed_over")
