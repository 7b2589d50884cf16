"""Mark a link whose push is under way, so a push that dies half-way is not trusted afterwards.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Set (committed on its own) just before a push's first Bitrix24 write, cleared by the push's own commit.
    # Still set when read: the push failed after Bitrix24 may have taken part of it, so pushed_state is not
    # what Bitrix24 holds and the next push sends the full desired fields instead of a diff; pushing_state
    # is what that push meant to write (so a field it set and 1C has emptied since is cleared too).
    op.execute("ALTER TABLE entity_links ADD COLUMN pushing_since timestamptz, ADD COLUMN pushing_state jsonb")


def downgrade() -> None:
    op.execute("ALTER TABLE entity_links DROP COLUMN IF EXISTS pushing_since, DROP COLUMN IF EXISTS pushing_state")
