"""The one claim driver: brings claims to named states through the real messages.

Tests (the `claim_factory` fixture), the replay corpus's scenarios, the benchmark's
claim lifecycle and the demo seeder all drive claims with it, so there is one place
that knows which messages make a claim `submitted`, `approved` or `paid`. It never
writes state: every step is the message a portal or a reviewer would send.

`ClaimFactory(client, clock)("approved")` is the short way; the step methods
(`start`, `attach`, `send_survey`, `complete_survey`, `comment`, `submit`,
`cancel`, `respond_info`, `dispute`, `request_info`, `approve`, `reject`, `pay`,
`result`) are the long way, for a
caller that needs its own order, actors or documents. `timed` wraps every message
(the benchmark passes its round-trip recorder there); by default it only awaits.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Protocol
from typing import TypeVar
from typing import get_args

from claims_testing.data import PARTNER_ADMIN
from claims_testing.data import REVIEWER
from claims_testing.data import claim_input
from claims_testing.data import document
from starter.client import ClaimsClient
from starter.client import StartedClaim
from workflows.messages import Actor
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import AttachDocument
from workflows.messages import Cancel
from workflows.messages import ClaimInput
from workflows.messages import ClaimStatus
from workflows.messages import ClaimView
from workflows.messages import Dispute
from workflows.messages import Document
from workflows.messages import DocumentKind
from workflows.messages import PaymentIssued
from workflows.messages import ProofItem
from workflows.messages import Reject
from workflows.messages import RequestInfo
from workflows.messages import RespondInfo
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyChannel
from workflows.messages import SurveyKind
from workflows.rules import PROOF_ITEMS
from workflows.rules import REPLY_WINDOW_DAYS
from workflows.rules import SUBMISSION_WINDOW

T = TypeVar("T")

ClaimState = ClaimStatus
"""The factory drives a claim to any status."""
CLAIM_STATES: tuple[ClaimState, ...] = get_args(ClaimState)
"""Every state the factory drives a claim to."""
NOTHING_DONE = frozenset({"auto_rejected", "cancelled"})
"""States the factory reaches with no proof item done."""
RESPONDENT = "respondent@example.com"
ANSWERS: Mapping[str, str | int | float] = {"q1": 5}
QUESTION = "Please add the attendance list."
ANSWER = "Twelve people attended; the list is attached."
REASON = "Started for the wrong engagement."


class Clock(Protocol):
    """Where "now" comes from: the test server's virtual time or the wall clock."""

    async def now(self) -> datetime: ...


class WallClock:
    """Real time, for a driver on the dev server or a real stack (bench, demo)."""

    async def now(self) -> datetime:
        return datetime.now(UTC)


class Timer(Protocol):
    """Wraps one message's round trip, by message name (e.g. bench's `RoundTrips.timed`)."""

    def __call__(self, name: str, call: Awaitable[T]) -> Awaitable[T]: ...


async def untimed(name: str, call: Awaitable[T]) -> T:
    """The default timer: just the message."""
    return await call


def _checked(state: str, items: Iterable[str]) -> set[ProofItem]:
    """The proof items a claim driven to `state` has done, or a ValueError saying why not."""
    if state not in CLAIM_STATES:
        raise ValueError(f"unknown claim state {state!r}: use one of {', '.join(CLAIM_STATES)}")
    given = list(items)
    unknown = [item for item in given if item not in PROOF_ITEMS]
    if unknown:
        raise ValueError(
            f"unknown proof item(s) {', '.join(map(repr, unknown))}: "
            f"use any of {', '.join(PROOF_ITEMS)}"
        )
    if state == "in_progress":
        return {item for item in PROOF_ITEMS if item in given}
    if given:
        raise ValueError(
            f"items are for 'in_progress' only: a claim that is {state!r} "
            + ("has none done" if state in NOTHING_DONE else "has all four done")
        )
    return set() if state in NOTHING_DONE else set(PROOF_ITEMS)


@dataclass
class ClaimFactory:
    """Brings a new claim to a named state through the real messages, never by writing state."""

    client: ClaimsClient
    clock: Clock
    timed: Timer = untimed

    async def __call__(
        self, state: ClaimState = "in_progress", *, items: Iterable[ProofItem] = (), **fields: Any
    ) -> ClaimView:
        """Start a claim (fields override the defaults of `claims_testing.data.claim_input`)
        and drive it to `state`; `items` are the proof items done for `in_progress` (a
        claim `cancelled` or `auto_rejected` has none; cancel one with items by hand).
        `disputed` and `rejected_final` go through a rejection and a dispute; `expired`
        waits out the reply window, so it needs virtual time (the time-skipping server)
        like the other clocks; `terminated` is a claim in progress terminated in Temporal.

        A state or item it does not know is a `ValueError` naming the valid ones, never
        a claim in some other state (a typo must fail the test, not pass it).
        """
        done_items = _checked(state, items)
        if state == "auto_rejected":
            now = await self.clock.now()
            fields.setdefault("consent_at", now - SUBMISSION_WINDOW - timedelta(days=1))
        claim = await self.new_claim(**fields)
        eid = claim.engagement_id
        await self.start(claim)
        if state == "auto_rejected":
            return await self.result(eid)
        await self.provide(eid, done_items)
        if state == "terminated":  # as an operator does it, from outside the claim
            await self.client.handle(eid).terminate("terminated by the test kit")
        if state in ("in_progress", "terminated"):
            return await self.client.get_claim(eid)
        if state == "cancelled":
            await self.cancel(eid)
            return await self.result(eid)
        await self.submit(eid)
        if state in ("info_requested", "expired"):
            await self.request_info(eid)
            if state == "expired":
                return await self._expire(eid)
        elif state in ("rejected", "disputed", "rejected_final"):
            await self.reject(eid)
            if state != "rejected":
                await self.dispute(eid)
            if state == "rejected_final":
                await self.reject(eid, "Still not eligible.")
                return await self.result(eid)
        elif state != "submitted":
            await self.approve(eid)
            if state == "paid":
                await self.pay(eid)
                return await self.result(eid)
        # An update answers without history, comments and questions: the query has them.
        return await self.client.get_claim(eid)

    async def provide(self, eid: str, items: set[ProofItem]) -> None:
        """Attach documents and complete surveys (through their links) for these items."""
        for item in PROOF_ITEMS:
            if item not in items:
                continue
            if item in ("results_and_recommendations", "invoice"):
                await self.attach(eid, item)
                continue
            kind: SurveyKind = "partner" if item == "partner_survey" else "customer"
            await self.send_survey(eid, kind)
            await self.complete_survey(eid, kind)

    # --- the steps: one message each ----------------------------------------------------------

    async def new_claim(self, **fields: Any) -> ClaimInput:
        """A valid start input; consent now (the clock's) unless `consent_at` is given."""
        consent_at = fields.pop("consent_at", None) or await self.clock.now()
        return claim_input(consent_at, **fields)

    async def start(self, claim: ClaimInput) -> StartedClaim:
        return await self.timed("start_claim", self.client.start_claim(claim))

    async def attach(
        self,
        eid: str,
        kind: DocumentKind,
        *,
        actor: Actor = PARTNER_ADMIN,
        name: str = "proof",
        proof: Document | None = None,
    ) -> ClaimView:
        """Attach a document of `kind` (`proof`, or a made-up one called `name`)."""
        msg = AttachDocument(kind=kind, document=proof or document(kind, name), actor=actor)
        return await self.timed("attach_document", self.client.attach_document(eid, msg))

    async def send_survey(
        self,
        eid: str,
        kind: SurveyKind,
        *,
        actor: Actor = PARTNER_ADMIN,
        channel: SurveyChannel = "email",
    ) -> ClaimView:
        msg = SendSurvey(kind=kind, channel=channel, actor=actor)
        return await self.timed("send_survey", self.client.send_survey(eid, msg))

    async def complete_survey(
        self,
        eid: str,
        kind: SurveyKind,
        *,
        respondent: str = RESPONDENT,
        answers: Mapping[str, str | int | float] = ANSWERS,
    ) -> ClaimView:
        """Answer a sent survey through its current link, as the respondent's browser would."""
        token = self.client.links.token_from_url(await self.client.survey_link(eid, kind))
        return await self.timed(
            "complete_survey", self.client.complete_survey(token, respondent, answers)
        )

    async def comment(self, eid: str, text: str, *, actor: Actor = PARTNER_ADMIN) -> ClaimView:
        msg = AddComment(text=text, actor=actor)
        return await self.timed("add_comment", self.client.add_comment(eid, msg))

    async def submit(self, eid: str, *, actor: Actor = PARTNER_ADMIN) -> ClaimView:
        return await self.timed("submit", self.client.submit(eid, Submit(actor=actor)))

    async def cancel(
        self, eid: str, reason: str = REASON, *, actor: Actor = PARTNER_ADMIN
    ) -> ClaimView:
        """Withdraw the claim (before submission); returns its last view (the workflow ends)."""
        msg = Cancel(reason=reason, actor=actor)
        return await self.timed("cancel", self.client.cancel(eid, msg))

    async def respond_info(
        self, eid: str, text: str = ANSWER, *, actor: Actor = PARTNER_ADMIN
    ) -> ClaimView:
        """Answer the program's open question (the claim can then be submitted again)."""
        msg = RespondInfo(text=text, actor=actor)
        return await self.timed("respond_info", self.client.respond_info(eid, msg))

    async def dispute(
        self, eid: str, reason: str = "The workshop was eligible.", *, actor: Actor = PARTNER_ADMIN
    ) -> ClaimView:
        """Dispute the rejection, within the dispute window."""
        msg = Dispute(reason=reason, actor=actor)
        return await self.timed("dispute", self.client.dispute(eid, msg))

    async def request_info(
        self, eid: str, question: str = QUESTION, *, actor: Actor = REVIEWER
    ) -> ClaimView:
        msg = RequestInfo(question=question, actor=actor)
        return await self.timed("request_info", self.client.request_info(eid, msg))

    async def approve(
        self, eid: str, *, note: str | None = None, actor: Actor = REVIEWER
    ) -> ClaimView:
        msg = Approve(note=note, actor=actor)
        return await self.timed("approve", self.client.approve(eid, msg))

    async def reject(
        self, eid: str, reason: str = "Not eligible.", *, actor: Actor = REVIEWER
    ) -> ClaimView:
        """Reject the submitted (or disputed) claim: `rejected`, open to a dispute for
        30 days (a disputed claim's rejection is final, and its workflow ends)."""
        msg = Reject(reason=reason, actor=actor)
        return await self.timed("reject", self.client.reject(eid, msg))

    async def pay(self, eid: str, *, reference: str | None = None, amount: str = "1500.00") -> None:
        """The payment signal of an approved claim (paid now, by the clock)."""
        payment = PaymentIssued(
            reference=reference or f"TEST-{eid}",
            amount=amount,
            currency="EUR",
            paid_at=await self.clock.now(),
        )
        await self.timed("payment_issued", self.client.payment_issued(eid, payment))

    async def _expire(self, eid: str) -> ClaimView:
        """Let the reply window run out: one virtual sleep over it (awaiting the result
        alone does not move the test server's time past timers set by an update)."""
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise ValueError("'expired' needs virtual time: use a VirtualClock")
        await advance(days=REPLY_WINDOW_DAYS + 1)
        return await self.result(eid)

    async def result(self, eid: str) -> ClaimView:
        """The claim's final view, once its workflow has ended."""
        return await self.client.handle(eid).result()
