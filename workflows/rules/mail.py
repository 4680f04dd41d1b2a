"""The claim's mail as operators see and steer it: mail that waits, and mail sent again.

Part of the rules (`workflows.rules` re-exports every name here). The mail activity
retries a failed send without limit (an outage may last hours); while it does, it
tells the claim (`mail_retrying`), so the claim can say that its mail waits, since
when and why, instead of looking as if all went out. After a contact whose mail was
refused has been fixed, an operator sends the last notification of a kind again.
"""

from __future__ import annotations

from datetime import datetime

from workflows.messages import MailRetrying
from workflows.messages import MailWaiting
from workflows.messages import ResendNotification
from workflows.messages import Role
from workflows.rules import FINAL
from workflows.rules import ClaimState
from workflows.rules import Refusal
from workflows.rules import notify
from workflows.rules import record
from workflows.texts import action_words

OPERATOR_ROLES: frozenset[Role] = frozenset({"reviewer", "program_admin"})
"""Who may send a claim's notification again: the program's people, not the partner."""
NOT_RESENT = frozenset({"survey_invitation"})
"""A survey invitation carries a link: the partner sends the survey again (`send_survey`)."""


def note_mail_retrying(claim: ClaimState, msg: MailRetrying) -> bool:
    """The head of the mail queue failed an attempt; returns whether the claim's account
    of waiting mail changed (a report about mail no longer queued changes nothing)."""
    if not claim.outbox or claim.outbox[0].key != msg.key:
        return False
    claim.mail_waiting = MailWaiting(
        count=len(claim.outbox), since=msg.since, attempts=msg.attempt, last_error=msg.error
    )
    return True


def mail_sent(claim: ClaimState) -> bool:
    """The head of the queue went out (or was settled): the wait, if any, is over or
    moves on to the next one. Returns whether the account of waiting mail changed."""
    if claim.mail_waiting is None:
        return False
    claim.mail_waiting = None
    return True


def pending_notifications(claim: ClaimState) -> int:
    """What the `PendingNotifications` search attribute says: mail queued while sending
    fails (0 while mail flows, however many are queued for a moment)."""
    return len(claim.outbox) if claim.mail_waiting is not None else 0


def check_resend_notification(claim: ClaimState, msg: ResendNotification, now: datetime) -> None:
    action = action_words("resend_notification")
    if msg.actor.role not in OPERATOR_ROLES:
        raise Refusal(
            "NotAllowed",
            f"{action} is done by the program's reviewers or program admins, "
            f"not by the role '{msg.actor.role}'",
        )
    if claim.status in FINAL:
        raise Refusal("WrongState", f"the claim is over: {action} is not possible")
    if msg.kind in NOT_RESENT:
        raise Refusal(
            "InvalidInput",
            "kind: a survey invitation is sent again by the partner (send_survey), which "
            "gives the current contact a working link",
        )
    if msg.kind not in claim.last_notifications:
        raise Refusal("WrongState", f"kind: no '{msg.kind}' notification was sent for this claim")


def resend_notification(claim: ClaimState, msg: ResendNotification, now: datetime) -> None:
    """The last notification of the kind, again, to the partner contacts as they are now
    (a mail for the review desk goes there again); a new key, so it is sent, not taken
    for a duplicate of the first."""
    last = claim.last_notifications[msg.kind]
    fields = last.model_dump(
        exclude={"key", "kind", "engagement_id", "partner_name", "customer_name", "workshop"}
        | {"recipients", "deadline_at", "trace_context"}
    )
    recipients = [] if last.to_review_desk else claim.partner_contacts
    notify(claim, msg.kind, recipients, **fields)
    record(claim, now, msg.actor, "notification_resent", {"kind": msg.kind, "of": last.key})
