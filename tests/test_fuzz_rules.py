"""Property-based tests of the claim rules: any sequence of actions keeps the claim sound.

Hypothesis generates a claim's life as the workflow would live it: random
updates (by actors of the right role or not), signals (survey completions
with current or stale links, payments, submit signals) and waits, with the
30/7/1-day reminders and the deadline firing when their time comes. Each
step goes through the same check-then-apply functions of workflows/rules.py
that the workflow calls, and after each step these must hold:

- a refused check leaves the claim exactly as it was (`model_dump` equal),
  and no check ever changes anything;
- an accepted change or a signal adds exactly one history entry and keeps
  the old ones as they were (history only grows, in time order);
- the status moves only along the lifecycle drawn in docs/lifecycle.md;
- `missing` lists the unfinished proof items, in the help page's order;
- `allowed_actions` lists exactly the updates whose check passes for an
  actor of the right role with some valid input; a final claim allows none;
- notification keys are unique and numbered in order;
- the claim view can always be built.

Bounded: 200 generated lives of up to 40 steps, derandomized for a stable CI.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from functools import partial
from pathlib import Path
from typing import Any

from hypothesis import event
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from pydantic import BaseModel

from tests.builders import CONSENT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_USER
from tests.builders import REVIEWER
from tests.builders import attach
from tests.builders import claim_input
from workflows import rules
from workflows.messages import Actor
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import Cancel
from workflows.messages import ClaimStatus
from workflows.messages import Contact
from workflows.messages import Dispute
from workflows.messages import Notification
from workflows.messages import PaymentIssued
from workflows.messages import Reject
from workflows.messages import RequestInfo
from workflows.messages import RespondInfo
from workflows.messages import Role
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyCompleted
from workflows.messages import SurveyKind
from workflows.messages import UpdateContacts
from workflows.rules import ClaimState
from workflows.rules import Refusal

LIFECYCLE_DOC = Path(__file__).resolve().parent.parent / "docs" / "lifecycle.md"

UPDATES = list(rules.ACTIONS)
SIGNALS = ["survey_completed", "payment_issued", "submit_signal"]
ROLES: list[Role] = ["incentives_admin", "incentives_user", "reviewer", "program_admin"]
CONTACT_POOL = [
    Contact(name="Anna Admin", email="anna@partner.example"),
    Contact(name="Joost de Vries", email="joost@partner.example", locale="nl"),
    Contact(name="Carla Customer", email="carla@customer.example"),
    Contact(name="Chris Customer", email="chris@customer.example"),
]

Check = Callable[[ClaimState, Any, datetime], None]
Apply = Callable[[ClaimState, Any, datetime], None]
CHECK_AND_APPLY: dict[str, tuple[Check, Apply]] = {
    "attach_document": (rules.check_attach_document, rules.attach_document),
    "send_survey": (rules.check_send_survey, rules.send_survey),
    "update_contacts": (rules.check_update_contacts, rules.update_contacts),
    "add_comment": (rules.check_add_comment, rules.add_comment),
    "submit": (rules.check_submit, rules.submit),
    "request_info": (rules.check_request_info, rules.request_info),
    "approve": (rules.check_approve, rules.approve),
    "reject": (rules.check_reject, rules.reject),
    "cancel": (rules.check_cancel, rules.cancel),
    "respond_info": (rules.check_respond_info, rules.respond_info),
    "dispute": (rules.check_dispute, rules.dispute),
}


def documented_transitions() -> set[tuple[str, str]]:
    """The status changes drawn in the state diagram of docs/lifecycle.md."""
    diagram = LIFECYCLE_DOC.read_text(encoding="utf-8").split("```mermaid", 1)[1].split("```")[0]
    edges = set(re.findall(r"^\s*(\w+) --> (\w+)", diagram, flags=re.MULTILINE))
    return {(a, b) for a, b in edges if a != "[*]" and b != "[*]"}


TRANSITIONS = documented_transitions()


def test_the_lifecycle_diagram_is_read_from_the_docs() -> None:
    assert ("in_progress", "submitted") in TRANSITIONS
    assert ("approved", "paid") in TRANSITIONS
    assert ("rejected", "disputed") in TRANSITIONS
    assert len(TRANSITIONS) == 15


# --- one generated life -------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One thing that happens to the claim, after `wait`."""

    action: str
    right_role: bool
    role: Role
    wait: timedelta
    pick: int
    """Chooses among the message's variants (kind, channel, contacts, link version...)."""


def actor_for(step: Step) -> Actor:
    if not step.right_role:
        return Actor(user="someone@example.com", role=step.role)
    if step.action in rules.ACTIONS and rules.ACTIONS[step.action].side == "reviewer":
        return REVIEWER
    return PARTNER_USER if step.pick % 2 else PARTNER_ADMIN


def update_message(step: Step) -> BaseModel:
    """The update `step` sends: valid as a message, whatever the rules say about it."""
    actor, pick = actor_for(step), step.pick
    kind = "partner" if pick % 2 == 0 else "customer"
    if step.action == "attach_document":
        return attach("invoice" if pick % 2 else "results_and_recommendations", f"v{pick}", actor)
    if step.action == "send_survey":
        return SendSurvey(kind=kind, channel="direct" if pick % 3 == 0 else "email", actor=actor)
    if step.action == "update_contacts":
        partner = [CONTACT_POOL[pick % 2]] if pick % 3 != 1 else None
        customer = CONTACT_POOL[2 + pick % 2] if pick % 3 != 0 else None
        return UpdateContacts(partner_contacts=partner, customer_contact=customer, actor=actor)
    if step.action == "add_comment":
        return AddComment(text=f"comment {pick}", actor=actor)
    if step.action == "submit":
        return Submit(actor=actor)
    if step.action == "request_info":
        return RequestInfo(question=f"question {pick}", actor=actor)
    if step.action == "approve":
        return Approve(note=None if pick % 2 else "fine", actor=actor)
    if step.action == "cancel":
        return Cancel(reason=f"reason {pick}", actor=actor)
    if step.action == "respond_info":
        return RespondInfo(text=f"answer {pick}", actor=actor)
    if step.action == "dispute":
        return Dispute(reason=f"reason {pick}", actor=actor)
    assert step.action == "reject"
    return Reject(reason=f"reason {pick}", actor=actor)


def candidates(action: str, claim: ClaimState) -> list[BaseModel]:
    """Valid inputs of an update from an actor of the right role: one passes if any can."""
    partner, reviewer = PARTNER_ADMIN, REVIEWER
    options: dict[str, list[BaseModel]] = {
        "attach_document": [attach("invoice", actor=partner)],
        "send_survey": [
            SendSurvey(kind=kind, channel=channel, actor=partner)
            for kind in ("partner", "customer")
            for channel in ("email", "direct")
        ],
        "update_contacts": [
            UpdateContacts(partner_contacts=[CONTACT_POOL[0]], actor=partner),
            UpdateContacts(customer_contact=claim.customer_contact, actor=partner),
        ],
        "add_comment": [AddComment(text="note", actor=partner)],
        "submit": [Submit(actor=partner)],
        "request_info": [RequestInfo(question="why?", actor=reviewer)],
        "approve": [Approve(actor=reviewer)],
        "reject": [Reject(reason="no", actor=reviewer)],
        "cancel": [Cancel(reason="mistake", actor=partner)],
        "respond_info": [RespondInfo(text="answer", actor=partner)],
        "dispute": [Dispute(reason="unfair", actor=partner)],
    }
    return options[action]


def passes(check: Check, claim: ClaimState, msg: BaseModel, now: datetime) -> bool:
    try:
        check(claim, msg, now)
    except Refusal:
        return False
    return True


@dataclass
class Life:
    """The claim and what the workflow around it keeps: the clock, timers, sent mail."""

    claim: ClaimState
    now: datetime
    sent: list[Notification] = field(default_factory=list)
    statuses: list[ClaimStatus] = field(default_factory=list)

    @classmethod
    def start(cls, started_at: datetime) -> Life:
        claim = rules.open_claim(claim_input(CONSENT), started_at)
        claim.clocks = ["review_clock", "reply_window", "dispute_window"]  # this release's
        rules.settle_clocks(claim, started_at, carried=False)
        life = cls(claim, started_at)
        life.check_invariants()
        life.fire_due_clocks()  # a claim started after its deadline rejects at once
        return life

    # -- what the workflow does ----------------------------------------------------------

    def wait(self, duration: timedelta) -> None:
        self.now += duration
        self.fire_due_clocks()

    def fire_due_clocks(self) -> None:
        """The workflow's timers: each clock moment (reminders, deadline, reply and dispute
        windows, review clock) fires at its moment, or at once (at the claim's latest
        event) when that moment had passed when it was set."""
        while (clock := rules.next_clock(self.claim)) is not None and clock.at <= self.now:
            fired_at = max(clock.at, self.claim.history[-1].at)
            self.changes(partial(rules.reach_clock, self.claim, clock, fired_at))

    def take(self, step: Step) -> None:
        self.wait(step.wait)
        if step.action in CHECK_AND_APPLY:
            self.update(step)
        else:
            self.signal(step)

    def update(self, step: Step) -> None:
        check, apply = CHECK_AND_APPLY[step.action]
        msg = update_message(step)
        before = self.claim.model_dump()
        try:
            check(self.claim, msg, self.now)
        except Refusal as refusal:
            assert self.claim.model_dump() == before, f"refused {step.action} changed the claim"
            event(f"refused {refusal.type}")
            return
        self.changes(lambda: apply(self.claim, msg, self.now))

    def signal(self, step: Step) -> None:
        claim, now, pick = self.claim, self.now, step.pick
        if step.action == "survey_completed":
            kind: SurveyKind = "partner" if pick % 2 == 0 else "customer"
            current = rules.survey(claim, kind).link_version
            version = {5: max(1, current - 1), 6: current + 1}.get(pick, current)
            msg = SurveyCompleted(
                kind=kind, link_version=version, respondent_email="r@example.com", answers={}
            )
            self.changes(lambda: rules.complete_survey(claim, msg, now))
        elif step.action == "payment_issued":
            payment = PaymentIssued(reference="PAY", amount="10.00", currency="EUR", paid_at=now)
            self.changes(lambda: rules.issue_payment(claim, payment, now))
        else:
            submit = Submit(actor=actor_for(step))

            def submit_signal() -> None:
                try:
                    rules.check_submit(claim, submit, now)
                except Refusal as refusal:
                    rules.submit_refused(claim, submit, refusal, now)
                    return
                rules.submit(claim, submit, now)

            self.changes(submit_signal)

    def changes(self, change: Callable[[], object]) -> None:
        """Apply an accepted change or a signal, then check what must always hold."""
        status, history = self.claim.status, list(self.claim.history)
        change()
        assert self.claim.history[: len(history)] == history, "history entries were rewritten"
        assert len(self.claim.history) == len(history) + 1, "one entry per change or signal"
        if self.claim.status != status:
            assert (status, self.claim.status) in TRANSITIONS, (status, self.claim.status)
            self.statuses.append(self.claim.status)
        self.sent.extend(self.claim.outbox)  # the mail loop drains the outbox
        self.claim.outbox.clear()
        self.check_invariants()

    # -- what must hold after every step -------------------------------------------------

    def check_invariants(self) -> None:
        claim, now = self.claim, self.now
        missing = rules.missing_items(claim)
        assert missing == [item for item in rules.PROOF_ITEMS if item in missing]
        proof = claim.proof
        done = {
            "results_and_recommendations": proof.results_and_recommendations.status == "attached",
            "partner_survey": proof.partner_survey.status == "completed",
            "customer_survey": proof.customer_survey.status == "completed",
            "invoice": proof.invoice.status == "attached",
        }
        assert missing == [item for item in rules.PROOF_ITEMS if not done[item]]

        times = [entry.at for entry in claim.history]
        assert times == sorted(times), "history in time order"

        allowed = rules.allowed_actions(claim, now)
        before = claim.model_dump()
        for action, (check, _) in CHECK_AND_APPLY.items():
            possible = any(passes(check, claim, m, now) for m in candidates(action, claim))
            assert (action in allowed) == possible, (action, claim.status, allowed)
        assert claim.model_dump() == before, "a check changed the claim"
        if rules.is_final(claim):
            assert allowed == []

        keys = [n.key for n in [*self.sent, *claim.outbox]]
        assert keys == [f"{claim.engagement_id}.n{i}" for i in range(1, len(keys) + 1)]
        assert claim.notifications_made == len(keys)

        view = rules.view(claim, now)
        assert view.missing == missing
        assert view.allowed_actions == allowed


# --- generating lives ----------------------------------------------------------------------

waits = st.one_of(
    st.just(timedelta(0)),
    st.timedeltas(min_value=timedelta(seconds=1), max_value=timedelta(hours=6)),
    st.timedeltas(min_value=timedelta(days=1), max_value=timedelta(days=40)),
)

steps = st.builds(
    Step,
    action=st.sampled_from(UPDATES + SIGNALS),
    right_role=st.sampled_from([True, True, True, False]),
    role=st.sampled_from(ROLES),
    wait=waits,
    pick=st.integers(0, 7),
)


def ready(action: str, pick: int = 0) -> Step:
    return Step(action, right_role=True, role="incentives_admin", wait=timedelta(0), pick=pick)


COMPLETE_PROOF = [
    ready("attach_document", 0),
    ready("attach_document", 1),
    ready("send_survey", 2),  # partner, e-mail
    ready("survey_completed", 0),  # partner, current link
    ready("send_survey", 1),  # customer, e-mail
    ready("survey_completed", 1),  # customer, current link
]
PREFIXES = {
    "fresh": [],
    "complete proof": COMPLETE_PROOF,
    "submitted": [*COMPLETE_PROOF, ready("submit")],
    "approved": [*COMPLETE_PROOF, ready("submit"), ready("approve")],
    "asked": [*COMPLETE_PROOF, ready("submit"), ready("request_info")],
    "rejected": [*COMPLETE_PROOF, ready("submit"), ready("reject")],
}
"""Random steps rarely get a claim through review; some lives start further on."""


@settings(max_examples=200, deadline=None, database=None, derandomize=True)
@given(
    started_after_consent=st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=100)),
    prefix=st.sampled_from(list(PREFIXES)),
    life_steps=st.lists(steps, max_size=32),
)
def test_any_sequence_of_actions_keeps_the_claim_sound(
    started_after_consent: timedelta, prefix: str, life_steps: list[Step]
) -> None:
    life = Life.start(CONSENT + started_after_consent)
    for step in [*PREFIXES[prefix], *life_steps]:
        life.take(step)
    event(f"ends {life.claim.status}")
    for status in life.statuses:
        event(f"reached {status}")
