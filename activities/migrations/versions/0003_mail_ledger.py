"""Mail ledger: one row per e-mail the mail server accepted, keyed by Message-ID.

The mail activity checks it before sending and writes it right after the
server accepts, so a retry after a worker crash does not mail anyone twice
(see activities/mail.py and docs/reliability.md).

Revision ID: 0003
Revises: 0002 (payments; one chain, one head: tests/test_store.py checks it)
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from activities.store import UTCDateTime

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "mail_ledger",
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("notification_key", sa.String(128), nullable=False),
        sa.Column("engagement_id", sa.String(64), nullable=False, index=True),
        sa.Column("recipient", sa.String(254), nullable=False),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("mail_ledger")
