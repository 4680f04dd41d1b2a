"""Unit tests of the claim rules in workflows/rules.py: plain Python, no Temporal, no I/O.

Claims are opened with ``rules.open_claim`` and brought to a state by the same
check-then-apply calls the workflow makes, so each test starts from a state the
rules themselves can reach.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import TypeVar
from typing import get_args

import pytest

from tests.builders import CONSENT
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_CONTACTS
from tests.builders import PARTNER_USER
from tests.builders import REVIEWER
from tests.builders import attach
from tests.builders import claim_input
from workflows import operator_text
from workflows import rules
from workflows.messages import Actor
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import Cancel
from workflows.messages import ClaimStatus
from workflows.messages import Contact
from workflows.messages import Dispute
from workflows.messages import DocumentKind
from workflows.messages import Notification
from workflows.messages import NotificationKind
from workflows.messages import PaymentIssued
from workflows.messages import RefusalType
from workflows.messages import Reject
from workflows.messages import RequestInfo
from workflows.messages import RespondInfo
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyChannel
from workflows.messages import SurveyCompleted
from workflows.messages import SurveyKind
from workflows.messages import UpdateContacts
from workflows.payment_holds import hold_payment
from workflows.payments_messages import PaymentHeld
from workflows.rules import ClaimState
from workflows.rules import Refusal

DEADLINE = CONSENT + timedelta(days=90)
NOW = CONSENT + timedelta(days=10)
"""When the claim is opened and acted on, unless a test says otherwise."""
LATER = NOW + timedelta(days=1)

NEW_PARTNER_CONTACTS = [Contact(name="Nina Nieuw", email="nina@partner.example", locale="nl")]
NEW_CUSTOMER_CONTACT = Contact(name="Chris Customer", email="chris@customer.example")
OTHER_PARTNERS_ADMIN = PARTNER_ADMIN.model_copy(update={"partner_id": "partner-99"})
"""An admin acting for another partner than the claims' own (partner-42)."""

M = TypeVar("M")
Check = Callable[[ClaimState, M, datetime], None]
Apply = Callable[[ClaimState, M, datetime], None]


# --- messages ------------------------------------------------------------------------------


def send(kind: SurveyKind, channel: SurveyChannel = "email") -> SendSurvey:
    return SendSurvey(kind=kind, channel=channel, actor=PARTNER_ADMIN)


def completion(kind: SurveyKind, link_version: int) -> SurveyCompleted:
    return SurveyCompleted(
        kind=kind,
        link_version=link_version,
        respondent_email="respondent@example.com",
        answers={"q1": 5, "q2": "useful"},
    )


def payment() -> PaymentIssued:
    return PaymentIssued(reference="PAY-1", amount="1250.00", currency="EUR", paid_at=LATER)


# --- bringing a claim to a state through the rules -----------------------------------------


def act(
    claim: ClaimState, check: Check[M], apply: Apply[M], msg: M, now: datetime = NOW
) -> ClaimState:
    """What the workflow does for an update: the check must pass, then the change applies.
    Returns the claim, so a state can be built as one chain of actions."""
    check(claim, msg, now)
    apply(claim, msg, now)
    return claim


def new_claim() -> ClaimState:
    return rules.open_claim(claim_input(CONSENT), NOW)


def attach_item(claim: ClaimState, kind: DocumentKind) -> None:
    act(claim, rules.check_attach_document, rules.attach_document, attach(kind))


def send_survey(claim: ClaimState, kind: SurveyKind, channel: SurveyChannel = "email") -> None:
    act(claim, rules.check_send_survey, rules.send_survey, send(kind, channel))


def complete_survey(claim: ClaimState, kind: SurveyKind) -> None:
    send_survey(claim, kind)
    assert rules.complete_survey(
        claim, completion(kind, rules.survey(claim, kind).link_version), NOW
    )


def update_contacts(claim: ClaimState, **changes: Any) -> None:
    msg = UpdateContacts(actor=PARTNER_ADMIN, **changes)
    act(claim, rules.check_update_contacts, rules.update_contacts, msg)


def with_customer_survey_completed() -> ClaimState:
    claim = new_claim()
    complete_survey(claim, "customer")
    return claim


def with_all_proof() -> ClaimState:
    claim = new_claim()
    attach_item(claim, "invoice")
    attach_item(claim, "results_and_recommendations")
    complete_survey(claim, "partner")
    complete_survey(claim, "customer")
    return claim


def submitted() -> ClaimState:
    return act(with_all_proof(), rules.check_submit, rules.submit, Submit(actor=PARTNER_USER))


def info_requested(claim: ClaimState | None = None) -> ClaimState:
    """A question asked of a submitted claim (`claim`, or a new one with no clocks)."""
    msg = RequestInfo(question="Which team ran the workshop?", actor=REVIEWER)
    return act(claim or submitted(), rules.check_request_info, rules.request_info, msg)


def approved() -> ClaimState:
    msg = Approve(note="Well documented", actor=REVIEWER)
    return act(submitted(), rules.check_approve, rules.approve, msg)


def paid() -> ClaimState:
    claim = approved()
    assert rules.issue_payment(claim, payment(), LATER)
    return claim


def rejected(claim: ClaimState | None = None) -> ClaimState:
    """A submitted claim (`claim`, or a new one with no clocks) rejected."""
    msg = Reject(reason="No invoice", actor=REVIEWER)
    return act(claim or submitted(), rules.check_reject, rules.reject, msg)


def auto_rejected() -> ClaimState:
    claim = new_claim()
    rules.reach_checkpoint(claim, rules.checkpoints(claim, NOW)[-1], DEADLINE)
    return claim


def last_event(claim: ClaimState) -> tuple[str, dict[str, Any]]:
    entry = claim.history[-1]
    return entry.event, entry.detail


def without_history(claim: ClaimState) -> dict[str, Any]:
    return claim.model_dump(exclude={"history"})


# --- deadline and checkpoints --------------------------------------------------------------


def test_deadline_is_consent_plus_90_days() -> None:
    claim = new_claim()

    assert rules.deadline_of(claim) == datetime(2026, 4, 1, tzinfo=UTC)
    assert claim.history[0].event == "claim_started"
    assert claim.history[0].detail == {"deadline_at": DEADLINE.isoformat()}


def test_checkpoints_of_a_fresh_claim_are_the_three_reminders_then_the_deadline() -> None:
    points = rules.checkpoints(new_claim(), NOW)

    assert [(p.at, p.days_before_deadline) for p in points] == [
        (DEADLINE - timedelta(days=30), 30),
        (DEADLINE - timedelta(days=7), 7),
        (DEADLINE - timedelta(days=1), 1),
        (DEADLINE, 0),
    ]
    assert [p.summary for p in points] == [
        "reminder: 30 days left",
        "reminder: 7 days left",
        "reminder: 1 day left",
        "90-day claim deadline",
    ]


@pytest.mark.parametrize(
    ("now", "days_before_deadline"),
    [
        pytest.param(DEADLINE - timedelta(days=30, seconds=-1), [7, 1, 0], id="30-day-past"),
        pytest.param(DEADLINE - timedelta(days=2), [1, 0], id="7-day-past"),
        pytest.param(DEADLINE - timedelta(hours=1), [0], id="all-reminders-past"),
        pytest.param(DEADLINE + timedelta(days=5), [0], id="deadline-past"),
    ],
)
def test_checkpoints_skip_reminders_already_past_and_always_end_with_the_deadline(
    now: datetime, days_before_deadline: list[int]
) -> None:
    points = rules.checkpoints(new_claim(), now)

    assert [p.days_before_deadline for p in points] == days_before_deadline
    assert points[-1].at == DEADLINE
    assert points[-1].summary == "90-day claim deadline"


def test_reminder_checkpoint_records_missing_items_and_notifies_partner_contacts() -> None:
    claim = new_claim()
    attach_item(claim, "invoice")
    reminder = rules.checkpoints(claim, NOW)[1]
    missing = ["results_and_recommendations", "partner_survey", "customer_survey"]

    rules.reach_checkpoint(claim, reminder, reminder.at)

    assert claim.status == "in_progress"
    assert last_event(claim) == ("reminder_sent", {"days_left": 7, "missing": missing})
    assert len(claim.outbox) == 1
    notification = claim.outbox[0]
    assert notification.kind == "reminder"
    assert notification.recipients == PARTNER_CONTACTS
    assert notification.days_left == 7
    assert notification.missing == missing


def test_deadline_checkpoint_auto_rejects_an_in_progress_claim() -> None:
    claim = auto_rejected()

    assert claim.status == "auto_rejected"
    assert claim.status_reason == rules.AUTO_REJECT_REASON
    assert claim.status_reason == "not submitted within 90 days of customer consent"
    assert claim.decided_at == DEADLINE
    assert last_event(claim) == ("auto_rejected", {"reason": rules.AUTO_REJECT_REASON})
    assert [n.kind for n in claim.outbox] == ["auto_rejected"]
    assert claim.outbox[0].recipients == PARTNER_CONTACTS
    assert claim.outbox[0].missing == list(rules.PROOF_ITEMS)
    assert rules.is_final(claim)


@pytest.mark.parametrize("index", range(4), ids=["30-days", "7-days", "1-day", "deadline"])
def test_checkpoints_leave_a_submitted_claim_untouched(index: int) -> None:
    claim = submitted()
    checkpoint = rules.checkpoints(claim, NOW)[index]
    before = claim.model_dump()

    rules.reach_checkpoint(claim, checkpoint, checkpoint.at)

    assert claim.model_dump() == before


# --- missing items -------------------------------------------------------------------------


def test_missing_items_follow_the_help_page_order() -> None:
    claim = new_claim()
    assert rules.missing_items(claim) == [
        "results_and_recommendations",
        "partner_survey",
        "customer_survey",
        "invoice",
    ]

    complete_survey(claim, "partner")
    attach_item(claim, "invoice")

    assert rules.missing_items(claim) == ["results_and_recommendations", "customer_survey"]


def test_missing_items_count_a_sent_but_uncompleted_survey_as_missing() -> None:
    claim = new_claim()
    send_survey(claim, "customer")

    assert "customer_survey" in rules.missing_items(claim)
    assert rules.missing_items(with_all_proof()) == []


# --- refusals ------------------------------------------------------------------------------


RefusalCase = tuple[Callable[[], ClaimState], Callable[[ClaimState], None]]


def attempt(
    build: Callable[[], ClaimState], check: Check[M], msg: M, now: datetime = NOW
) -> RefusalCase:
    """A refusal case: on the claim `build` makes, `check` refuses `msg` at `now`."""
    return build, lambda claim: check(claim, msg, now)


def refusals(**by_type: dict[str, RefusalCase]) -> list[Any]:
    """Each refusal type's cases by name, as parameters (build, try_action, refusal_type)
    with the id `{refusal_type}-{name}`."""
    return [
        pytest.param(build, try_action, refusal_type, id=f"{refusal_type}-{name}")
        for refusal_type, cases in by_type.items()
        for name, (build, try_action) in cases.items()
    ]


REFUSALS = refusals(
    InvalidInput={
        "direct-customer-survey": attempt(
            new_claim, rules.check_send_survey, send("customer", "direct")
        ),
        "update-contacts-without-changes": attempt(
            new_claim, rules.check_update_contacts, UpdateContacts(actor=PARTNER_ADMIN)
        ),
    },
    NotAllowed={
        "partner-action-by-reviewer": attempt(
            new_claim, rules.check_attach_document, attach("invoice", actor=REVIEWER)
        ),
        "review-action-by-partner": attempt(
            submitted, rules.check_approve, Approve(actor=PARTNER_ADMIN)
        ),
        "respond-info-by-a-reviewer": attempt(
            info_requested, rules.check_respond_info, RespondInfo(text="x", actor=REVIEWER)
        ),
    },
    WrongState={
        "approve-in-progress": attempt(new_claim, rules.check_approve, Approve(actor=REVIEWER)),
        "comment-after-submit": attempt(
            submitted,
            rules.check_add_comment,
            AddComment(text="One more thing", actor=PARTNER_USER),
        ),
        "reject-approved": attempt(
            approved, rules.check_reject, Reject(reason="Changed our mind", actor=REVIEWER)
        ),
        "respond-info-no-question-asked": attempt(
            submitted, rules.check_respond_info, RespondInfo(text="x", actor=PARTNER_ADMIN)
        ),
    },
    DeadlinePassed={
        "at-deadline": attempt(new_claim, rules.check_attach_document, attach("invoice"), DEADLINE),
        "after-deadline": attempt(
            with_all_proof,
            rules.check_submit,
            Submit(actor=PARTNER_ADMIN),
            DEADLINE + timedelta(days=1),
        ),
        "auto-rejected": attempt(
            auto_rejected,
            rules.check_add_comment,
            AddComment(text="Too late?", actor=PARTNER_ADMIN),
        ),
    },
    Incomplete={
        "submit": attempt(new_claim, rules.check_submit, Submit(actor=PARTNER_ADMIN)),
    },
    ContactLocked={
        "customer-contact": attempt(
            with_customer_survey_completed,
            rules.check_update_contacts,
            UpdateContacts(customer_contact=NEW_CUSTOMER_CONTACT, actor=PARTNER_ADMIN),
        ),
    },
    SurveyCompleted={
        "send-survey": attempt(
            with_customer_survey_completed, rules.check_send_survey, send("customer")
        ),
    },
)


@pytest.mark.parametrize(("build", "try_action", "refusal_type"), REFUSALS)
def test_refused_check_raises_its_type_and_leaves_the_claim_unchanged(
    build: Callable[[], ClaimState],
    try_action: Callable[[ClaimState], None],
    refusal_type: RefusalType,
) -> None:
    claim = build()
    before = claim.model_dump()

    with pytest.raises(Refusal) as refused:
        try_action(claim)

    assert refused.value.type == refusal_type
    assert refused.value.message
    assert claim.model_dump() == before


def test_check_start_refuses_a_reviewer() -> None:
    with pytest.raises(Refusal) as refused:
        rules.check_start(claim_input(CONSENT, actor=REVIEWER))

    assert refused.value.type == "NotAllowed"


@pytest.mark.parametrize("actor", [PARTNER_ADMIN, PARTNER_USER], ids=["admin", "user"])
def test_check_start_accepts_partner_roles(actor: Actor) -> None:
    rules.check_start(claim_input(CONSENT, actor=actor))


def test_incomplete_refusal_details_list_exactly_the_missing_items_in_order() -> None:
    claim = with_customer_survey_completed()
    attach_item(claim, "results_and_recommendations")

    with pytest.raises(Refusal) as refused:
        rules.check_submit(claim, Submit(actor=PARTNER_ADMIN), NOW)

    assert refused.value.type == "Incomplete"
    assert refused.value.details == ["partner_survey", "invoice"]
    assert "partner survey, invoice" in refused.value.message


def test_submission_just_before_the_deadline_passes_the_check() -> None:
    rules.check_submit(
        with_all_proof(), Submit(actor=PARTNER_ADMIN), DEADLINE - timedelta(minutes=1)
    )


def test_locked_customer_contact_may_be_repeated_unchanged() -> None:
    claim = with_customer_survey_completed()

    update_contacts(claim, customer_contact=CUSTOMER_CONTACT, partner_contacts=NEW_PARTNER_CONTACTS)

    assert claim.customer_contact == CUSTOMER_CONTACT
    assert claim.partner_contacts == NEW_PARTNER_CONTACTS
    assert rules.customer_contact_locked(claim)


# --- applying partner actions -----------------------------------------------------------


def test_attach_document_replaces_the_same_kind_and_history_keeps_both() -> None:
    claim = new_claim()
    first, second = attach("invoice", "first"), attach("invoice", "second")

    act(claim, rules.check_attach_document, rules.attach_document, first)
    act(claim, rules.check_attach_document, rules.attach_document, second, LATER)

    assert claim.proof.invoice.status == "attached"
    assert claim.proof.invoice.document == second.document
    attached = [e.detail for e in claim.history if e.event == "document_attached"]
    assert [d["document"] for d in attached] == [
        first.document.model_dump(mode="json"),
        second.document.model_dump(mode="json"),
    ]
    assert "replaced" not in attached[0]
    assert attached[1]["replaced"] == first.document.model_dump(mode="json")


@pytest.mark.parametrize(
    ("kind", "recipients"),
    [("partner", PARTNER_CONTACTS), ("customer", [CUSTOMER_CONTACT])],
)
def test_send_survey_by_email_invites_the_surveys_contacts(
    kind: SurveyKind, recipients: list[Contact]
) -> None:
    claim = new_claim()

    send_survey(claim, kind)

    proof = rules.survey(claim, kind)
    assert (proof.status, proof.sent_count, proof.last_sent_at) == ("sent", 1, NOW)
    assert len(claim.outbox) == 1
    invitation = claim.outbox[0]
    assert invitation.kind == "survey_invitation"
    assert invitation.survey_kind == kind
    assert invitation.recipients == recipients
    assert invitation.link_version == proof.link_version == 1


def test_send_survey_direct_queues_nothing_but_marks_the_survey_sent() -> None:
    claim = new_claim()

    send_survey(claim, "partner", "direct")

    assert claim.outbox == []
    assert claim.proof.partner_survey.status == "sent"
    assert claim.proof.partner_survey.sent_count == 1
    assert last_event(claim) == (
        "survey_sent",
        {"kind": "partner", "channel": "direct", "link_version": 1, "recipients": 0},
    )


def test_resend_reuses_the_link_version_and_counts_the_send() -> None:
    claim = new_claim()
    send_survey(claim, "customer")

    act(claim, rules.check_send_survey, rules.send_survey, send("customer"), LATER)

    proof = claim.proof.customer_survey
    assert (proof.link_version, proof.sent_count, proof.last_sent_at) == (1, 2, LATER)
    assert [n.link_version for n in claim.outbox] == [1, 1]


@pytest.mark.parametrize(
    ("kind", "changes"),
    [
        ("partner", {"partner_contacts": NEW_PARTNER_CONTACTS}),
        ("customer", {"customer_contact": NEW_CUSTOMER_CONTACT}),
    ],
)
def test_update_contacts_invalidates_a_sent_uncompleted_survey(
    kind: SurveyKind, changes: dict[str, Any]
) -> None:
    claim = new_claim()
    send_survey(claim, kind)

    update_contacts(claim, **changes)

    proof = rules.survey(claim, kind)
    assert (proof.status, proof.link_version) == ("invalidated", 2)
    assert last_event(claim) == (
        "contacts_updated",
        {"changed": list(changes), "invalidated": [f"{kind}_survey"]},
    )


def test_resend_after_invalidation_uses_the_new_link_version() -> None:
    claim = new_claim()
    send_survey(claim, "customer")
    update_contacts(claim, customer_contact=NEW_CUSTOMER_CONTACT)

    send_survey(claim, "customer")

    assert claim.proof.customer_survey.status == "sent"
    assert claim.outbox[-1].link_version == 2
    assert claim.outbox[-1].recipients == [NEW_CUSTOMER_CONTACT]


def test_update_contacts_does_not_bump_a_survey_not_yet_sent() -> None:
    claim = new_claim()

    update_contacts(
        claim, partner_contacts=NEW_PARTNER_CONTACTS, customer_contact=NEW_CUSTOMER_CONTACT
    )

    assert claim.partner_contacts == NEW_PARTNER_CONTACTS
    assert claim.customer_contact == NEW_CUSTOMER_CONTACT
    for kind in ("partner", "customer"):
        proof = rules.survey(claim, kind)
        assert (proof.status, proof.link_version) == ("not_sent", 1)
    assert last_event(claim)[1]["invalidated"] == []


def test_complete_survey_accepts_a_sent_survey_through_its_current_link() -> None:
    claim = new_claim()
    send_survey(claim, "partner")

    assert rules.complete_survey(claim, completion("partner", 1), LATER)

    assert claim.proof.partner_survey.status == "completed"
    assert claim.proof.partner_survey.completed_at == LATER
    event, detail = last_event(claim)
    assert event == "survey_completed"
    assert detail["answers"] == {"q1": 5, "q2": "useful"}


def not_sent() -> tuple[ClaimState, SurveyCompleted]:
    return new_claim(), completion("customer", 1)


def invalidated() -> tuple[ClaimState, SurveyCompleted]:
    claim = new_claim()
    send_survey(claim, "customer")
    update_contacts(claim, customer_contact=NEW_CUSTOMER_CONTACT)
    return claim, completion("customer", 2)


def old_link() -> tuple[ClaimState, SurveyCompleted]:
    claim, _ = invalidated()
    send_survey(claim, "customer")
    return claim, completion("customer", 1)


def already_completed() -> tuple[ClaimState, SurveyCompleted]:
    return with_customer_survey_completed(), completion("customer", 1)


def claim_submitted() -> tuple[ClaimState, SurveyCompleted]:
    return submitted(), completion("customer", 1)


@pytest.mark.parametrize(
    "situation", [not_sent, invalidated, old_link, already_completed, claim_submitted]
)
def test_complete_survey_otherwise_is_only_recorded_as_ignored(
    situation: Callable[[], tuple[ClaimState, SurveyCompleted]],
) -> None:
    claim, msg = situation()
    before, entries = without_history(claim), len(claim.history)

    assert not rules.complete_survey(claim, msg, LATER)

    assert without_history(claim) == before
    assert len(claim.history) == entries + 1
    event, detail = last_event(claim)
    assert event == "survey_completion_ignored"
    assert detail["kind"] == "customer"
    assert detail["link_version"] == msg.link_version
    assert detail["reason"]


def test_submit_moves_a_complete_claim_to_submitted() -> None:
    claim = submitted()

    assert claim.status == "submitted"
    assert claim.submitted_at == NOW
    assert last_event(claim)[0] == "submitted"


def test_submit_from_info_requested_records_resubmitted() -> None:
    claim = info_requested()

    act(claim, rules.check_submit, rules.submit, Submit(actor=PARTNER_USER), LATER)

    assert claim.status == "submitted"
    assert claim.status_reason is None
    assert claim.submitted_at == LATER
    assert last_event(claim)[0] == "resubmitted"


def test_submit_refused_records_the_refusal_type_and_message() -> None:
    claim = new_claim()
    msg = Submit(actor=PARTNER_ADMIN)
    with pytest.raises(Refusal) as refused:
        rules.check_submit(claim, msg, NOW)
    before = without_history(claim)

    rules.submit_refused(claim, msg, refused.value, NOW)

    assert without_history(claim) == before
    assert last_event(claim) == (
        "submit_refused",
        {
            "type": "Incomplete",
            "message": refused.value.message,
            "missing": list(rules.PROOF_ITEMS),
        },
    )


# --- applying reviewer actions --------------------------------------------------------------


REVIEW_DECISIONS: dict[str, tuple[RequestInfo | Approve | Reject, ClaimStatus]] = {
    "request_info": (RequestInfo(question="Who attended?", actor=REVIEWER), "info_requested"),
    "approve": (Approve(note="Fine", actor=REVIEWER), "approved"),
    "reject": (Reject(reason="Not a workshop", actor=REVIEWER), "rejected"),
}
"""Each review action's message and the status it leads to."""


@pytest.mark.parametrize("action", REVIEW_DECISIONS)
def test_review_decision_sets_status_and_notifies_partner_contacts(action: str) -> None:
    msg, status = REVIEW_DECISIONS[action]
    text_field: dict[type, str] = {RequestInfo: "question", Approve: "note", Reject: "reason"}
    reason = getattr(msg, text_field[type(msg)])
    claim = submitted()
    queued = len(claim.outbox)

    act(claim, getattr(rules, f"check_{action}"), getattr(rules, action), msg, LATER)

    assert claim.status == status
    assert claim.status_reason == reason
    assert [q.question for q in claim.questions] == ([reason] if action == "request_info" else [])
    assert claim.decided_at == (None if action == "request_info" else LATER)
    assert last_event(claim)[0] == status
    assert len(claim.outbox) == queued + 1
    notification = claim.outbox[-1]
    assert notification.kind == status
    assert notification.text == reason
    assert notification.recipients == PARTNER_CONTACTS


def test_reject_is_allowed_while_info_is_requested() -> None:
    claim = info_requested()

    act(claim, rules.check_reject, rules.reject, Reject(reason="No answer", actor=REVIEWER))

    assert claim.status == "rejected"
    assert rules.is_final(claim)


def test_issue_payment_pays_an_approved_claim() -> None:
    claim = paid()

    assert claim.status == "paid"
    assert claim.status_reason is None
    assert claim.paid_at == LATER
    assert claim.payment is not None
    assert (claim.payment.reference, claim.payment.amount) == ("PAY-1", "1250.00")
    assert last_event(claim)[0] == "payment_issued"
    assert claim.outbox[-1].kind == "paid"
    assert claim.outbox[-1].recipients == PARTNER_CONTACTS
    assert rules.is_final(claim)


@pytest.mark.parametrize("build", [new_claim, submitted, rejected, paid])
def test_issue_payment_on_a_claim_not_approved_is_only_recorded(
    build: Callable[[], ClaimState],
) -> None:
    claim = build()
    before = without_history(claim)

    assert not rules.issue_payment(claim, payment(), LATER)

    assert without_history(claim) == before
    event, detail = last_event(claim)
    assert event == "payment_ignored"
    assert detail["reference"] == "PAY-1"
    assert detail["reason"]


# --- allowed actions ------------------------------------------------------------------------

PARTNER_ACTIONS = ["attach_document", "send_survey", "update_contacts", "add_comment"]


@pytest.mark.parametrize(
    ("build", "now", "expected"),
    [
        pytest.param(new_claim, NOW, [*PARTNER_ACTIONS, "cancel"], id="in_progress"),
        pytest.param(
            # both surveys are completed, so send_survey has nothing left to send
            with_all_proof,
            NOW,
            ["attach_document", "update_contacts", "add_comment", "submit", "cancel"],
            id="in_progress-all-proof",
        ),
        pytest.param(submitted, NOW, ["request_info", "approve", "reject"], id="submitted"),
        pytest.param(
            info_requested,
            NOW,
            # asked without a reply window (a claim of an earlier release): submit needs
            # no answer first
            [
                "attach_document",
                "update_contacts",
                "add_comment",
                "submit",
                "cancel",
                "respond_info",
                "reject",
            ],
            id="info_requested",
        ),
        pytest.param(approved, NOW, [], id="approved"),
        pytest.param(paid, NOW, [], id="paid"),
        pytest.param(rejected, NOW, [], id="rejected"),
        pytest.param(auto_rejected, DEADLINE, [], id="auto_rejected"),
        # still in progress because the deadline checkpoint has not run yet
        pytest.param(new_claim, DEADLINE, [], id="in_progress-past-deadline"),
    ],
)
def test_allowed_actions_per_state(
    build: Callable[[], ClaimState], now: datetime, expected: list[str]
) -> None:
    assert rules.allowed_actions(build(), now) == expected


def test_allowed_actions_keep_send_survey_while_one_survey_is_open() -> None:
    claim = with_customer_survey_completed()

    assert rules.allowed_actions(claim, NOW) == [*PARTNER_ACTIONS, "cancel"]


# --- notifications --------------------------------------------------------------------------


def every_notification() -> list[Notification]:
    """At least one notification of every kind."""
    reminded = new_claim()
    reminder = rules.checkpoints(reminded, NOW)[0]
    rules.reach_checkpoint(reminded, reminder, reminder.at)
    held = approved()
    reason = "no tariff for workshop type 'x' in CLAIMS_WORKSHOPS"
    assert hold_payment(held, PaymentHeld(reason=reason, batch_id="PC-1"), LATER)
    claims = [reminded, info_requested(), paid(), rejected(), auto_rejected(), held]
    claims += [cancelled(), disputed_then_rejected(), escalated()]
    claims += [run_clocks(asked_with_window(), REPLY_END)]
    return [notification for claim in claims for notification in claim.outbox]


def test_notification_keys_are_sequential_per_claim() -> None:
    claim = paid()

    assert [n.key for n in claim.outbox] == [
        f"{claim.engagement_id}.n{i}" for i in range(1, len(claim.outbox) + 1)
    ]
    assert [n.kind for n in claim.outbox] == [
        "survey_invitation",
        "survey_invitation",
        "approved",
        "paid",
    ]


def test_notification_keys_continue_after_the_state_moves_to_a_new_run() -> None:
    claim = submitted()
    keys = [n.key for n in claim.outbox]

    carried = ClaimState.model_validate(claim.model_dump(mode="json"))
    act(carried, rules.check_approve, rules.approve, Approve(actor=REVIEWER))

    assert [n.key for n in carried.outbox[:-1]] == keys
    assert carried.outbox[-1].key == f"{claim.engagement_id}.n{len(keys) + 1}"


def test_notification_summary_has_no_personal_data() -> None:
    notifications = every_notification()
    contacts = [*PARTNER_CONTACTS, CUSTOMER_CONTACT, NEW_PARTNER_CONTACTS[0]]
    names = [n.partner_name for n in notifications] + [n.customer_name for n in notifications]
    personal = [c.name for c in contacts] + [c.email for c in contacts] + names

    summaries = {operator_text.notification_summary(n) for n in notifications}

    assert {n.kind for n in notifications} == set(get_args(NotificationKind))
    assert "email: partner survey invitation" in summaries
    assert "email: reminder: 30 days left" in summaries
    for summary in summaries:
        assert summary.startswith("email: ")
        assert not [text for text in personal if text.lower() in summary.lower()]
        assert "@" not in summary


# --- tenancy, the checks the portal asks, and the words they use ---------------------


def test_a_partners_user_sees_only_their_partners_claims_reviewers_and_trusted_see_all() -> None:
    ours = PARTNER_ADMIN.model_copy(update={"partner_id": "partner-42"})
    assert rules.sees_claim(ours, "partner-42")
    assert not rules.sees_claim(OTHER_PARTNERS_ADMIN, "partner-42")
    assert rules.sees_claim(PARTNER_ADMIN, "partner-42")  # trusted caller: no partner named
    assert rules.sees_claim(REVIEWER, "partner-42")


def test_another_partners_action_is_refused_as_not_found_after_the_role() -> None:
    claim = rules.open_claim(claim_input(CONSENT), NOW)
    with pytest.raises(Refusal) as not_found:
        rules.check_add_comment(claim, AddComment(text="hi", actor=OTHER_PARTNERS_ADMIN), NOW)
    assert not_found.value.type == "NotFound"
    assert not_found.value.message == f"there is no claim for engagement {claim.engagement_id}"
    reviewer_of_theirs = REVIEWER.model_copy(update={"partner_id": "partner-99"})
    with pytest.raises(Refusal) as role:
        rules.check_add_comment(claim, AddComment(text="hi", actor=reviewer_of_theirs), NOW)
    assert role.value.type == "NotAllowed"


def test_check_action_on_a_views_facts_refuses_as_the_claim_would() -> None:
    def check(status: ClaimStatus, now: datetime) -> None:
        rules.check_action_on(
            "attach_document",
            PARTNER_USER,
            engagement_id="E-1",
            partner_id="partner-42",
            status=status,
            deadline=DEADLINE,
            now=now,
        )

    check("in_progress", NOW)
    with pytest.raises(Refusal) as late:
        check("in_progress", DEADLINE)
    assert late.value.type == "DeadlinePassed"
    with pytest.raises(Refusal) as wrong:
        check("submitted", NOW)
    assert wrong.value.type == "WrongState"
    assert "submitted and waiting for review" in wrong.value.message


@pytest.mark.parametrize(
    ("status", "deadline", "expected"),
    [
        ("auto_rejected", DEADLINE, "DeadlinePassed"),
        ("paid", DEADLINE, "WrongState"),
        (None, None, "WrongState"),
    ],
)
def test_a_closed_claims_refusal_says_why(
    status: ClaimStatus | None, deadline: datetime | None, expected: RefusalType
) -> None:
    refusal = rules.closed_claim_refusal(status, deadline)
    assert refusal.type == expected
    assert refusal.message


def test_a_start_names_the_partner_its_actor_acts_for() -> None:
    with pytest.raises(Refusal) as refused:
        rules.check_start(claim_input(CONSENT, actor=OTHER_PARTNERS_ADMIN))
    assert refused.value.type == "NotAllowed"
    assert refused.value.message.startswith("partner.id:")
    rules.check_start(
        claim_input(CONSENT, actor=OTHER_PARTNERS_ADMIN.model_copy(update={"partner_id": None}))
    )


def test_every_status_and_item_has_words_in_every_locale() -> None:
    from workflows import texts

    for locale in ("en", "nl"):
        assert set(texts.STATUS_WORDS[locale]) == set(get_args(ClaimStatus))
        assert set(texts.ITEM_LABELS[locale]) == set(rules.PROOF_ITEMS)
    assert str(rules.SUBMISSION_WINDOW_DAYS) in rules.AUTO_REJECT_REASON


# --- after submission: cancel, respond_info, dispute and the clocks -------------------------

REPLY_END = NOW + rules.REPLY_WINDOW
DISPUTE_END = NOW + rules.DISPUTE_WINDOW


ALL_CLOCKS = ["review_clock", "reply_window", "dispute_window"]


def submitted_with_clocks() -> ClaimState:
    """A submitted claim with every after-submission clock switched on, as the workflow
    of this release switches them on for new claims."""
    claim = submitted()
    claim.clocks = list(ALL_CLOCKS)
    return claim


def asked_with_window() -> ClaimState:
    return info_requested(submitted_with_clocks())


def rejected_with_window() -> ClaimState:
    return rejected(submitted_with_clocks())


def run_clocks(claim: ClaimState, until: datetime) -> ClaimState:
    """Reach every clock moment up to `until`, as the workflow's timers would."""
    while (clock := rules.next_clock(claim)) is not None and clock.at <= until:
        rules.reach_clock(claim, clock, clock.at)
    return claim


def cancelled() -> ClaimState:
    claim = new_claim()
    msg = Cancel(reason="Wrong engagement", actor=PARTNER_USER)
    act(claim, rules.check_cancel, rules.cancel, msg)
    return claim


def disputed() -> ClaimState:
    claim = rejected_with_window()
    msg = Dispute(reason="The invoice was attached", actor=PARTNER_ADMIN)
    act(claim, rules.check_dispute, rules.dispute, msg, LATER)
    return claim


def disputed_then_rejected() -> ClaimState:
    claim = disputed()
    act(claim, rules.check_reject, rules.reject, Reject(reason="Still no", actor=REVIEWER), LATER)
    return claim


def escalated() -> ClaimState:
    claim = submitted_with_clocks()
    return run_clocks(claim, NOW + rules.REVIEW_CLOCK)


def answer(claim: ClaimState, text: str = "A") -> None:
    """The partner admin answers the claim's open question."""
    act(
        claim,
        rules.check_respond_info,
        rules.respond_info,
        RespondInfo(text=text, actor=PARTNER_ADMIN),
    )


def refusal_of(check: Check[M], claim: ClaimState, msg: M, now: datetime = NOW) -> Refusal:
    with pytest.raises(Refusal) as refused:
        check(claim, msg, now)
    return refused.value


def test_the_windows_are_named_constants_of_the_rules() -> None:
    assert timedelta(days=30) == rules.REPLY_WINDOW
    assert rules.REPLY_REMINDER_DAYS_BEFORE == (7, 1)
    assert timedelta(days=30) == rules.DISPUTE_WINDOW
    assert timedelta(days=10) == rules.REVIEW_CLOCK
    assert rules.EXPIRED_REASON == "no response within 30 days"


def test_cancel_ends_the_claim_and_confirms_the_reason_to_the_partner_contacts() -> None:
    claim = cancelled()

    assert claim.status == "cancelled"
    assert claim.status_reason == "Wrong engagement"
    assert rules.is_final(claim)
    assert last_event(claim) == ("cancelled", {"reason": "Wrong engagement"})
    assert [(n.kind, n.text) for n in claim.outbox] == [("cancelled", "Wrong engagement")]
    assert claim.outbox[0].recipients == PARTNER_CONTACTS


def test_cancel_is_possible_while_info_is_requested() -> None:
    claim = info_requested()
    act(claim, rules.check_cancel, rules.cancel, Cancel(reason="Withdrawn", actor=PARTNER_ADMIN))
    assert claim.status == "cancelled"


@pytest.mark.parametrize(
    ("build", "actor", "refusal_type"),
    [
        pytest.param(submitted, PARTNER_ADMIN, "WrongState", id="after-submission"),
        pytest.param(new_claim, REVIEWER, "NotAllowed", id="by-a-reviewer"),
        pytest.param(new_claim, OTHER_PARTNERS_ADMIN, "NotFound", id="another-partner"),
    ],
)
def test_cancel_is_refused(
    build: Callable[[], ClaimState], actor: Actor, refusal_type: RefusalType
) -> None:
    refusal = refusal_of(rules.check_cancel, build(), Cancel(reason="x", actor=actor))
    assert refusal.type == refusal_type
    if refusal_type == "WrongState":
        assert "cancel is not possible while the claim is submitted" in refusal.message


def test_cancel_after_the_deadline_is_refused_as_deadline_passed() -> None:
    refusal = refusal_of(
        rules.check_cancel, new_claim(), Cancel(reason="x", actor=PARTNER_ADMIN), DEADLINE
    )
    assert refusal.type == "DeadlinePassed"


def test_respond_info_answers_the_open_question_and_keeps_the_claim_waiting() -> None:
    claim = asked_with_window()
    msg = RespondInfo(text="Team Blue", actor=PARTNER_USER)

    act(claim, rules.check_respond_info, rules.respond_info, msg, LATER)

    question = claim.questions[-1]
    assert (question.answer, question.answered_at) == ("Team Blue", LATER)
    assert question.answered_by == Actor(user=PARTNER_USER.user, role=PARTNER_USER.role)
    assert claim.status == "info_requested"
    assert last_event(claim) == ("info_responded", {"text": "Team Blue"})
    assert "respond_info" not in rules.allowed_actions(claim, LATER)
    assert "submit" in rules.allowed_actions(claim, LATER)


def test_submit_after_a_question_without_an_answer_is_incomplete_info_response() -> None:
    claim = asked_with_window()

    refusal = refusal_of(rules.check_submit, claim, Submit(actor=PARTNER_ADMIN))

    assert refusal.type == "Incomplete"
    assert refusal.details == ["info_response"]
    assert "respond_info" in refusal.message
    assert "submit" not in rules.allowed_actions(claim, NOW)


def test_submit_after_the_answer_resubmits() -> None:
    claim = asked_with_window()
    answer(claim)
    act(claim, rules.check_submit, rules.submit, Submit(actor=PARTNER_ADMIN), LATER)
    assert claim.status == "submitted"
    assert last_event(claim)[0] == "resubmitted"


def test_a_second_answer_to_the_same_question_is_refused() -> None:
    claim = asked_with_window()
    answer(claim)

    refusal = refusal_of(
        rules.check_respond_info, claim, RespondInfo(text="B", actor=PARTNER_ADMIN)
    )

    assert refusal.type == "WrongState"
    assert "already answered" in refusal.message


def test_request_info_opens_a_30_day_reply_window_named_in_its_mail() -> None:
    claim = submitted()
    claim.clocks = ["reply_window"]
    act(
        claim,
        rules.check_request_info,
        rules.request_info,
        RequestInfo(question="?", actor=REVIEWER),
    )

    assert claim.reply_until == NOW + timedelta(days=30)
    assert claim.outbox[-1].until == claim.reply_until
    assert rules.view(claim, NOW).reply_until == claim.reply_until


def test_the_reply_window_reminds_7_and_1_days_before_then_expires_the_claim() -> None:
    claim = asked_with_window()
    moments = []
    while (clock := rules.next_clock(claim)) is not None:
        moments.append((clock.kind, clock.at, clock.days_before))
        rules.reach_clock(claim, clock, clock.at)

    assert moments == [
        ("reply_reminder", REPLY_END - timedelta(days=7), 7),
        ("reply_reminder", REPLY_END - timedelta(days=1), 1),
        ("reply_end", REPLY_END, 0),
    ]
    assert [(n.kind, n.days_left) for n in claim.outbox[-3:]] == [
        ("reply_reminder", 7),
        ("reply_reminder", 1),
        ("expired", None),
    ]
    assert all(n.recipients == PARTNER_CONTACTS for n in claim.outbox[-3:])
    assert claim.status == "expired"
    assert claim.status_reason == "no response within 30 days"
    assert rules.is_final(claim)


def test_resubmission_within_the_reply_window_stops_its_clock() -> None:
    claim = asked_with_window()
    answer(claim)
    act(claim, rules.check_submit, rules.submit, Submit(actor=PARTNER_ADMIN), LATER)

    clock = rules.next_clock(claim)

    assert clock is not None
    assert clock.kind == "review"
    assert clock.at == LATER + rules.REVIEW_CLOCK


def test_a_rejection_opens_a_30_day_dispute_window_named_in_its_mail() -> None:
    claim = submitted()
    claim.clocks = ["dispute_window"]
    act(claim, rules.check_reject, rules.reject, Reject(reason="No", actor=REVIEWER))

    assert claim.status == "rejected"
    assert not rules.is_final(claim)
    assert claim.dispute_until == DISPUTE_END
    assert claim.outbox[-1].until == DISPUTE_END
    assert rules.allowed_actions(claim, NOW) == ["dispute"]
    assert rules.allowed_actions(claim, DISPUTE_END) == []


def test_a_rejection_without_a_dispute_window_is_final_as_before() -> None:
    claim = rejected()
    assert claim.dispute_until is None
    assert rules.is_final(claim)


def test_no_dispute_in_time_makes_the_rejection_final() -> None:
    claim = run_clocks(rejected_with_window(), DISPUTE_END)

    assert claim.status == "rejected_final"
    assert claim.status_reason == "No invoice"
    assert rules.is_final(claim)


def test_a_dispute_mails_the_review_desk_and_waits_for_review() -> None:
    claim = disputed()

    assert claim.status == "disputed"
    assert claim.status_reason == "The invoice was attached"
    assert last_event(claim) == ("disputed", {"reason": "The invoice was attached"})
    desk = claim.outbox[-1]
    assert (desk.kind, desk.to_review_desk, desk.recipients) == ("dispute_received", True, [])
    assert rules.allowed_actions(claim, LATER) == ["approve", "reject"]


def test_a_disputed_claim_rejected_again_is_final_at_once() -> None:
    claim = disputed_then_rejected()

    assert claim.status == "rejected_final"
    assert rules.is_final(claim)
    assert claim.outbox[-1].kind == "rejected_final"


def test_a_disputed_claim_can_be_approved() -> None:
    claim = disputed()
    act(claim, rules.check_approve, rules.approve, Approve(actor=REVIEWER), LATER)
    assert claim.status == "approved"


@pytest.mark.parametrize(
    ("build", "actor", "at", "refusal_type"),
    [
        pytest.param(disputed, PARTNER_ADMIN, LATER, "WrongState", id="a-second-dispute"),
        pytest.param(rejected_with_window, REVIEWER, LATER, "NotAllowed", id="by-a-reviewer"),
        pytest.param(rejected_with_window, PARTNER_ADMIN, DISPUTE_END, "WrongState", id="too-late"),
        pytest.param(submitted, PARTNER_ADMIN, NOW, "WrongState", id="not-rejected"),
    ],
)
def test_dispute_is_refused(
    build: Callable[[], ClaimState], actor: Actor, at: datetime, refusal_type: RefusalType
) -> None:
    refusal = refusal_of(rules.check_dispute, build(), Dispute(reason="x", actor=actor), at)
    assert refusal.type == refusal_type


def test_a_claim_waiting_10_days_for_review_is_escalated_once_to_the_review_desk() -> None:
    claim = escalated()

    assert last_event(claim)[0] == "review_escalated"
    escalations = [n for n in claim.outbox if n.kind == "review_escalation"]
    assert len(escalations) == 1
    assert escalations[0].to_review_desk
    assert escalations[0].status == "submitted"
    assert rules.next_clock(claim) is None


def test_a_reminder_already_sent_is_not_sent_again_in_a_continued_run() -> None:
    claim = new_claim()
    first = rules.next_clock(claim)
    assert first is not None
    rules.reach_clock(claim, first, first.at)
    carried = ClaimState.model_validate(claim.model_dump(mode="json"))
    rules.settle_clocks(carried, first.at + timedelta(days=1), carried=True)

    upcoming = rules.next_clock(carried)

    assert upcoming is not None
    assert (upcoming.kind, upcoming.days_before) == ("deadline_reminder", 7)


def test_a_reminder_due_between_two_runs_is_still_due_in_the_new_run() -> None:
    """An earlier release's carried state (no `clocks_passed`) learns what was sent from
    its history; a reminder that fell due between the runs is left due, not skipped."""
    claim = new_claim()
    data = claim.model_dump(mode="json", exclude={"clocks_passed"})
    carried = ClaimState.model_validate(data)
    rules.settle_clocks(carried, DEADLINE - timedelta(days=20), carried=True)

    due = rules.next_clock(carried)

    assert due is not None
    assert (due.kind, due.days_before) == ("deadline_reminder", 30)


def test_a_claim_started_late_skips_the_reminders_already_past() -> None:
    claim = rules.open_claim(claim_input(CONSENT), DEADLINE - timedelta(days=2))
    rules.settle_clocks(claim, DEADLINE - timedelta(days=2), carried=False)

    clock = rules.next_clock(claim)

    assert clock is not None
    assert (clock.kind, clock.days_before) == ("deadline_reminder", 1)
