"""Bitrix24 client state shared by replicas: the portal's leaky bucket and the OAuth tokens.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per portal: the level of the leaky bucket as of updated_at (it may exceed the burst while
    # requests wait for reserved slots).  Rows appear on first use.
    op.execute(
        """
        CREATE TABLE b24_rate_buckets (
            portal     text             PRIMARY KEY,
            level      double precision NOT NULL DEFAULT 0,
            updated_at timestamptz      NOT NULL DEFAULT clock_timestamp()
        )
        """
    )
    # One row per portal and OAuth app.  A refresh token is spent by its use, so a refresh happens under
    # this row's lock and the new pair is committed here before anyone uses it.  seed_hash identifies the
    # refresh token the settings started from (to notice a re-authorisation).
    op.execute(
        """
        CREATE TABLE b24_oauth_tokens (
            portal        text        NOT NULL,
            client_id     text        NOT NULL,
            access_token  text,
            refresh_token text        NOT NULL,
            expires_at    timestamptz,
            seed_hash     text,
            updated_at    timestamptz NOT NULL DEFAULT now(),
            PRIMARY KEY (portal, client_id)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE IF EXISTS b24_oauth_tokens")
    op.execute("DROP TABLE IF EXISTS b24_rate_buckets")
