"""Notifications that could not be made: recorded on the claim, never retried forever.

Plain Python, no Temporal import. A mail that can't be built or rendered (the activity
says so with a non-retryable `notification_failed` error) would block the claim's mail
queue for good, and every later mail with it, if it were retried: instead the claim
records it (`notification_failed`, with the reason), operators see it in the UI's
current details, and the queue moves on.
"""

from __future__ import annotations

from datetime import datetime

from workflows.messages import HistoryEntry
from workflows.messages import Notification
from workflows.rules import record
from workflows.state import ClaimState

NOTIFICATION_FAILED = "notification_failed"
"""The history event, and the type of the activity's error that leads to it."""


def record_notification_failed(
    claim: ClaimState, notification: Notification, reason: str, error: str, now: datetime
) -> None:
    """`reason` in the activity's words (for the claim's readers), `error` the name of what
    failed (for operators: it names no person)."""
    record(
        claim,
        now,
        None,
        NOTIFICATION_FAILED,
        {
            "notification": notification.key,
            "kind": notification.kind,
            "survey_kind": notification.survey_kind,
            "reason": reason,
            "error": error,
        },
    )


def failed_notifications(claim: ClaimState) -> list[HistoryEntry]:
    return [entry for entry in claim.history if entry.event == NOTIFICATION_FAILED]
