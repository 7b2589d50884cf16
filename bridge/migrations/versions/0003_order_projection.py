"""Order projection: every 1C document of the order lifecycle, and which orders each one touches.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # The latest snapshot of each customer order, invoice, payment and shipment (version-guarded), plus a
    # fact that only ever grows: was any version of it posted?  (A deal exists once its order was posted.)
    op.execute(
        """
        CREATE TABLE order_documents (
            source      text        NOT NULL,
            doc_type    text        NOT NULL,
            doc_id      uuid        NOT NULL,
            version     bigint      NOT NULL,
            snapshot    jsonb       NOT NULL,
            ever_posted boolean     NOT NULL DEFAULT false,
            updated_at  timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (source, doc_type, doc_id)
        )
        """
    )
    # Which orders the latest snapshot of a document touches, and with what amount (a payment's allocation
    # to that order; an invoice's or shipment's total).  Replaced whole when a newer snapshot arrives.
    op.execute(
        """
        CREATE TABLE order_document_links (
            source   text    NOT NULL,
            doc_type text    NOT NULL,
            doc_id   uuid    NOT NULL,
            order_id uuid    NOT NULL,
            amount   numeric,
            PRIMARY KEY (source, doc_type, doc_id, order_id)
        )
        """
    )
    op.execute("CREATE INDEX order_document_links_order ON order_document_links (source, order_id)")


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS order_document_links")
    op.execute("DROP TABLE IF EXISTS order_documents")
