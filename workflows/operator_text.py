"""What operators read about a claim in the Temporal UI, with no personal data.

Only the engagement, the companies, the workshop, dates and the state of the
proof appear here: never a contact's name or e-mail address, a survey answer
or a comment, since anyone who can open the UI reads these texts.
"""

from __future__ import annotations

from datetime import datetime

from workflows.messages import ClaimInput, Notification
from workflows.rules import (
    SUBMISSION_WINDOW_DAYS,
    ClaimState,
    checkpoints,
    days_left,
    deadline_after,
    deadline_of,
    missing_items,
    reminder_summary,
    survey,
)
from workflows.texts import ITEM_LABELS, status_words

_NOTIFICATION: dict[str, str] = {
    "survey_invitation": "{survey_kind} survey invitation",
    "reminder": "{reminder}",
    "info_requested": "question from the program",
    "approved": "claim approved",
    "rejected": "claim rejected",
    "auto_rejected": "claim rejected automatically",
    "paid": "claim paid",
    "payment_held": "payment held",
}


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def static_summary(claim: ClaimInput) -> str:
    """One line fixed at start: which claim this is."""
    return f"Workshop claim {claim.engagement_id}: {claim.workshop} for {claim.customer.name}"


def static_details(claim: ClaimInput) -> str:
    """Fixed at start: the facts of the claim that never change."""
    deadline = deadline_after(claim.consent_at)
    return (
        f"**Engagement:** {claim.engagement_id}  \n"
        f"**Partner:** {claim.partner.name} ({claim.partner.id})  \n"
        f"**Customer:** {claim.customer.name} ({claim.customer.id})  \n"
        f"**Workshop:** {claim.workshop}  \n"
        f"**Customer consent:** {_day(claim.consent_at)}  \n"
        f"**Submission deadline:** {_day(deadline)} ({SUBMISSION_WINDOW_DAYS} days after consent)"
    )


def notification_summary(notification: Notification) -> str:
    """How a notification's e-mail activity is named in the UI."""
    text = _NOTIFICATION[notification.kind].format(
        survey_kind=notification.survey_kind,
        reminder=reminder_summary(notification.days_left or 0),
    )
    return f"email: {text}"


def _proof_line(claim: ClaimState) -> str:
    missing = set(missing_items(claim))
    parts = []
    for item, label in ITEM_LABELS["en"].items():
        if item not in missing:
            parts.append(f"done: {label}")
        elif item.endswith("_survey"):
            state = survey(claim, "partner" if item == "partner_survey" else "customer").status
            parts.append(f"open: {label} ({state.replace('_', ' ')})")
        else:
            parts.append(f"open: {label}")
    return "; ".join(parts)


def _next_event(claim: ClaimState, now: datetime) -> str:
    if claim.status == "in_progress":
        upcoming = checkpoints(claim, now)[0]
        return f"{upcoming.summary} on {_day(upcoming.at)}, unless submitted before"
    return {
        "submitted": "review by the program (request info, approve or reject)",
        "info_requested": "the partner's answer and a new submission",
        "approved": "payment in the program's payment cycle",
    }.get(claim.status, "none: the claim is over")


def current_details(claim: ClaimState, now: datetime) -> str:
    """The claim as it is now: status, proof checklist, days left, what comes next."""
    deadline = deadline_of(claim)
    if claim.status == "in_progress":
        timing = f"deadline {_day(deadline)}, {days_left(deadline, now)} days left"
    else:
        timing = f"deadline {_day(deadline)} (no longer applies)"
    hold = f"  \n**Payment held:** {claim.payment_hold}" if claim.payment_hold else ""
    return (
        f"**Status:** {status_words(claim.status)} ({timing})  \n"
        f"**Proof:** {_proof_line(claim)}  \n"
        f"**Next:** {_next_event(claim, now)}{hold}"
    )
