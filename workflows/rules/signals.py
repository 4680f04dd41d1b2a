"""Messages from outside the claim's conversation: survey answers, payments, bounced mail.

Part of the rules (`workflows.rules` re-exports every function here). A signal can't
be refused to its sender, so each of these either applies the change or records why
it was ignored.
"""

from __future__ import annotations

from datetime import datetime

from workflows.messages import ClaimStatus
from workflows.messages import Notification
from workflows.messages import Payment
from workflows.messages import PaymentIssued
from workflows.messages import RefusedRecipient
from workflows.messages import SurveyCompleted
from workflows.messages import SurveyKind
from workflows.messages import SurveyProof
from workflows.rules import PARTNER_WORKING
from workflows.rules import ClaimState
from workflows.rules import Refusal
from workflows.rules import _completed_survey_refusal
from workflows.rules import _move_to
from workflows.rules import deadline_of
from workflows.rules import notify
from workflows.rules import record
from workflows.rules import survey
from workflows.texts import status_words

# --- signals from outside: recorded either way ---------------------------------------------


def survey_answer_refusal(
    status: ClaimStatus,
    deadline: datetime,
    proof: SurveyProof,
    kind: SurveyKind,
    link_version: int,
    now: datetime,
) -> Refusal | None:
    """Why answers through link `link_version` of a survey would not count now, or None.

    Answers count only through the current link of a sent survey, while the claim
    is still being prepared. The workflow asks it of its state; the survey page
    asks it of a view before showing the form.
    """
    if status not in PARTNER_WORKING:
        return Refusal("WrongState", f"the claim is {status_words(status)}")
    if status == "in_progress" and now >= deadline:
        return Refusal("DeadlinePassed", "the claim's deadline has passed")
    if proof.status == "completed":
        return _completed_survey_refusal(kind)
    if proof.status == "not_sent":
        return Refusal("WrongState", f"the {kind} survey has not been sent")
    if proof.status == "invalidated" or link_version != proof.link_version:
        return Refusal(
            "WrongState",
            f"link version {link_version} is no longer valid: the contact details "
            "changed, so the survey must be sent again",
        )
    return None


def check_complete_survey(claim: ClaimState, msg: SurveyCompleted, now: datetime) -> None:
    refusal = survey_answer_refusal(
        claim.status, deadline_of(claim), survey(claim, msg.kind), msg.kind, msg.link_version, now
    )
    if refusal is not None:
        raise refusal


def complete_survey(claim: ClaimState, msg: SurveyCompleted, now: datetime) -> bool:
    """Record a survey's answers, or, when `check_complete_survey` refuses them (a signal
    can't be answered), record that they were ignored and why."""
    proof = survey(claim, msg.kind)
    base = {"kind": msg.kind, "link_version": msg.link_version}
    try:
        check_complete_survey(claim, msg, now)
    except Refusal as refusal:
        record(claim, now, None, "survey_completion_ignored", {**base, "reason": refusal.message})
        return False
    proof.status = "completed"
    proof.completed_at = now
    record(
        claim,
        now,
        None,
        "survey_completed",
        {**base, "respondent_email": msg.respondent_email, "answers": dict(msg.answers)},
    )
    return True


def issue_payment(claim: ClaimState, msg: PaymentIssued, now: datetime) -> bool:
    """An approved claim is paid once; any other payment signal is only recorded."""
    payment = Payment(
        reference=msg.reference, amount=msg.amount, currency=msg.currency, paid_at=msg.paid_at
    )
    if claim.status != "approved":
        record(
            claim,
            now,
            None,
            "payment_ignored",
            {
                "reference": msg.reference,
                "reason": f"the claim is {status_words(claim.status)}, not approved",
            },
        )
        return False
    _move_to(claim, "paid", None, now)
    claim.paid_at = msg.paid_at
    claim.payment = payment
    record(claim, now, None, "payment_issued", payment.model_dump(mode="json"))
    notify(claim, "paid", claim.partner_contacts, payment=payment)
    return True


def record_undeliverable(
    claim: ClaimState, notification: Notification, refused: list[RefusedRecipient], now: datetime
) -> None:
    """The mail server refused recipients for good: say so on the claim, then go on."""
    for recipient in refused:
        record(
            claim,
            now,
            None,
            "notification_undeliverable",
            {
                "notification": notification.key,
                "kind": notification.kind,
                "email": recipient.email,
                "reason": recipient.reason,
            },
        )
