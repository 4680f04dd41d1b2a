"""The workshop-claim rules, in plain Python: read this file to know the process.

Source: the partner-portal help page "Submitting a workshop claim" (its
steps are retold in docs/lifecycle.md). Nothing here knows about Temporal: the workflow asks these
functions what is allowed, applies the change they describe and runs the
notifications they queue. That keeps every rule in one place, unit-testable
without a server, and deterministic by construction (time is always passed in).

Each partner or reviewer action has two functions:
- ``check_<action>(claim, message, now)`` raises :class:`Refusal` when the
  action is not allowed now; it changes nothing.
- ``<action>(claim, message, now)`` applies an action that passed its check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from workflows.messages import (
    Actor,
    AddComment,
    Approve,
    AttachDocument,
    ClaimInput,
    ClaimStatus,
    ClaimView,
    Comment,
    Contact,
    DocumentProof,
    HistoryEntry,
    Notification,
    NotificationKind,
    Payment,
    PaymentIssued,
    ProofItem,
    Question,
    RefusalType,
    RefusedRecipient,
    Reject,
    RequestInfo,
    Role,
    SendSurvey,
    Submit,
    SurveyCompleted,
    SurveyKind,
    SurveyProof,
    UpdateContacts,
)
from workflows.state import ClaimState as ClaimState
from workflows.texts import action_words, item_label, status_words

# --- the numbers of the process -----------------------------------------------------------

SUBMISSION_WINDOW_DAYS = 90
SUBMISSION_WINDOW = timedelta(days=SUBMISSION_WINDOW_DAYS)
"""A claim must be submitted within 90 days of the customer's consent."""

REMINDER_DAYS_BEFORE_DEADLINE: tuple[int, ...] = (30, 7, 1)
"""Partner contacts are reminded this many days before the deadline, while in progress."""

AUTO_REJECT_REASON = f"not submitted within {SUBMISSION_WINDOW_DAYS} days of customer consent"

PROOF_ITEMS: tuple[ProofItem, ...] = (
    "results_and_recommendations",
    "partner_survey",
    "customer_survey",
    "invoice",
)

PARTNER_ROLES = frozenset({"incentives_admin", "incentives_user"})
REVIEWER_ROLES = frozenset({"reviewer"})

PARTNER_WORKING: frozenset[ClaimStatus] = frozenset({"in_progress", "info_requested"})
"""While the partner is preparing or completing the claim."""

FINAL: frozenset[ClaimStatus] = frozenset({"paid", "rejected", "auto_rejected", "terminated"})
"""The claim is over: the workflow ends (`terminated`: it was ended from outside)."""


class Refusal(Exception):
    """An action the rules do not allow now; the claim is left unchanged."""

    def __init__(self, type: RefusalType, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.type: RefusalType = type
        self.message = message
        self.details: list[str] = details or []


# --- the claim's state (the model: workflows/state.py) ------------------------------------


def _move_to(claim: ClaimState, status: ClaimStatus, reason: str | None, now: datetime) -> None:
    claim.status = status
    claim.status_reason = reason
    claim.status_since = now


def status_since(claim: ClaimState) -> datetime:
    """When the claim entered its current status."""
    return claim.status_since or claim.history[0].at


def deadline_after(consent_at: datetime) -> datetime:
    """The submission deadline of a claim whose customer consented at `consent_at`."""
    return consent_at + SUBMISSION_WINDOW


def deadline_of(claim: ClaimState) -> datetime:
    return deadline_after(claim.consent_at)


def days_left(deadline: datetime, now: datetime) -> int:
    """Whole days until the deadline, rounded up (0 once it has passed)."""
    seconds = (deadline - now).total_seconds()
    return max(0, -int(-seconds // 86400))


def is_final(claim: ClaimState) -> bool:
    return claim.status in FINAL


def missing_items(claim: ClaimState) -> list[ProofItem]:
    """Unfinished proof items, in the order the help page lists them."""
    proof = claim.proof
    done = {
        "results_and_recommendations": proof.results_and_recommendations.status == "attached",
        "partner_survey": proof.partner_survey.status == "completed",
        "customer_survey": proof.customer_survey.status == "completed",
        "invoice": proof.invoice.status == "attached",
    }
    return [item for item in PROOF_ITEMS if not done[item]]


def survey(claim: ClaimState, kind: SurveyKind) -> SurveyProof:
    return claim.proof.partner_survey if kind == "partner" else claim.proof.customer_survey


def customer_contact_locked(claim: ClaimState) -> bool:
    """Once the customer survey is completed, the customer's contact can't change."""
    return claim.proof.customer_survey.status == "completed"


def record(
    claim: ClaimState,
    now: datetime,
    actor: Actor | None,
    event: str,
    detail: dict[str, Any] | None = None,
) -> None:
    """Append to the audit trail; every accepted change and refused signal passes here."""
    who = None if actor is None else recorded_actor(actor)
    claim.history.append(HistoryEntry(at=now, actor=who, event=event, detail=detail or {}))


def recorded_actor(actor: Actor) -> Actor:
    """An actor as the claim keeps it: who, in which role (their partner is the claim's)."""
    return Actor(user=actor.user, role=actor.role)


def notify(
    claim: ClaimState,
    kind: NotificationKind,
    recipients: list[Contact],
    **fields: Any,
) -> None:
    """Queue a notification; its key is stable (claim and sequence) for idempotent sending."""
    claim.notifications_made += 1
    claim.outbox.append(
        Notification(
            key=f"{claim.engagement_id}.n{claim.notifications_made}",
            kind=kind,
            engagement_id=claim.engagement_id,
            partner_name=claim.partner.name,
            customer_name=claim.customer.name,
            workshop=claim.workshop,
            recipients=list(recipients),
            deadline_at=deadline_of(claim),
            **fields,
        )
    )


# --- starting, the clock and the end ----------------------------------------------------


def check_start(claim_input: ClaimInput) -> None:
    """Only the partner's incentives administrators and users start claims, and only
    for the partner they act for."""
    actor = claim_input.actor
    check_role("start", actor.role)
    if not sees_claim(actor, claim_input.partner.id):
        raise Refusal(
            "NotAllowed",
            f"partner.id: you act for partner {actor.partner_id}, not for {claim_input.partner.id}",
        )


def open_claim(claim_input: ClaimInput, now: datetime) -> ClaimState:
    claim = ClaimState(
        engagement_id=claim_input.engagement_id,
        partner=claim_input.partner,
        customer=claim_input.customer,
        workshop=claim_input.workshop,
        workshop_type=claim_input.workshop_type,
        consent_at=claim_input.consent_at,
        started_by=recorded_actor(claim_input.actor),
        partner_contacts=list(claim_input.partner_contacts),
        customer_contact=claim_input.customer_contact,
    )
    record(
        claim, now, claim_input.actor, "claim_started", {"deadline_at": _iso(deadline_of(claim))}
    )
    return claim


@dataclass(frozen=True)
class Checkpoint:
    """A moment the claim must wake up for while it is in progress."""

    at: datetime
    days_before_deadline: int
    """0 is the deadline itself."""

    @property
    def summary(self) -> str:
        if self.days_before_deadline == 0:
            return f"{SUBMISSION_WINDOW_DAYS}-day claim deadline"
        return reminder_summary(self.days_before_deadline)


def reminder_summary(days_left: int) -> str:
    """How a reminder is named to operators, on its timer and on its e-mail activity."""
    return f"reminder: {days_left} day{'' if days_left == 1 else 's'} left"


def checkpoints(claim: ClaimState, now: datetime) -> list[Checkpoint]:
    """Reminders still ahead (those already past are skipped), then the deadline."""
    deadline = deadline_of(claim)
    ahead = [
        Checkpoint(deadline - timedelta(days=days), days)
        for days in REMINDER_DAYS_BEFORE_DEADLINE
        if deadline - timedelta(days=days) > now
    ]
    return [*ahead, Checkpoint(deadline, 0)]


def reach_checkpoint(claim: ClaimState, checkpoint: Checkpoint, now: datetime) -> None:
    """A reminder or the deadline arrived; only a claim still in progress is affected."""
    if claim.status != "in_progress":
        return
    if checkpoint.days_before_deadline == 0:
        auto_reject(claim, now)
        return
    missing = missing_items(claim)
    record(
        claim,
        now,
        None,
        "reminder_sent",
        {"days_left": checkpoint.days_before_deadline, "missing": missing},
    )
    notify(
        claim,
        "reminder",
        claim.partner_contacts,
        days_left=checkpoint.days_before_deadline,
        missing=missing,
    )


def auto_reject(claim: ClaimState, now: datetime) -> None:
    _move_to(claim, "auto_rejected", AUTO_REJECT_REASON, now)
    claim.decided_at = now
    record(claim, now, None, "auto_rejected", {"reason": AUTO_REJECT_REASON})
    notify(claim, "auto_rejected", claim.partner_contacts, missing=missing_items(claim))


# --- who may do what, when ------------------------------------------------------------


@dataclass(frozen=True)
class ActionRule:
    side: Literal["partner", "reviewer"]
    statuses: frozenset[ClaimStatus]


ACTIONS: dict[str, ActionRule] = {
    "attach_document": ActionRule("partner", PARTNER_WORKING),
    "send_survey": ActionRule("partner", PARTNER_WORKING),
    "update_contacts": ActionRule("partner", PARTNER_WORKING),
    "add_comment": ActionRule("partner", PARTNER_WORKING),
    "submit": ActionRule("partner", PARTNER_WORKING),
    "request_info": ActionRule("reviewer", frozenset({"submitted"})),
    "approve": ActionRule("reviewer", frozenset({"submitted"})),
    "reject": ActionRule("reviewer", frozenset({"submitted", "info_requested"})),
}
"""Every update, who may send it and in which statuses. The order is the view's order."""


def check_role(action: str, role: Role) -> None:
    """Partner actions are for partner roles, review actions for reviewers."""
    side = ACTIONS[action].side if action in ACTIONS else "partner"
    if side == "partner" and role not in PARTNER_ROLES:
        raise Refusal(
            "NotAllowed",
            f"{action_words(action)} is done by the partner's incentives administrators "
            f"or users, not by the role '{role}'",
        )
    if side == "reviewer" and role not in REVIEWER_ROLES:
        raise Refusal(
            "NotAllowed",
            f"{action_words(action)} is done by the program's reviewers, not by the role '{role}'",
        )


def deadline_passed(deadline: datetime) -> Refusal:
    """The refusal for any change to a claim whose submission window ran out."""
    return Refusal(
        "DeadlinePassed",
        f"the claim was not submitted by its deadline {_iso(deadline)} "
        f"({SUBMISSION_WINDOW_DAYS} days after customer consent) and can no longer change",
    )


def check_status(action: str, status: ClaimStatus, deadline: datetime, now: datetime) -> None:
    """Is `action` possible for a claim in `status` with this deadline, now?"""
    if status == "auto_rejected" or (status == "in_progress" and now >= deadline):
        raise deadline_passed(deadline)
    if status not in ACTIONS[action].statuses:
        raise Refusal(
            "WrongState",
            f"{action_words(action)} is not possible while the claim is {status_words(status)}",
        )


def closed_claim_refusal(status: ClaimStatus | None, deadline: datetime | None) -> Refusal:
    """The refusal for a message to a claim whose workflow has ended."""
    if status == "auto_rejected" and deadline is not None:
        return deadline_passed(deadline)
    words = status_words(status) if status is not None else "finished"
    return Refusal("WrongState", f"the claim is {words} and can no longer change")


def sees_claim(actor: Actor, claim_partner_id: str) -> bool:
    """A partner's user sees their own partner's claims only; reviewers and trusted
    callers (no `partner_id`) see every claim."""
    return actor.partner_id is None or actor.partner_id == claim_partner_id


def check_tenancy(engagement_id: str, claim_partner_id: str, actor: Actor) -> None:
    """Another partner's claim is refused exactly like a claim that does not exist."""
    if not sees_claim(actor, claim_partner_id):
        raise Refusal("NotFound", f"there is no claim for engagement {engagement_id}")


def check_action_on(
    action: str,
    actor: Actor,
    *,
    engagement_id: str,
    partner_id: str,
    status: ClaimStatus,
    deadline: datetime,
    now: datetime,
) -> None:
    """Who may do `action` to a claim with these facts, now: role, then tenancy, then
    status. The workflow asks it of its state; the portal asks it of a view before a
    costly step (an upload) that the claim would refuse anyway."""
    check_role(action, actor.role)
    check_tenancy(engagement_id, partner_id, actor)
    check_status(action, status, deadline, now)


def _check_action(action: str, claim: ClaimState, actor: Actor, now: datetime) -> None:
    check_action_on(
        action,
        actor,
        engagement_id=claim.engagement_id,
        partner_id=claim.partner.id,
        status=claim.status,
        deadline=deadline_of(claim),
        now=now,
    )


def _completed_survey_refusal(kind: SurveyKind) -> Refusal:
    return Refusal("SurveyCompleted", f"the {kind} survey is already completed")


def check_attach_document(claim: ClaimState, msg: AttachDocument, now: datetime) -> None:
    _check_action("attach_document", claim, msg.actor, now)


def check_send_survey(claim: ClaimState, msg: SendSurvey, now: datetime) -> None:
    # Tenancy before the input's own checks: another partner learns nothing from them.
    check_tenancy(claim.engagement_id, claim.partner.id, msg.actor)
    if msg.channel == "direct" and msg.kind == "customer":
        raise Refusal(
            "InvalidInput",
            "channel: 'direct' is only for the partner survey; "
            "the customer survey is sent by e-mail",
        )
    _check_action("send_survey", claim, msg.actor, now)
    if survey(claim, msg.kind).status == "completed":
        raise _completed_survey_refusal(msg.kind)


def check_update_contacts(claim: ClaimState, msg: UpdateContacts, now: datetime) -> None:
    # Tenancy before the input's own checks: another partner learns nothing from them.
    check_tenancy(claim.engagement_id, claim.partner.id, msg.actor)
    if msg.partner_contacts is None and msg.customer_contact is None:
        raise Refusal(
            "InvalidInput", "partner_contacts or customer_contact: give at least one to change"
        )
    _check_action("update_contacts", claim, msg.actor, now)
    if (
        msg.customer_contact is not None
        and msg.customer_contact != claim.customer_contact
        and customer_contact_locked(claim)
    ):
        raise Refusal(
            "ContactLocked",
            "customer_contact: the customer survey is completed, so the customer's contact "
            "details can no longer change",
        )


def check_add_comment(claim: ClaimState, msg: AddComment, now: datetime) -> None:
    _check_action("add_comment", claim, msg.actor, now)


def check_submit(claim: ClaimState, msg: Submit, now: datetime) -> None:
    _check_action("submit", claim, msg.actor, now)
    missing = missing_items(claim)
    if missing:
        raise Refusal(
            "Incomplete",
            "the claim can't be submitted until its proof is complete; missing: "
            + ", ".join(item_label(item) for item in missing),
            list(missing),
        )


def check_request_info(claim: ClaimState, msg: RequestInfo, now: datetime) -> None:
    _check_action("request_info", claim, msg.actor, now)


def check_approve(claim: ClaimState, msg: Approve, now: datetime) -> None:
    _check_action("approve", claim, msg.actor, now)


def check_reject(claim: ClaimState, msg: Reject, now: datetime) -> None:
    _check_action("reject", claim, msg.actor, now)


def allowed_actions(claim: ClaimState, now: datetime) -> list[str]:
    """The updates the claim's state allows now, for someone in the right role.

    An action is listed when some input of it would be accepted: submit is
    listed only once nothing is missing, send_survey only while a survey is
    not completed.
    """
    allowed = []
    for action in ACTIONS:
        try:
            check_status(action, claim.status, deadline_of(claim), now)
        except Refusal:
            continue
        if action == "submit" and missing_items(claim):
            continue
        if action == "send_survey" and all(
            survey(claim, kind).status == "completed" for kind in ("partner", "customer")
        ):
            continue
        allowed.append(action)
    return allowed


# --- applying partner actions -------------------------------------------------------------


def attach_document(claim: ClaimState, msg: AttachDocument, now: datetime) -> None:
    """A new attachment of a kind replaces the old one; the history keeps both."""
    slot: DocumentProof = getattr(claim.proof, msg.kind)
    replaced = slot.document
    slot.status = "attached"
    slot.document = msg.document
    detail: dict[str, Any] = {"kind": msg.kind, "document": msg.document.model_dump(mode="json")}
    if replaced is not None:
        detail["replaced"] = replaced.model_dump(mode="json")
    record(claim, now, msg.actor, "document_attached", detail)


def send_survey(claim: ClaimState, msg: SendSurvey, now: datetime) -> None:
    """First send and every re-send; a re-send reuses the current link."""
    proof = survey(claim, msg.kind)
    proof.status = "sent"
    proof.sent_count += 1
    proof.last_sent_at = now
    recipients = claim.partner_contacts if msg.kind == "partner" else [claim.customer_contact]
    record(
        claim,
        now,
        msg.actor,
        "survey_sent",
        {
            "kind": msg.kind,
            "channel": msg.channel,
            "link_version": proof.link_version,
            "recipients": 0 if msg.channel == "direct" else len(recipients),
        },
    )
    if msg.channel == "email":
        notify(
            claim,
            "survey_invitation",
            recipients,
            survey_kind=msg.kind,
            link_version=proof.link_version,
        )


def _invalidate_link(claim: ClaimState, kind: SurveyKind) -> int | None:
    """A changed contact's unfinished survey link stops working until sent again."""
    proof = survey(claim, kind)
    if proof.status != "sent":
        return None
    proof.link_version += 1
    proof.status = "invalidated"
    return proof.link_version


def update_contacts(claim: ClaimState, msg: UpdateContacts, now: datetime) -> None:
    detail: dict[str, Any] = {"changed": [], "invalidated": []}
    if msg.partner_contacts is not None and msg.partner_contacts != claim.partner_contacts:
        claim.partner_contacts = list(msg.partner_contacts)
        detail["changed"].append("partner_contacts")
        if _invalidate_link(claim, "partner") is not None:
            detail["invalidated"].append("partner_survey")
    if msg.customer_contact is not None and msg.customer_contact != claim.customer_contact:
        claim.customer_contact = msg.customer_contact
        detail["changed"].append("customer_contact")
        if _invalidate_link(claim, "customer") is not None:
            detail["invalidated"].append("customer_survey")
    record(claim, now, msg.actor, "contacts_updated", detail)


def add_comment(claim: ClaimState, msg: AddComment, now: datetime) -> None:
    claim.comments.append(Comment(at=now, actor=recorded_actor(msg.actor), text=msg.text))
    record(claim, now, msg.actor, "comment_added", {"text": msg.text})


def submit(claim: ClaimState, msg: Submit, now: datetime) -> None:
    resubmission = claim.status == "info_requested"
    _move_to(claim, "submitted", None, now)
    claim.submitted_at = now
    record(claim, now, msg.actor, "resubmitted" if resubmission else "submitted")


def submit_refused(claim: ClaimState, msg: Submit, refusal: Refusal, now: datetime) -> None:
    """A submit signal can't be refused to its sender, so the refusal goes on the record."""
    record(
        claim,
        now,
        msg.actor,
        "submit_refused",
        {"type": refusal.type, "message": refusal.message, "missing": refusal.details},
    )


# --- applying reviewer actions ------------------------------------------------------------


def request_info(claim: ClaimState, msg: RequestInfo, now: datetime) -> None:
    _move_to(claim, "info_requested", msg.question, now)
    claim.questions.append(Question(at=now, actor=recorded_actor(msg.actor), question=msg.question))
    record(claim, now, msg.actor, "info_requested", {"question": msg.question})
    notify(claim, "info_requested", claim.partner_contacts, text=msg.question)


def approve(claim: ClaimState, msg: Approve, now: datetime) -> None:
    _move_to(claim, "approved", msg.note, now)
    claim.decided_at = now
    record(claim, now, msg.actor, "approved", {"note": msg.note})
    notify(claim, "approved", claim.partner_contacts, text=msg.note)


def reject(claim: ClaimState, msg: Reject, now: datetime) -> None:
    _move_to(claim, "rejected", msg.reason, now)
    claim.decided_at = now
    record(claim, now, msg.actor, "rejected", {"reason": msg.reason})
    notify(claim, "rejected", claim.partner_contacts, text=msg.reason)


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


# --- the view -----------------------------------------------------------------------------


def view(claim: ClaimState, now: datetime) -> ClaimView:
    return ClaimView(
        engagement_id=claim.engagement_id,
        partner=claim.partner,
        customer=claim.customer,
        workshop=claim.workshop,
        workshop_type=claim.workshop_type,
        consent_at=claim.consent_at,
        deadline_at=deadline_of(claim),
        status=claim.status,
        status_reason=claim.status_reason,
        proof=claim.proof.model_copy(deep=True),
        missing=missing_items(claim),
        partner_contacts=list(claim.partner_contacts),
        customer_contact=claim.customer_contact,
        customer_contact_locked=customer_contact_locked(claim),
        comments=list(claim.comments),
        questions=list(claim.questions),
        allowed_actions=allowed_actions(claim, now),
        history=list(claim.history),
        submitted_at=claim.submitted_at,
        decided_at=claim.decided_at,
        paid_at=claim.paid_at,
        payment=claim.payment,
        payment_hold=claim.payment_hold,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat()
