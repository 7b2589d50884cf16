"""Dead letters stored before e3f7e02 hold their headers as a JSON string of JSON: make them objects.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # the sink encoded the headers before the pool's jsonb codec encoded them again, so `headers->>'x-bridge-…'`
    # found nothing in SQL; the bridge reads both shapes, this makes the old rows queryable too
    op.execute("UPDATE dead_letters SET headers = (headers #>> '{}')::jsonb WHERE jsonb_typeof(headers) = 'string'")


def downgrade() -> None:
    pass  # the object form is what every version reads
