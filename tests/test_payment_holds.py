"""The payment-hold rule alone (plain Python, no server): an approved claim that can't be paid
says so, its partner is told once, and the payment clears it."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

from tests.builders import PARTNER_CONTACTS
from tests.builders import claim_input
from workflows import rules
from workflows.messages import PaymentIssued
from workflows.payment_holds import hold_payment
from workflows.payment_holds import release_hold
from workflows.payments_messages import PaymentHeld

NOW = datetime(2026, 12, 1, tzinfo=UTC)
HELD = PaymentHeld(reason="no tariff for workshop type 'x' in CLAIMS_WORKSHOPS", batch_id="PC-1")


def test_only_an_approved_claim_is_held_and_its_partner_is_told_once() -> None:
    claim = rules.open_claim(claim_input(NOW - timedelta(days=1)), NOW)
    assert not hold_payment(claim, HELD, NOW)  # in progress: nothing to hold
    assert claim.payment_hold is None

    claim.status = "approved"
    assert hold_payment(claim, HELD, NOW)
    assert rules.view(claim, NOW).payment_hold == HELD.reason
    [told] = [n for n in claim.outbox if n.kind == "payment_held"]
    assert told.recipients == PARTNER_CONTACTS
    assert told.text == HELD.reason

    assert not hold_payment(claim, HELD, NOW)  # the next cycle, the same reason
    other = PaymentHeld(
        reason="no tariff for workshop type 'y' in CLAIMS_WORKSHOPS", batch_id="PC-2"
    )
    assert hold_payment(claim, other, NOW)  # recorded, but the partner was told already
    assert [n.kind for n in claim.outbox].count("payment_held") == 1
    assert [e.event for e in claim.history].count("payment_held") == 2

    paid = PaymentIssued(reference="PC-3:x", amount="1.00", currency="EUR", paid_at=NOW)
    assert rules.issue_payment(claim, paid, NOW)
    release_hold(claim)
    assert rules.view(claim, NOW).payment_hold is None
