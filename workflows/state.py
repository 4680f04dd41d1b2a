"""The claim's state: everything a claim knows, as one serialisable model.

The rules (workflows/rules.py) read and change it; the workflow keeps one and
carries it across continue-as-new. Plain pydantic, no Temporal import.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pydantic import Field
from pydantic import ModelWrapValidatorHandler
from pydantic import ValidationInfo
from pydantic import model_validator

from workflows.messages import Actor
from workflows.messages import ClaimInput
from workflows.messages import ClaimStatus
from workflows.messages import ClaimSubject
from workflows.messages import Comment
from workflows.messages import Contact
from workflows.messages import HistoryEntry
from workflows.messages import MailWaiting
from workflows.messages import Notification
from workflows.messages import Payment
from workflows.messages import Proof
from workflows.messages import Question


class ClaimState(ClaimSubject):
    """Everything a claim knows. Serialisable, so it can move to a new run as is."""

    started_by: Actor
    status: ClaimStatus = "in_progress"
    status_reason: str | None = None
    status_since: datetime | None = None
    """When the claim entered its status (None: since it started)."""
    proof: Proof = Field(default_factory=Proof)
    partner_contacts: list[Contact]
    customer_contact: Contact
    comments: list[Comment] = Field(default_factory=list)
    questions: list[Question] = Field(default_factory=list)
    history: list[HistoryEntry] = Field(default_factory=list)
    submitted_at: datetime | None = None
    decided_at: datetime | None = None
    paid_at: datetime | None = None
    payment: Payment | None = None
    payment_hold: str | None = None
    mail_waiting: MailWaiting | None = None
    """While the head of the outbox fails and is retried (the mail activity says so)."""
    last_notifications: dict[str, Notification] = Field(default_factory=dict)
    """The latest notification of each kind, for an operator's `resend_notification`."""
    outbox: list[Notification] = Field(default_factory=list)
    """Notifications decided but not yet handed to the mail server."""
    notifications_made: int = 0
    clocks: list[str] = Field(default_factory=list)
    """The after-submission clocks this claim keeps (`review_clock`, `reply_window`,
    `dispute_window`): each is switched on by the workflow the first time it is needed,
    behind a patch, so a claim started before they existed keeps its old behaviour."""
    clocks_passed: list[str] = Field(default_factory=list)
    """Keys of the clock moments already dealt with (reminder sent or skipped, escalation
    sent): carried across continue-as-new, so each is acted on exactly once."""
    reply_until: datetime | None = None
    """End of the reply window of the latest question (None: asked before it existed)."""
    dispute_until: datetime | None = None
    """End of the dispute window of the rejection (None: no dispute is possible)."""


# The workflow's input models live here, not in workflows/claim.py: the sandbox runs the
# workflow's own module afresh for every claim it holds, and a pydantic model defined
# there would build its schema again each time (about 30 ms and 35 KiB a claim); this
# module is passed through, so they are built once per worker.


class CarriedClaim(BaseModel):
    """What a claim takes into its next run when its history grows long."""

    claim: ClaimState
    stored: int
    release: int | None = None
    """The release of the run that continued (None: an earlier release's)."""


class ClaimRun(ClaimInput):
    """The workflow's own input: the start input, plus the state it carries when it
    continues as new (callers start claims with a plain `ClaimInput`)."""

    carried: CarriedClaim | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _lenient_when_continued(
        cls, data: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo
    ) -> Any:
        """A continued run reads what its claim already accepted leniently (a validator
        tightened in a later release must not fail an open claim); a new claim's input
        stays strict."""
        context = info.context if isinstance(info.context, dict) else {}
        if isinstance(data, dict) and data.get("carried") is not None and not context:
            return cls.model_validate(data, context={"lenient": True})
        return handler(data)
