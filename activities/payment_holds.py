"""Payment holds: an approved claim the payment cycle could not pay is told so.

A claim whose workshop type has no tariff (any more) gets a not-paid line in
every cycle; nothing about it would change until someone noticed. After each
page, the cycle sends every such claim of its batch the `payment_held` signal
with the line's reason, once per line (the line's `signalled_at` remembers it):
the claim shows the hold (`payment_hold`, current details) and mails its
partner once (workflows/payment_holds.py).
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from activities.payments import NOT_PAID
from activities.payments import payment_lines
from workflows.ids import workflow_id
from workflows.payments_messages import PaymentHeld

PAYMENT_HELD_SIGNAL = "payment_held"
NO_TARIFF = "no tariff for workshop"
"""How the reason of a line held for want of a tariff begins (activities.payments)."""


async def tell_held_claims(engine: AsyncEngine, client: Client, batch_id: str) -> int:
    """Signal each claim held in the batch and not told yet; returns how many were told."""
    async with engine.connect() as conn:
        held = (
            await conn.execute(
                sa.select(payment_lines.c.engagement_id, payment_lines.c.reason).where(
                    payment_lines.c.batch_id == batch_id,
                    payment_lines.c.outcome == NOT_PAID,
                    payment_lines.c.reason.startswith(NO_TARIFF),
                    payment_lines.c.signalled_at.is_(None),
                )
            )
        ).all()
    told = 0
    for engagement_id, reason in held:
        handle = client.get_workflow_handle(workflow_id(engagement_id))
        try:
            await handle.signal(PAYMENT_HELD_SIGNAL, PaymentHeld(reason=reason, batch_id=batch_id))
            told += 1
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
        async with engine.begin() as conn:
            await conn.execute(
                sa.update(payment_lines)
                .where(
                    payment_lines.c.batch_id == batch_id,
                    payment_lines.c.engagement_id == engagement_id,
                )
                .values(signalled_at=datetime.now(UTC))
            )
    return told
