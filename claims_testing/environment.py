"""The objects behind the test kit's fixtures: mailbox, virtual clock, claim factory."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any, Literal

from temporalio.testing import WorkflowEnvironment

from activities.links import SurveyLinks
from activities.store import ClaimStore
from claims_testing.data import PARTNER_ADMIN, REVIEWER, attach, claim_input
from devstack.mailcatcher import MailCatcher, body_text
from devstack.mailcatcher import survey_link as _survey_link
from starter.client import ClaimsClient
from workflows.messages import (
    AddComment,
    Approve,
    ClaimView,
    PaymentIssued,
    ProofItem,
    Reject,
    RequestInfo,
    SendSurvey,
    Submit,
    SurveyKind,
)
from workflows.rules import PROOF_ITEMS, SUBMISSION_WINDOW

ClaimState = Literal[
    "in_progress", "submitted", "info_requested", "approved", "paid", "rejected", "auto_rejected"
]


class Mailbox(MailCatcher):
    """The captured mails, with helpers to find them and follow their survey links."""

    def survey_link(self, message: EmailMessage) -> str:
        """The survey link a mail carries."""
        return _survey_link(message)

    def text(self, message: EmailMessage) -> str:
        """A mail's plain-text body."""
        return body_text(message)


class VirtualClock:
    """Virtual time of the test server: read it, and move it by days.

    Time on the time-skipping server only moves while something waits for it:
    `advance` is one sleep of the whole span (then read results), which avoids
    the known traps of awaiting many results at once.
    """

    def __init__(self, temporal: WorkflowEnvironment) -> None:
        self._temporal = temporal

    async def now(self) -> datetime:
        return await self._temporal.get_current_time()

    async def advance(self, *, days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
        """Move time forward (timers due in the span fire); returns the new now."""
        span = timedelta(days=days, hours=hours, minutes=minutes)
        if not self._temporal.supports_time_skipping and span > timedelta(minutes=1):
            raise RuntimeError(
                "the dev server's time is real: advance it by days only on the "
                "time-skipping server (the default; drop --claims-server=dev)"
            )
        await self._temporal.sleep(span)
        return await self.now()


@dataclass
class ClaimFactory:
    """Brings a new claim to a named state through the real messages, never by writing state."""

    client: ClaimsClient
    clock: VirtualClock

    async def __call__(
        self, state: ClaimState = "in_progress", *, items: Iterable[ProofItem] = (), **fields: Any
    ) -> ClaimView:
        """Start a claim (fields override the defaults of `claims_testing.data.claim_input`)
        and drive it to `state`; `items` are the proof items done for `in_progress`."""
        now = await self.clock.now()
        if state == "auto_rejected":
            fields.setdefault("consent_at", now - SUBMISSION_WINDOW - timedelta(days=1))
        claim = claim_input(fields.pop("consent_at", now), **fields)
        eid = claim.engagement_id
        await self.client.start_claim(claim)
        if state == "auto_rejected":
            return await self.client.handle(eid).result()
        done = set(items) if state == "in_progress" else set(PROOF_ITEMS)
        await self.provide(eid, done)
        if state == "in_progress":
            return await self.client.get_claim(eid)
        view = await self.client.submit(eid, Submit(actor=PARTNER_ADMIN))
        if state == "submitted":
            return view
        if state == "info_requested":
            question = RequestInfo(question="Please add the attendance list.", actor=REVIEWER)
            return await self.client.request_info(eid, question)
        if state == "rejected":
            await self.client.reject(eid, Reject(reason="Not eligible.", actor=REVIEWER))
            return await self.client.handle(eid).result()
        view = await self.client.approve(eid, Approve(actor=REVIEWER))
        if state == "approved":
            return view
        payment = PaymentIssued(
            reference=f"TEST-{eid}",
            amount="1500.00",
            currency="EUR",
            paid_at=await self.clock.now(),
        )
        await self.client.payment_issued(eid, payment)
        return await self.client.handle(eid).result()

    async def provide(self, eid: str, items: set[ProofItem]) -> None:
        """Attach documents and complete surveys (through their links) for these items."""
        for item in PROOF_ITEMS:
            if item not in items:
                continue
            if item in ("results_and_recommendations", "invoice"):
                await self.client.attach_document(eid, attach(item))
                continue
            kind: SurveyKind = "partner" if item == "partner_survey" else "customer"
            await self.client.send_survey(eid, SendSurvey(kind=kind, actor=PARTNER_ADMIN))
            token = self.client.links.token_from_url(await self.client.survey_link(eid, kind))
            await self.client.complete_survey(token, "respondent@example.com", {"q1": 5})

    async def comment(self, eid: str, text: str) -> ClaimView:
        return await self.client.add_comment(eid, AddComment(text=text, actor=PARTNER_ADMIN))


@dataclass
class ClaimsEnvironment:
    """One test's claims environment: server, client, mailbox, read model, clock, factory."""

    temporal: WorkflowEnvironment
    client: ClaimsClient
    mailbox: Mailbox
    store: ClaimStore
    links: SurveyLinks
    clock: VirtualClock = field(init=False)
    factory: ClaimFactory = field(init=False)

    def __post_init__(self) -> None:
        self.clock = VirtualClock(self.temporal)
        self.factory = ClaimFactory(self.client, self.clock)
