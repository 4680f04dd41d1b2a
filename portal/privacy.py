"""What a partner sees of a claim: the customer's survey answers and the program's people stay
with the program.

The claim keeps everything (the reviewers need it); the portal shows a partner's user
the same view with
- the customer survey's answers and respondent's address left out of the audit trail
  (the survey's status, link version and dates stay in `proof`), and
- every reviewer named as "program reviewer", in the history, comments and questions.
Reviewers see the view as the claim keeps it.
"""

from __future__ import annotations

from typing import Any

from portal.auth import Caller
from workflows.messages import Actor
from workflows.messages import ClaimView
from workflows.messages import HistoryEntry

PROGRAM_REVIEWER = "program reviewer"
"""How a partner sees any reviewer."""
CUSTOMER_SURVEY_PRIVATE = frozenset({"answers", "respondent_email"})
"""What a partner doesn't see of the customer's completed survey."""


def as_seen_by(caller: Caller, view: ClaimView) -> ClaimView:
    """The claim view as `caller` may see it."""
    if caller.role == "reviewer":
        return view
    return view.model_copy(
        update={
            "history": [_entry(entry) for entry in view.history],
            "comments": [
                comment.model_copy(update={"actor": _actor(comment.actor)})
                for comment in view.comments
            ],
            "questions": [
                question.model_copy(update={"actor": _actor(question.actor)})
                for question in view.questions
            ],
        }
    )


def _actor(actor: Actor) -> Actor:
    if actor.role != "reviewer":
        return actor
    return actor.model_copy(update={"user": PROGRAM_REVIEWER})


def _entry(entry: HistoryEntry) -> HistoryEntry:
    detail: dict[str, Any] = entry.detail
    if entry.event == "survey_completed" and detail.get("kind") == "customer":
        detail = {key: value for key, value in detail.items() if key not in CUSTOMER_SURVEY_PRIVATE}
    actor = _actor(entry.actor) if entry.actor is not None else None
    return entry.model_copy(update={"actor": actor, "detail": detail})
