"""The latest heartbeat of each 1C base, and the incidents the bridge told Bitrix24 users about.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # One row per 1C base (source): what its sender said after its last run, and when the bridge heard it
    # (received_at is the bridge's clock, so a 1C server with a wrong clock cannot hide its silence).
    op.execute(
        """
        CREATE TABLE source_heartbeats (
            source                 text        PRIMARY KEY,
            received_at            timestamptz NOT NULL,
            module_version         text        NOT NULL,
            platform_version       text        NOT NULL,
            pending                integer     NOT NULL CHECK (pending >= 0),
            oldest_pending_seconds bigint      NOT NULL CHECK (oldest_pending_seconds >= 0),
            rejected               integer     NOT NULL CHECK (rejected >= 0)
        )
        """
    )
    # Incidents the notice watcher opened (dead letters, a paused consumer, a silent source): one open row
    # per (kind, subject), so several processes watching the same thing send one notice, and a restart
    # does not send it again.  notified_at: when the opening notice reached Bitrix24 (NULL: not yet);
    # cleared_at: the trouble is over and the recovery notice is being sent (the row goes once it went).
    op.execute(
        """
        CREATE TABLE notice_incidents (
            kind        text        NOT NULL,
            subject     text        NOT NULL,
            opened_at   timestamptz NOT NULL DEFAULT now(),
            detail      text        NOT NULL DEFAULT '',
            notified_at timestamptz,
            cleared_at  timestamptz,
            PRIMARY KEY (kind, subject)
        )
        """
    )


def downgrade() -> None:
    op.execute("DROP TABLE notice_incidents")
    op.execute("DROP TABLE source_heartbeats")
