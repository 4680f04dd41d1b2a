"""The workshop-claim rules, in plain Python: read this file to know the process.

Source: the partner-portal help page "Submitting a workshop claim" (its
steps are retold in docs/lifecycle.md). Nothing here knows about Temporal: the workflow asks these
functions what is allowed, applies the change they describe and runs the
notifications they queue. That keeps every rule in one place, unit-testable
without a server, and deterministic by construction (time is always passed in).

What happens after submission (cancel, the answer to a question, disputes and
the reply, dispute and review clocks) is in workflows/after_submission.py; its
windows are named here with the others.

Each partner or reviewer action has two functions:
- ``check_<action>(claim, message, now)`` raises :class:`Refusal` when the
  action is not allowed now; it changes nothing.
- ``<action>(claim, message, now)`` applies an action that passed its check.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Literal

from workflows.messages import Actor
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import AttachDocument
from workflows.messages import ClaimInput
from workflows.messages import ClaimStatus
from workflows.messages import ClaimView
from workflows.messages import Comment
from workflows.messages import Contact
from workflows.messages import DocumentProof
from workflows.messages import HistoryEntry
from workflows.messages import Notification
from workflows.messages import NotificationKind
from workflows.messages import ProofItem
from workflows.messages import Question
from workflows.messages import RefusalType
from workflows.messages import Reject
from workflows.messages import RequestInfo
from workflows.messages import Role
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyKind
from workflows.messages import SurveyProof
from workflows.messages import UpdateContacts
from workflows.messages import subject_of
from workflows.state import ClaimState as ClaimState
from workflows.texts import action_words
from workflows.texts import item_label
from workflows.texts import status_words

# --- the numbers of the process -----------------------------------------------------------

SUBMISSION_WINDOW_DAYS = 90
SUBMISSION_WINDOW = timedelta(days=SUBMISSION_WINDOW_DAYS)
"""A claim must be submitted within 90 days of the customer's consent."""

REMINDER_DAYS_BEFORE_DEADLINE: tuple[int, ...] = (30, 7, 1)
"""Partner contacts are reminded this many days before the deadline, while in progress."""

AUTO_REJECT_REASON = f"not submitted within {SUBMISSION_WINDOW_DAYS} days of customer consent"

REPLY_WINDOW_DAYS = 30
REPLY_WINDOW = timedelta(days=REPLY_WINDOW_DAYS)
"""The partner has this long from `request_info` to submit again, or the claim expires."""
REPLY_REMINDER_DAYS_BEFORE: tuple[int, ...] = (7, 1)
"""Partner contacts are reminded this many days before the reply window ends."""
DISPUTE_WINDOW_DAYS = 30
DISPUTE_WINDOW = timedelta(days=DISPUTE_WINDOW_DAYS)
"""A rejection can be disputed for this long; then it is final."""
REVIEW_CLOCK_DAYS = 10
REVIEW_CLOCK = timedelta(days=REVIEW_CLOCK_DAYS)
"""A claim waiting this long for review (submitted or disputed) is escalated, once."""
EXPIRED_REASON = f"no response within {REPLY_WINDOW_DAYS} days"

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

FINAL: frozenset[ClaimStatus] = frozenset(
    {"paid", "rejected_final", "expired", "cancelled", "auto_rejected", "terminated"}
)
"""The claim is over: the workflow ends (also `rejected` without a dispute window: a
claim rejected before disputes existed, see `is_final`; `terminated`: ended from outside,
recorded by the reconciliation, never by the claim)."""


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
    return claim.status in FINAL or (claim.status == "rejected" and claim.dispute_until is None)


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
    notification = Notification(
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
    claim.outbox.append(notification)
    claim.last_notifications[kind] = notification


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
        **subject_of(claim_input),
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
    "cancel": ActionRule("partner", PARTNER_WORKING),
    "respond_info": ActionRule("partner", frozenset({"info_requested"})),
    "dispute": ActionRule("partner", frozenset({"rejected"})),
    "request_info": ActionRule("reviewer", frozenset({"submitted"})),
    "approve": ActionRule("reviewer", frozenset({"submitted", "disputed"})),
    "reject": ActionRule("reviewer", frozenset({"submitted", "info_requested", "disputed"})),
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
    if unanswered_question(claim) is not None:
        raise Refusal(
            "Incomplete",
            "the claim can't be submitted again until the program's question is answered "
            "(respond_info)",
            ["info_response"],
        )
    missing = missing_items(claim)
    if missing:
        raise Refusal(
            "Incomplete",
            "the claim can't be submitted until its proof is complete; missing: "
            + ", ".join(item_label(item) for item in missing),
            list(missing),
        )


def open_question(claim: ClaimState) -> Question | None:
    """The program's question while `info_requested`, until `respond_info` answers it."""
    if claim.status != "info_requested" or not claim.questions:
        return None
    question = claim.questions[-1]
    return question if question.answered_at is None else None


def unanswered_question(claim: ClaimState) -> Question | None:
    """An open question that blocks a new submission. A question asked before the reply
    window existed (no `reply_until`) does not: its partner was told to answer by comment
    and submit again, and the claim keeps that promise."""
    question = open_question(claim)
    return question if question is not None and claim.reply_until is not None else None


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
        if action == "submit" and (missing_items(claim) or unanswered_question(claim)):
            continue
        if action == "respond_info" and open_question(claim) is None:
            continue
        if action == "dispute" and (claim.dispute_until is None or now >= claim.dispute_until):
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
    record(claim, now, msg.actor, "comment_added", {"comment": len(claim.comments)})


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


def _tell_partner(
    claim: ClaimState,
    now: datetime,
    actor: Actor,
    event: NotificationKind,
    text: tuple[str, str],
    until: Literal["reply_until", "dispute_until"],
) -> None:
    """Record a reviewer's `event` with its `text` (named in the detail) and the end of the
    window it opened (the claim's field `until`, None when the claim keeps no such window);
    then mail both to the partner contacts."""
    detail: dict[str, Any] = {text[0]: text[1]}
    end: datetime | None = getattr(claim, until)
    if end is not None:
        detail[until] = _iso(end)
    record(claim, now, actor, event, detail)
    notify(claim, event, claim.partner_contacts, text=text[1], until=end)


def request_info(claim: ClaimState, msg: RequestInfo, now: datetime) -> None:
    _move_to(claim, "info_requested", msg.question, now)
    claim.questions.append(Question(at=now, actor=recorded_actor(msg.actor), question=msg.question))
    if "reply_window" in claim.clocks:
        claim.reply_until = now + REPLY_WINDOW
    _tell_partner(
        claim, now, msg.actor, "info_requested", ("question", msg.question), "reply_until"
    )


def approve(claim: ClaimState, msg: Approve, now: datetime) -> None:
    _move_to(claim, "approved", msg.note, now)
    claim.decided_at = now
    record(claim, now, msg.actor, "approved", {"note": msg.note})
    notify(claim, "approved", claim.partner_contacts, text=msg.note)


def reject(claim: ClaimState, msg: Reject, now: datetime) -> None:
    """A first rejection can be disputed within the window; a disputed claim's rejection
    is final at once."""
    claim.decided_at = now
    if claim.status == "disputed":
        _move_to(claim, "rejected_final", msg.reason, now)
        record(claim, now, msg.actor, "rejected_final", {"reason": msg.reason})
        notify(claim, "rejected_final", claim.partner_contacts, text=msg.reason)
        return
    _move_to(claim, "rejected", msg.reason, now)
    if "dispute_window" in claim.clocks:
        claim.dispute_until = now + DISPUTE_WINDOW
    _tell_partner(claim, now, msg.actor, "rejected", ("reason", msg.reason), "dispute_until")


# --- the view -----------------------------------------------------------------------------


def view(claim: ClaimState, now: datetime) -> ClaimView:
    return ClaimView(
        **subject_of(claim),
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
        reply_until=claim.reply_until if claim.status == "info_requested" else None,
        dispute_until=claim.dispute_until if claim.status == "rejected" else None,
        status_words={locale: status_words(claim.status, locale) for locale in ("en", "nl")},
        payment_hold=claim.payment_hold,
        mail_waiting=claim.mail_waiting,
    )


def _iso(moment: datetime) -> str:
    return moment.isoformat()


# --- every rule answers to `rules.<name>`: the parts kept in modules of their own ---------
# (imported last: they build on the rules above; E402 is waived for this file)

from workflows.rules.after_submission import OPERATOR_CANCEL_REASON as OPERATOR_CANCEL_REASON
from workflows.rules.after_submission import Clock as Clock
from workflows.rules.after_submission import cancel as cancel
from workflows.rules.after_submission import cancel_by_operator as cancel_by_operator
from workflows.rules.after_submission import check_cancel as check_cancel
from workflows.rules.after_submission import check_dispute as check_dispute
from workflows.rules.after_submission import check_respond_info as check_respond_info
from workflows.rules.after_submission import dispute as dispute
from workflows.rules.after_submission import next_clock as next_clock
from workflows.rules.after_submission import reach_clock as reach_clock
from workflows.rules.after_submission import respond_info as respond_info
from workflows.rules.after_submission import settle_clocks as settle_clocks
from workflows.rules.mail import OPERATOR_ROLES as OPERATOR_ROLES
from workflows.rules.mail import check_resend_notification as check_resend_notification
from workflows.rules.mail import mail_sent as mail_sent
from workflows.rules.mail import note_mail_retrying as note_mail_retrying
from workflows.rules.mail import pending_notifications as pending_notifications
from workflows.rules.mail import resend_notification as resend_notification
from workflows.rules.signals import check_complete_survey as check_complete_survey
from workflows.rules.signals import complete_survey as complete_survey
from workflows.rules.signals import issue_payment as issue_payment
from workflows.rules.signals import record_undeliverable as record_undeliverable
from workflows.rules.signals import survey_answer_refusal as survey_answer_refusal
