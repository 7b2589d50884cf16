"""Orders a document touched that still need their deal recomputed.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Written in the same transaction as a newer snapshot of a document: every order it touched before or
    # touches now.  A row goes once that order's deal has been recomputed, so a failure after the merge
    # (a missing dependency of another order, a crash) cannot leave an order the document left behind
    # showing the old facts: the redelivered event finds the row and recomputes that order too.
    op.execute(
        """
        CREATE TABLE order_resync (
            source   text NOT NULL,
            doc_type text NOT NULL,
            doc_id   uuid NOT NULL,
            order_id uuid NOT NULL,
            PRIMARY KEY (source, doc_type, doc_id, order_id)
        )
        """
    )
    op.execute("CREATE INDEX order_resync_order ON order_resync (source, order_id)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS order_resync")
