"""What operators read about a claim in the Temporal UI, with no personal data.

Only the engagement, the companies, the workshop, dates and the state of the
proof appear here: never a contact's name or e-mail address, a survey answer
or a comment, since anyone who can open the UI reads these texts.
"""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime

from workflows.failures import failed_notifications
from workflows.messages import ClaimInput
from workflows.messages import MailWaiting
from workflows.messages import Notification
from workflows.rules import SUBMISSION_WINDOW_DAYS
from workflows.rules import ClaimState
from workflows.rules import checkpoints
from workflows.rules import days_left
from workflows.rules import deadline_after
from workflows.rules import deadline_of
from workflows.rules import missing_items
from workflows.rules import next_clock
from workflows.rules import reminder_summary
from workflows.rules import survey
from workflows.texts import ITEM_LABELS
from workflows.texts import status_words

_NOTIFICATION: dict[str, str] = {
    "survey_invitation": "{survey_kind} survey invitation",
    "reminder": "{reminder}",
    "info_requested": "question from the program",
    "approved": "claim approved",
    "rejected": "claim rejected",
    "auto_rejected": "claim rejected automatically",
    "paid": "claim paid",
    "reply_reminder": "reply {reminder}",
    "expired": "claim expired",
    "cancelled": "claim cancelled",
    "dispute_received": "dispute to the review desk",
    "rejected_final": "claim rejected for good",
    "review_escalation": "review escalation to the review desk",
    "payment_held": "payment held",
}


_MARKDOWN = re.compile(r"([\\`*_\[\]<>|~!&#])")
"""What makes Markdown (or HTML in it) out of text: emphasis, code, links, images, tags,
entities, tables, headings. Each is shown literally once backslash-escaped."""


def literal(text: str) -> str:
    """Partner-supplied text as the UI's Markdown shows it: literally, on one line (no link,
    image, emphasis or markup a partner could plant in an operator's page)."""
    return _MARKDOWN.sub(r"\\\1", " ".join(text.split()))


def _day(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d")


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def static_summary(claim: ClaimInput) -> str:
    """One line fixed at start: which claim this is."""
    workshop, customer = literal(claim.workshop), literal(claim.customer.name)
    return f"Workshop claim {claim.engagement_id}: {workshop} for {customer}"


def static_details(claim: ClaimInput) -> str:
    """Fixed at start: the facts of the claim that never change."""
    deadline = deadline_after(claim.consent_at)
    return (
        f"**Engagement:** {claim.engagement_id}  \n"
        f"**Partner:** {literal(claim.partner.name)} ({claim.partner.id})  \n"
        f"**Customer:** {literal(claim.customer.name)} ({claim.customer.id})  \n"
        f"**Workshop:** {literal(claim.workshop)}  \n"
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
    upcoming_clock = next_clock(claim)
    when = (
        ""
        if upcoming_clock is None
        else f" ({upcoming_clock.summary} on {_day(upcoming_clock.at)})"
    )
    return {
        "submitted": "review by the program (request info, approve or reject)",
        "info_requested": "the partner's answer and a new submission",
        "approved": "payment in the program's payment cycle",
        "rejected": "a dispute by the partner, or the rejection becomes final",
        "disputed": "review of the dispute by the program (approve or reject)",
    }.get(claim.status, "none: the claim is over") + when


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
        + _mail_waiting_line(claim)
        + _failures_line(claim)
    )


def mail_waiting_text(waiting: MailWaiting) -> str:
    """ "2 mails waiting, retrying since ..., last error ...": for the UI and the CLI."""
    mails = "mail" if waiting.count == 1 else "mails"
    return (
        f"{waiting.count} {mails} waiting, retrying since {_minute(waiting.since)} "
        f"(attempt {waiting.attempts}), last error: {waiting.last_error}"
    )


def _mail_waiting_line(claim: ClaimState) -> str:
    if claim.mail_waiting is None:
        return ""
    return f"  \n**Mail:** {literal(mail_waiting_text(claim.mail_waiting))}"


def _failures_line(claim: ClaimState) -> str:
    """Mails that could not be made, named by kind and error (no person, no content)."""
    failed = failed_notifications(claim)
    if not failed:
        return ""
    last = failed[-1].detail
    kind = " ".join(part for part in (last.get("survey_kind"), last.get("kind")) if part)
    return (
        f"  \n**Notification failed:** {len(failed)} not sent; last: "
        f"{literal(kind.replace('_', ' '))} ({literal(str(last.get('error', 'error')))}), "
        f"{_day(failed[-1].at)}; the claim's history has the reason"
    )
