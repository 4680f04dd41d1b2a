"""Claims read model and audit trail.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from activities.store import JSONDocument
from activities.store import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "claims",
        sa.Column("engagement_id", sa.String(64), primary_key=True),
        sa.Column("status", sa.String(32), nullable=False, index=True),
        sa.Column("partner_id", sa.String(64), nullable=False, index=True),
        sa.Column("customer_id", sa.String(64), nullable=False, index=True),
        sa.Column("deadline_at", UTCDateTime(), nullable=False, index=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("view", JSONDocument, nullable=False),
    )
    op.create_table(
        "claim_events",
        sa.Column("engagement_id", sa.String(64), primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("at", UTCDateTime(), nullable=False),
        sa.Column("event", sa.String(64), nullable=False),
        sa.Column("actor_user", sa.String(200), nullable=True),
        sa.Column("actor_role", sa.String(32), nullable=True),
        sa.Column("detail", JSONDocument, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("claim_events")
    op.drop_table("claims")
