"""Engagement registry: the program's record of each engagement (partner, customer, workshop
type, consent), which the portal trusts instead of the partner (activities/engagements.py).

Revision ID: 0004
Revises: 0003 (mail ledger; one chain, one head: tests/test_store.py checks it)
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from activities.store import JSONDocument
from activities.store import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "engagements",
        sa.Column("engagement_id", sa.String(64), primary_key=True),
        sa.Column("partner_id", sa.String(64), nullable=False, index=True),
        sa.Column("partner_name", sa.String(200), nullable=False),
        sa.Column("customer_id", sa.String(64), nullable=False),
        sa.Column("customer_name", sa.String(200), nullable=False),
        sa.Column("workshop_type", sa.String(64), nullable=False),
        sa.Column("consent_at", UTCDateTime(), nullable=True, index=True),
        sa.Column("customer_contact", JSONDocument, nullable=False),
        sa.Column("consent_status", sa.String(16), nullable=True),
        sa.Column("consent_requests", sa.Integer, nullable=False, server_default="0"),
        sa.Column("recorded_by", JSONDocument, nullable=False),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("engagements")
