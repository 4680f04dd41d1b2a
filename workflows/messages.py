"""The public contract of a workshop claim: one pydantic model per message.

Portal backends, the command line, the workflow and the activities all speak
these shapes, so their JSON field names are the contract and must not change
without a versioning plan (see docs/versioning.md). Every inbound model
forbids unknown fields and bounds every string, so that bad input is refused
at the edge with a message naming the field, before any rule runs.

This module imports pydantic only: it is safe inside the workflow sandbox and
in any client.
"""

from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from decimal import InvalidOperation
from typing import Annotated
from typing import Any
from typing import Literal
from typing import NotRequired

from pydantic import AfterValidator
from pydantic import AwareDatetime
from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import ModelWrapValidatorHandler
from pydantic import SerializerFunctionWrapHandler
from pydantic import StringConstraints
from pydantic import ValidationError
from pydantic import ValidationInfo
from pydantic import model_serializer
from pydantic import model_validator
from typing_extensions import TypedDict

from workflows.text import ANSWER_MAX_CHARS
from workflows.text import FREE_TEXT_MAX_CHARS
from workflows.text import MAX_ANSWERS
from workflows.text import MAX_CONTACTS
from workflows.text import NAME_MAX_CHARS
from workflows.text import bounded_answers
from workflows.text import free_text
from workflows.text import plausible_consent
from workflows.text import single_line

Role = Literal["incentives_admin", "incentives_user", "reviewer", "program_admin"]
Locale = Literal["en", "nl"]
DocumentKind = Literal["results_and_recommendations", "invoice"]
SurveyKind = Literal["partner", "customer"]
SurveyChannel = Literal["email", "direct"]
ClaimStatus = Literal[
    "in_progress",
    "submitted",
    "info_requested",
    "approved",
    "paid",
    "rejected",
    "rejected_final",
    "disputed",
    "expired",
    "cancelled",
    "auto_rejected",
    "terminated",
]
"""`terminated` is never set by the claim itself: its workflow was terminated or timed out
from outside, which the reconciliation (workflows/reconcile.py) records in the read model."""
ProofItem = Literal["results_and_recommendations", "partner_survey", "customer_survey", "invoice"]
SurveyStatus = Literal["not_sent", "sent", "invalidated", "completed"]
RefusalType = Literal[
    "InvalidInput",
    "NotAllowed",
    "WrongState",
    "DeadlinePassed",
    "Incomplete",
    "ContactLocked",
    "SurveyCompleted",
    "NotFound",
    "TooManyRequests",
]
NotificationKind = Literal[
    "survey_invitation",
    "reminder",
    "info_requested",
    "approved",
    "rejected",
    "auto_rejected",
    "paid",
    "reply_reminder",
    "expired",
    "cancelled",
    "dispute_received",
    "rejected_final",
    "review_escalation",
    "payment_held",
]

IDENTIFIER_PATTERN = r"^[A-Za-z0-9._-]{1,64}$"
_EMAIL = re.compile(r"^[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+$")


def _email(value: str) -> str:
    if not _EMAIL.fullmatch(value):
        raise ValueError("must be an e-mail address like name@example.com")
    return value.lower()


def _decimal_amount(value: str) -> str:
    try:
        amount = Decimal(value)
    except InvalidOperation:
        raise ValueError("must be a decimal number written as a string, like '1250.00'") from None
    if not amount.is_finite() or amount <= 0:
        raise ValueError("must be a positive decimal number")
    return value


Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
ConsentMoment = Annotated[AwareDatetime, AfterValidator(plausible_consent)]
"""When the customer consented: timezone-aware, and within the years a claim can compute
its deadline for (see workflows/text.py)."""

Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=NAME_MAX_CHARS),
    AfterValidator(single_line),
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=3, max_length=254),
    AfterValidator(single_line),
    AfterValidator(_email),
]
LongText = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=FREE_TEXT_MAX_CHARS),
    AfterValidator(free_text),
]
Amount = Annotated[str, StringConstraints(max_length=32), AfterValidator(_decimal_amount)]

MAX_DOCUMENT_BYTES = 25 * 1024 * 1024


class Inbound(BaseModel):
    """Base of every message a caller sends: strict about unknown fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="wrap")
    @classmethod
    def _lenient_when_carried(
        cls, data: Any, handler: ModelWrapValidatorHandler[Any], info: ValidationInfo
    ) -> Any:
        """Strict for what callers send; lenient (validated with the context
        `{"lenient": True}`) for what a claim already accepted and carries on: its state
        in its next run, and what it reports (`Outbound` payloads, see starter.converter).
        A rule tightened in a later release must not fail claims accepted under the old."""
        try:
            return handler(data)
        except ValidationError:
            lenient = isinstance(info.context, dict) and info.context.get("lenient")
            if lenient and isinstance(data, dict):
                return cls.model_construct(**data)
            raise


class ActorJSON(TypedDict):
    """An actor as written: `partner_id` only when named."""

    user: str
    role: Role
    partner_id: NotRequired[str]


class Actor(Inbound):
    """Who did something: a portal user, the role they act in and, for a partner's user,
    the partner they act for.

    The portal always names `partner_id` for partner keys, so the claim itself
    refuses (`NotFound`, as for an unknown claim) a message from another
    partner's user; trusted callers (the command line, operators' scripts) may
    leave it out.
    """

    user: Name
    role: Role
    partner_id: Identifier | None = None

    @model_serializer(mode="wrap")
    def _without_unset_partner(self, handler: SerializerFunctionWrapHandler) -> ActorJSON:
        """`partner_id` is written only when named, so an actor the claim records (who and
        in which role) reads as it always has: `{"user", "role"}`."""
        data: ActorJSON = handler(self)
        if data.get("partner_id") is None:
            data.pop("partner_id", None)
        return data


class Party(Inbound):
    """A partner or a customer as the program knows it."""

    id: Identifier
    name: Name


class Contact(Inbound):
    """A person who receives e-mail about the claim, in their own language."""

    name: Name
    email: Email
    locale: Locale = "en"


class ClaimInputFields(Inbound):
    """ClaimInput without `actor`: what a portal request names (its API key is the actor)."""

    engagement_id: Identifier
    partner: Party
    customer: Party
    workshop: Name
    consent_at: ConsentMoment
    partner_contacts: list[Contact] = Field(min_length=1, max_length=MAX_CONTACTS)
    customer_contact: Contact
    workshop_type: Identifier | None = None
    """The workshop's code in the catalogue (CLAIMS_WORKSHOPS), which prices it for payment;
    the portal names it from the engagement registry. Trusted callers may leave it out:
    the claim is then priced by its workshop name (docs/payments.md)."""


class ClaimInput(ClaimInputFields):
    """Start input of a claim workflow."""

    actor: Actor


class Document(Inbound):
    """A stored file that proves part of the workshop's execution."""

    filename: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=255),
        AfterValidator(single_line),
    ]
    content_type: Annotated[
        str, StringConstraints(min_length=3, max_length=255), AfterValidator(single_line)
    ]
    size_bytes: int = Field(ge=1, le=MAX_DOCUMENT_BYTES)
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]
    uri: Annotated[
        str, StringConstraints(min_length=1, max_length=2048), AfterValidator(single_line)
    ]


class AttachDocument(Inbound):
    kind: DocumentKind
    document: Document
    actor: Actor


class SendSurvey(Inbound):
    kind: SurveyKind
    channel: SurveyChannel = "email"
    actor: Actor


class UpdateContactsFields(Inbound):
    """UpdateContacts without `actor`: what a portal request names (its API key is the actor)."""

    partner_contacts: list[Contact] | None = Field(
        default=None, min_length=1, max_length=MAX_CONTACTS
    )
    customer_contact: Contact | None = None


class UpdateContacts(UpdateContactsFields):
    actor: Actor


class AddCommentFields(Inbound):
    """AddComment without `actor`: what a portal request names (its API key is the actor)."""

    text: LongText


class AddComment(AddCommentFields):
    actor: Actor


class Submit(Inbound):
    actor: Actor


class RequestInfoFields(Inbound):
    """RequestInfo without `actor`: what a portal request names (its API key is the actor)."""

    question: LongText


class RequestInfo(RequestInfoFields):
    actor: Actor


class ApproveFields(Inbound):
    """Approve without `actor`: what a portal request names (its API key is the actor)."""

    note: LongText | None = None


class Approve(ApproveFields):
    actor: Actor


class RejectFields(Inbound):
    """Reject without `actor`: what a portal request names (its API key is the actor)."""

    reason: LongText


class Reject(RejectFields):
    actor: Actor


class CancelFields(Inbound):
    """Cancel without `actor`: what a portal request names (its API key is the actor)."""

    reason: LongText


class Cancel(CancelFields):
    """The partner withdraws a claim started by mistake, before it is submitted."""

    actor: Actor


class RespondInfoFields(Inbound):
    """RespondInfo without `actor`: what a portal request names (its API key is the actor)."""

    text: LongText


class RespondInfo(RespondInfoFields):
    """The partner's answer to the program's open question."""

    actor: Actor


class DisputeFields(Inbound):
    """Dispute without `actor`: what a portal request names (its API key is the actor)."""

    reason: LongText


class Dispute(DisputeFields):
    """The partner contests a rejection, within the dispute window."""

    actor: Actor


class ResendNotification(Inbound):
    """An operator (reviewer or program admin) sends the claim's last notification of a
    kind again, to the current contacts: after fixing a contact whose mail was refused."""

    kind: NotificationKind
    actor: Actor


class MailRetrying(Inbound):
    """From the mail activity to its claim (a signal): the head of the mail queue failed
    an attempt and is retried, so the claim can say its mail waits, and why."""

    key: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    attempt: int = Field(ge=1)
    since: AwareDatetime
    """When the first attempt at this notification was scheduled."""
    error: Annotated[str, StringConstraints(max_length=300)]
    """The error's type and message, no addresses (the activity's errors name none)."""


AnswerKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
AnswerValue = (
    Annotated[str, StringConstraints(max_length=ANSWER_MAX_CHARS), AfterValidator(free_text)]
    | int
    | float
)


class SurveyCompleted(Inbound):
    """A respondent finished a survey through the link of `link_version`."""

    kind: SurveyKind
    link_version: int = Field(ge=1)
    respondent_email: Email
    answers: Annotated[
        dict[AnswerKey, AnswerValue], Field(max_length=MAX_ANSWERS), AfterValidator(bounded_answers)
    ]


class PaymentIssued(Inbound):
    """The program paid an approved claim."""

    reference: Name
    amount: Amount
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")]
    paid_at: AwareDatetime


# --- the claim view: what `get_claim` and every update return -------------------------


class Outbound(BaseModel):
    """Base of what the claim reports: mutable (the workflow's state is built of it) and
    tolerant of fields added later, so an older reader keeps working."""

    model_config = ConfigDict(extra="ignore")


class DocumentProof(Outbound):
    status: Literal["missing", "attached"] = "missing"
    document: Document | None = None


class SurveyProof(Outbound):
    status: SurveyStatus = "not_sent"
    link_version: int = 1
    sent_count: int = 0
    last_sent_at: datetime | None = None
    completed_at: datetime | None = None


class Proof(Outbound):
    results_and_recommendations: DocumentProof = Field(default_factory=DocumentProof)
    partner_survey: SurveyProof = Field(default_factory=SurveyProof)
    customer_survey: SurveyProof = Field(default_factory=SurveyProof)
    invoice: DocumentProof = Field(default_factory=DocumentProof)


class Comment(Outbound):
    at: datetime
    actor: Actor
    text: str


class Question(Outbound):
    at: datetime
    actor: Actor
    question: str
    answer: str | None = None
    answered_at: datetime | None = None
    answered_by: Actor | None = None


class HistoryEntry(Outbound):
    """One line of the audit trail; `actor` is null for what the claim did by itself."""

    at: datetime
    actor: Actor | None
    event: str
    detail: dict[str, Any] = Field(default_factory=dict)


class Payment(Outbound):
    reference: str
    amount: str
    currency: str
    paid_at: datetime


class MailWaiting(Outbound):
    """Mail the claim owes but can't send right now (the mail server down or refusing)."""

    count: int
    """Notifications waiting in the claim's queue."""
    since: datetime
    """When the first attempt at the oldest waiting one was scheduled."""
    attempts: int
    last_error: str


class ClaimSubject(BaseModel):
    """What a claim is about, as its state keeps it and its view shows it: the engagement,
    its parties, the workshop and the customer's consent (fixed when the claim starts)."""

    engagement_id: str
    partner: Party
    customer: Party
    workshop: str
    workshop_type: str | None = None
    consent_at: datetime


def subject_of(claim: ClaimSubject | ClaimInputFields) -> dict[str, Any]:
    """The `ClaimSubject` fields of a claim's input, state or view by name (the same
    objects), to make another of them."""
    return {name: getattr(claim, name) for name in ClaimSubject.model_fields}


class ClaimView(Outbound, ClaimSubject):
    deadline_at: datetime
    status: ClaimStatus
    status_reason: str | None
    proof: Proof
    missing: list[ProofItem]
    partner_contacts: list[Contact]
    customer_contact: Contact
    customer_contact_locked: bool
    comments: list[Comment]
    questions: list[Question]
    allowed_actions: list[str]
    history: list[HistoryEntry]
    submitted_at: datetime | None
    decided_at: datetime | None
    paid_at: datetime | None
    payment: Payment | None
    reply_until: datetime | None = None
    """While `info_requested`: the end of the reply window (null for a claim whose
    question was asked before the reply window existed)."""
    dispute_until: datetime | None = None
    """While `rejected`: the end of the dispute window."""
    status_words: dict[Locale, str] = Field(default_factory=dict)
    """How the status reads in a sentence ("the claim is ..."), in English and Dutch."""
    payment_hold: str | None = None
    """Why an approved claim can't be paid now (e.g. its workshop type has no tariff any
    more); null when nothing holds it. Operators see it in the claim's current details."""
    mail_waiting: MailWaiting | None = None
    """Set while the claim's mail can't go out (retried without limit); null otherwise."""


# --- between the workflow and its activities ---------------------------------------------


class Notification(Outbound):
    """One e-mail notification the claim owes, identified by a stable key.

    The workflow decides who gets which notification; the mail activity renders
    and sends it. `key` never changes across retries, so the Message-ID derived
    from it lets anyone recognise a duplicate.
    """

    key: str
    kind: NotificationKind
    engagement_id: str
    partner_name: str
    customer_name: str
    workshop: str
    recipients: list[Contact]
    deadline_at: datetime
    survey_kind: SurveyKind | None = None
    link_version: int | None = None
    days_left: int | None = None
    missing: list[ProofItem] = Field(default_factory=list)
    text: str | None = None
    payment: Payment | None = None
    until: datetime | None = None
    """The end of the window the mail is about (reply or dispute window)."""
    to_review_desk: bool = False
    """For the program's review desk (CLAIMS_REVIEW_MAIL), not for `recipients`."""
    status: ClaimStatus | None = None
    """The claim's status when the mail was decided (review desk mails name it)."""
    trace_context: dict[str, str] = Field(default_factory=dict)
    """The trace of the request that led to this mail (W3C trace context), so its sending
    is traced as part of that request; empty when tracing is off."""


class RefusedRecipient(Outbound):
    email: str
    reason: str


class DeliveryReport(Outbound):
    """What the mail activity did: recipients the mail server refused for good are listed."""

    key: str
    delivered: int
    refused: list[RefusedRecipient] = Field(default_factory=list)
    handled: int = 0
    """Recipients dealt with so far, in order (delivered or refused): where a retry resumes."""


class StoreClaim(Outbound):
    """Persist the claim's latest view and its history entries from `since_seq` on."""

    view: ClaimView
    since_seq: int = 0
    release: int | None = None
    """The workflow release that asks (echoed in the receipt, see `StoreReceipt`)."""


class StoreReceipt(Outbound):
    """What a read-model write did. Its `release` echoes the workflow's, so the first
    write of a run records in history which release started the run: a version marker
    that costs no event of its own (earlier releases' writes returned a bare row count)."""

    rows: int
    release: int | None = None


def describe_validation_error(err: ValidationError) -> str:
    """One readable sentence per problem, naming the field and the rule it broke."""
    parts = []
    for problem in err.errors(include_url=False):
        field = ".".join(str(p) for p in problem["loc"]) or "payload"
        message = problem["msg"]
        if problem["type"] == "extra_forbidden":
            message = "is not a known field"
        elif problem["type"] == "missing":
            message = "is required"
        parts.append(f"{field}: {message}")
    return "; ".join(parts)
