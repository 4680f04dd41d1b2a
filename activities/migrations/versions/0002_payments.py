"""Payment batches, their lines and the remittances sent.

A paid line is unique per engagement across all batches (a partial unique
index), so no claim is ever paid twice, whatever runs again; every line is
unique per batch and engagement, so a re-run of a cycle writes nothing twice.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from activities.store import JSONDocument
from activities.store import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

PAID = sa.text("outcome = 'paid'")


def upgrade() -> None:
    op.create_table(
        "payment_batches",
        sa.Column("batch_id", sa.String(64), primary_key=True),
        sa.Column("cycle_date", UTCDateTime(), nullable=False, index=True),
        sa.Column("approved_before", UTCDateTime(), nullable=False),
        sa.Column("min_days_approved", sa.Integer, nullable=False),
        sa.Column("workflow_id", sa.String(255), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=False),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
    )
    op.create_table(
        "payment_lines",
        sa.Column(
            "batch_id",
            sa.String(64),
            sa.ForeignKey("payment_batches.batch_id"),
            primary_key=True,
        ),
        sa.Column("engagement_id", sa.String(64), primary_key=True),
        sa.Column("partner_id", sa.String(64), nullable=False),
        sa.Column("partner_name", sa.String(200), nullable=False),
        sa.Column("customer_name", sa.String(200), nullable=False),
        sa.Column("workshop", sa.String(200), nullable=False),
        sa.Column("approved_at", UTCDateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=True),
        sa.Column("amount", sa.String(32), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("reference", sa.String(200), nullable=True),
        sa.Column("paid_at", UTCDateTime(), nullable=True),
        sa.Column("recorded_at", UTCDateTime(), nullable=False),
        sa.Column("signalled_at", UTCDateTime(), nullable=True),
    )
    op.create_index("ix_payment_lines_batch_partner", "payment_lines", ["batch_id", "partner_id"])
    op.create_index(
        "uq_payment_lines_paid_engagement",
        "payment_lines",
        ["engagement_id"],
        unique=True,
        sqlite_where=PAID,
        postgresql_where=PAID,
    )
    op.create_table(
        "payment_remittances",
        sa.Column(
            "batch_id",
            sa.String(64),
            sa.ForeignKey("payment_batches.batch_id"),
            primary_key=True,
        ),
        sa.Column("partner_id", sa.String(64), primary_key=True),
        sa.Column("sent_at", UTCDateTime(), nullable=False),
        sa.Column("claims", sa.Integer, nullable=False),
        sa.Column("totals", JSONDocument, nullable=False),
        sa.Column("delivered", sa.Integer, nullable=False),
        sa.Column("refused", JSONDocument, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("payment_remittances")
    op.drop_index("uq_payment_lines_paid_engagement", table_name="payment_lines")
    op.drop_index("ix_payment_lines_batch_partner", table_name="payment_lines")
    op.drop_table("payment_lines")
    op.drop_table("payment_batches")
