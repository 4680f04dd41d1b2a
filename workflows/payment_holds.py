"""The payment-hold rule, in plain Python: an approved claim that can't be paid says so.

The payment cycle signals `payment_held` with why (its workshop type has no
tariff). The claim keeps the reason as `payment_hold` (in its view and its
current details), records it, and mails its partner contacts the first time
only; a later cycle that holds it again changes nothing, and the payment
clears the hold.
"""

from __future__ import annotations

from datetime import datetime

from workflows.payments_messages import PaymentHeld
from workflows.rules import ClaimState
from workflows.rules import notify
from workflows.rules import record


def hold_payment(claim: ClaimState, msg: PaymentHeld, now: datetime) -> bool:
    """Note why an approved claim is not paid; True when this changed the claim."""
    if claim.status != "approved" or claim.payment_hold == msg.reason:
        return False
    first = claim.payment_hold is None
    claim.payment_hold = msg.reason
    record(claim, now, None, "payment_held", {"reason": msg.reason, "batch_id": msg.batch_id})
    if first:
        notify(claim, "payment_held", claim.partner_contacts, text=msg.reason)
    return True


def release_hold(claim: ClaimState) -> None:
    """A paid claim is held no more."""
    if claim.status == "paid":
        claim.payment_hold = None
