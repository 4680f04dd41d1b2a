"""After submission: withdrawing a claim, answering the program's question, disputing a
rejection, and the clocks that keep a claim from waiting forever.

Part of the rules (`workflows.rules` re-exports every name here; the windows are named
with the others in `workflows.rules`). Plain Python, no Temporal: the workflow asks
`next_clock` which moment comes next, sleeps until then (a durable timer) and calls
`reach_clock`. Every moment has a key, and reached keys are kept in the claim's state, so
a moment is acted on once, also across continue-as-new or while workers were down.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Literal

from workflows.messages import Actor
from workflows.messages import Cancel
from workflows.messages import Dispute
from workflows.messages import RespondInfo
from workflows.rules import EXPIRED_REASON
from workflows.rules import FINAL
from workflows.rules import REMINDER_DAYS_BEFORE_DEADLINE
from workflows.rules import REPLY_REMINDER_DAYS_BEFORE
from workflows.rules import REVIEW_CLOCK
from workflows.rules import REVIEW_CLOCK_DAYS
from workflows.rules import SUBMISSION_WINDOW_DAYS
from workflows.rules import Checkpoint
from workflows.rules import ClaimState
from workflows.rules import Refusal
from workflows.rules import _check_action
from workflows.rules import _iso
from workflows.rules import _move_to
from workflows.rules import auto_reject
from workflows.rules import deadline_of
from workflows.rules import notify
from workflows.rules import open_question
from workflows.rules import reach_checkpoint
from workflows.rules import record
from workflows.rules import recorded_actor
from workflows.rules import reminder_summary
from workflows.rules import status_since

ClockKind = Literal[
    "deadline_reminder", "deadline", "reply_reminder", "reply_end", "dispute_end", "review"
]

REVIEW_STATUSES = frozenset({"submitted", "disputed"})
"""Statuses in which the claim waits for a reviewer: the review clock runs."""


# --- the partner's actions ------------------------------------------------------------------


def check_cancel(claim: ClaimState, msg: Cancel, now: datetime) -> None:
    """Partner roles withdraw a claim while they still prepare it; once submitted, the
    program decides."""
    _check_action("cancel", claim, msg.actor, now)


def cancel(claim: ClaimState, msg: Cancel, now: datetime) -> None:
    """Final: the partner contacts get a confirmation with the reason; the engagement's
    claim is used up (a new start for it is refused)."""
    _cancel(claim, msg.reason, msg.actor, now)


OPERATOR_CANCEL_REASON = "cancelled by an operator"


def cancel_by_operator(claim: ClaimState, now: datetime) -> bool:
    """A Temporal cancellation request (the UI's "Request Cancellation", `temporal workflow
    cancel`) ends the claim the way a partner's `cancel` does, in any status that is not
    final yet; returns whether it did."""
    if claim.status in FINAL:
        return False
    _cancel(claim, OPERATOR_CANCEL_REASON, None, now)
    return True


def _cancel(claim: ClaimState, reason: str, actor: Actor | None, now: datetime) -> None:
    _move_to(claim, "cancelled", reason, now)
    claim.decided_at = now
    record(claim, now, actor, "cancelled", {"reason": reason})
    notify(claim, "cancelled", claim.partner_contacts, text=reason)


def check_respond_info(claim: ClaimState, msg: RespondInfo, now: datetime) -> None:
    _check_action("respond_info", claim, msg.actor, now)
    if open_question(claim) is None:
        raise Refusal(
            "WrongState", "the program's question is already answered: submit the claim again"
        )


def respond_info(claim: ClaimState, msg: RespondInfo, now: datetime) -> None:
    """The answer goes on the question itself; the claim stays `info_requested` until the
    partner submits again (the reply window keeps running)."""
    question = open_question(claim)
    assert question is not None  # check_respond_info passed
    question.answer = msg.text
    question.answered_at = now
    question.answered_by = recorded_actor(msg.actor)
    record(claim, now, msg.actor, "info_responded", {"text": msg.text})


def check_dispute(claim: ClaimState, msg: Dispute, now: datetime) -> None:
    _check_action("dispute", claim, msg.actor, now)
    if claim.dispute_until is None or now >= claim.dispute_until:
        raise Refusal("WrongState", "the rejection can no longer be disputed")


def dispute(claim: ClaimState, msg: Dispute, now: datetime) -> None:
    """Once per claim: a disputed claim is approved or rejected for good by a reviewer."""
    _move_to(claim, "disputed", msg.reason, now)
    record(claim, now, msg.actor, "disputed", {"reason": msg.reason})
    notify(claim, "dispute_received", [], text=msg.reason, to_review_desk=True, status="disputed")


# --- the clocks -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """A moment the claim wakes up for, named by a key that is unique within the claim."""

    at: datetime
    kind: ClockKind
    key: str
    days_before: int = 0
    """For reminders: days left until the window ends."""

    @property
    def summary(self) -> str:
        """How its timer is named to operators (no personal data)."""
        if self.kind == "deadline":
            return f"{SUBMISSION_WINDOW_DAYS}-day claim deadline"
        if self.kind == "deadline_reminder":
            return reminder_summary(self.days_before)
        if self.kind == "reply_reminder":
            return "reply " + reminder_summary(self.days_before)
        return {
            "reply_end": "reply window ends",
            "dispute_end": "dispute window ends",
            "review": f"review clock: {REVIEW_CLOCK_DAYS} days waiting",
        }[self.kind]


def _deadline_clocks(claim: ClaimState) -> list[Clock]:
    deadline = deadline_of(claim)
    return [
        *(
            Clock(deadline - timedelta(days=days), "deadline_reminder", f"deadline-{days}", days)
            for days in REMINDER_DAYS_BEFORE_DEADLINE
        ),
        Clock(deadline, "deadline", "deadline-0"),
    ]


def _clocks_of_status(claim: ClaimState) -> list[Clock]:
    """Every moment of the claim's current status, passed or not, in order."""
    if claim.status == "in_progress":
        return _deadline_clocks(claim)
    if claim.status == "info_requested" and claim.reply_until is not None:
        until = claim.reply_until
        return [
            *(
                Clock(
                    until - timedelta(days=days),
                    "reply_reminder",
                    f"reply-{days}@{_iso(until)}",
                    days,
                )
                for days in REPLY_REMINDER_DAYS_BEFORE
            ),
            Clock(until, "reply_end", f"reply-0@{_iso(until)}"),
        ]
    if claim.status == "rejected" and claim.dispute_until is not None:
        return [Clock(claim.dispute_until, "dispute_end", f"dispute@{_iso(claim.dispute_until)}")]
    if claim.status in REVIEW_STATUSES and "review_clock" in claim.clocks:
        since = status_since(claim)
        return [Clock(since + REVIEW_CLOCK, "review", f"review@{_iso(since)}")]
    return []


def next_clock(claim: ClaimState) -> Clock | None:
    """The next moment not yet dealt with (it may already be due), or None."""
    for clock in _clocks_of_status(claim):
        if clock.key not in claim.clocks_passed:
            return clock
    return None


def settle_clocks(claim: ClaimState, now: datetime, *, carried: bool) -> None:
    """At the start of a run: reminders already past when the claim started are skipped
    (a claim started late is not reminded of what it already missed). A carried state
    from before clocks were kept learns which reminders its runs sent from its history;
    one due in between is left due, so the new run sends it."""
    started = claim.history[0].at if claim.history else now
    reached = {
        f"deadline-{entry.detail.get('days_left')}"
        for entry in claim.history
        if entry.event == "reminder_sent"
    }
    for clock in _deadline_clocks(claim):
        skipped = clock.kind == "deadline_reminder" and clock.at <= (started if carried else now)
        if (skipped or clock.key in reached) and clock.key not in claim.clocks_passed:
            claim.clocks_passed.append(clock.key)


def reach_clock(claim: ClaimState, clock: Clock, now: datetime) -> None:
    """The moment of `clock` has come (it was `next_clock` until now): act on it once."""
    claim.clocks_passed.append(clock.key)
    if clock.kind == "deadline_reminder":
        reach_checkpoint(claim, Checkpoint(clock.at, clock.days_before), now)
    elif clock.kind == "deadline":
        auto_reject(claim, now)
    elif clock.kind == "reply_reminder":
        record(claim, now, None, "reply_reminder_sent", {"days_left": clock.days_before})
        question = open_question(claim)
        notify(
            claim,
            "reply_reminder",
            claim.partner_contacts,
            days_left=clock.days_before,
            until=claim.reply_until,
            text=None if question is None else question.question,
        )
    elif clock.kind == "reply_end":
        _move_to(claim, "expired", EXPIRED_REASON, now)
        claim.decided_at = now
        record(claim, now, None, "expired", {"reason": EXPIRED_REASON})
        notify(claim, "expired", claim.partner_contacts)
    elif clock.kind == "dispute_end":
        _move_to(claim, "rejected_final", claim.status_reason, now)
        record(claim, now, None, "rejected_final", {"reason": "not disputed in time"})
    else:
        record(
            claim,
            now,
            None,
            "review_escalated",
            {"status": claim.status, "waiting_since": _iso(status_since(claim))},
        )
        notify(claim, "review_escalation", [], to_review_desk=True, status=claim.status)
