"""Demo claims for the local stack: `python -m devstack --demo` (or `python -m devstack.demo`).

A newcomer opening the Temporal UI should find claims in every state the
operations guide talks about. Seeding goes through the project's one claim
driver (claims_testing's ClaimFactory, on the wall clock): the real
`ClaimsClient`, the real worker and the real survey links (the same secret key
as the worker), so what the UI, the mail page and `python -m starter list` show
is exactly what real use produces.

Seeding is idempotent: a demo claim that already runs is moved on only by
the steps it still lacks (each step looks at the claim's view first), and
one that is over (`ClaimAlreadyFinished`) is left as it is. So re-running
with an existing data folder never fails, and a run interrupted half-way is
completed by the next one.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sys
import time
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Literal
from typing import assert_never

from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError

from activities.links import SurveyLinks
from claims_testing.factory import ClaimFactory
from claims_testing.factory import WallClock
from starter.client import ClaimAlreadyFinished
from starter.client import ClaimRefused
from starter.client import ClaimsClient
from starter.client import StartedClaim
from starter.client import workflow_id
from starter.settings import SettingsError
from starter.settings import load_settings
from starter.temporal import connect
from workflows import operator_text
from workflows import rules
from workflows.claim import RELEASE
from workflows.claim import CarriedClaim
from workflows.claim import ClaimRun
from workflows.claim import WorkshopClaimWorkflow
from workflows.engagements import Workshop
from workflows.messages import Actor
from workflows.messages import AttachDocument
from workflows.messages import ClaimInput
from workflows.messages import ClaimView
from workflows.messages import Contact
from workflows.messages import Document
from workflows.messages import DocumentKind
from workflows.messages import Party
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyCompleted
from workflows.messages import SurveyKind
from workflows.rules import SUBMISSION_WINDOW_DAYS

CONTOSO = Party(id="P-100", name="Contoso Consulting")
NORTHWIND = Party(id="P-200", name="Northwind Advisory")

CONTACTS: dict[str, list[Contact]] = {
    CONTOSO.id: [
        Contact(name="Anna Admin", email="anna@contoso.example", locale="en"),
        Contact(name="Joost de Vries", email="joost@contoso.example", locale="nl"),
    ],
    NORTHWIND.id: [Contact(name="Nora North", email="nora@northwind.example", locale="en")],
}
ADMINS = {
    CONTOSO.id: Actor(user="anna@contoso.example", role="incentives_admin"),
    NORTHWIND.id: Actor(user="nora@northwind.example", role="incentives_admin"),
}
REVIEWER = Actor(user="rita.reviewer@program.example", role="reviewer")

DEMO_WORKSHOPS: dict[str, Workshop] = {
    code: Workshop(name=name, name_nl=name_nl, amount=amount, currency="EUR")
    for code, name, name_nl, amount in (
        ("cloud-adoption", "Cloud adoption workshop", "Cloud-adoptieworkshop", "1500.00"),
        ("data-discovery", "Data platform discovery", "Verkenning dataplatform", "2000.00"),
        ("security-review", "Security posture review", "Beveiligingsreview", "1800.00"),
        ("modern-workplace", "Modern workplace envisioning", "De moderne werkplek", "1200.00"),
        ("ai-readiness", "AI readiness workshop", "AI-gereedheidsworkshop", "2500.00"),
        ("migration-assessment", "Migration assessment", "Migratiebeoordeling", "1600.00"),
        ("analytics-day", "Analytics in a day", "Analytics in een dag", "900.00"),
    )
}
"""The demo stack's workshop catalogue (CLAIMS_WORKSHOPS), one type per demo workshop."""


def type_of(workshop: str) -> str:
    """The demo catalogue's code of a workshop name."""
    return next(code for code, entry in DEMO_WORKSHOPS.items() if entry.name == workshop)


WAITING_FOR_REVIEW = timedelta(days=20)
"""How long DEMO-1008 has waited for review when it is seeded."""
SETTLE_WITHIN = 15.0
"""Seconds to wait for a signal (a completed survey) to show in the claim's view."""


DemoTarget = Literal[
    "in_progress_some_proof",
    "expiring",
    "waiting_customer_survey",
    "submitted",
    "info_requested",
    "approved",
    "auto_rejected",
    "submitted_long_ago",
]


@dataclass(frozen=True)
class DemoClaim:
    """One demo claim: who, since when consent, and the state it is brought to."""

    engagement_id: str
    partner: Party
    customer: Party
    workshop: str
    consent_days_ago: int
    target: DemoTarget
    """The state it is brought to by `Seeder.advance`."""
    label: str
    """The state in an operator's words, for the progress line."""


DEMO_CLAIMS: tuple[DemoClaim, ...] = (
    DemoClaim(
        "DEMO-1001",
        CONTOSO,
        Party(id="C-501", name="Fabrikam BV"),
        "Cloud adoption workshop",
        20,
        "in_progress_some_proof",
        "some proof in, partner survey sent",
    ),
    DemoClaim(
        "DEMO-1002",
        NORTHWIND,
        Party(id="C-502", name="Tailspin Toys"),
        "Data platform discovery",
        85,
        "expiring",
        "expires within 7 days",
    ),
    DemoClaim(
        "DEMO-1003",
        CONTOSO,
        Party(id="C-503", name="Wide World Importers"),
        "Security posture review",
        40,
        "waiting_customer_survey",
        "waiting on the customer survey",
    ),
    DemoClaim(
        "DEMO-1004",
        NORTHWIND,
        Party(id="C-504", name="Adventure Works"),
        "Modern workplace envisioning",
        50,
        "submitted",
        "waiting for review",
    ),
    DemoClaim(
        "DEMO-1005",
        CONTOSO,
        Party(id="C-505", name="Litware Inc"),
        "AI readiness workshop",
        60,
        "info_requested",
        "question to the partner",
    ),
    DemoClaim(
        "DEMO-1006",
        NORTHWIND,
        Party(id="C-506", name="Proseware Ltd"),
        "Migration assessment",
        70,
        "approved",
        "approved, waiting for payment",
    ),
    DemoClaim(
        "DEMO-1007",
        CONTOSO,
        Party(id="C-507", name="Coho Winery"),
        "Analytics in a day",
        100,
        "auto_rejected",
        f"not submitted in {SUBMISSION_WINDOW_DAYS} days",
    ),
    DemoClaim(
        "DEMO-1008",
        NORTHWIND,
        Party(id="C-508", name="Fourth Coffee"),
        "Cloud adoption workshop",
        50,
        "submitted_long_ago",
        f"waiting for review {WAITING_FOR_REVIEW.days} days",
    ),
)
"""Eight claims, two partners, every state an operator searches for (one of them waiting
for review long enough for `list --in-status-longer-than 14d`)."""


@dataclass(frozen=True)
class Seeded:
    """What seeding did to one demo claim, for the progress line."""

    engagement_id: str
    label: str
    status: str
    outcome: str
    """'created', 'already there' or 'already over'."""
    deadline_at: datetime | None
    partner: str

    def line(self) -> str:
        deadline = f"deadline {self.deadline_at:%Y-%m-%d}" if self.deadline_at else ""
        return (
            f"      {self.engagement_id}  {self.status:<15} {self.label:<35} {self.partner:<19} "
            f"{deadline:<20} ({self.outcome})"
        )


def _pdf(text: str) -> bytes:
    """A tiny real PDF, so the document is a plausible file if the portal serves it."""
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"% " + text.encode() + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )


def demo_document(engagement_id: str, kind: DocumentKind, blob_dir: Path | None) -> Document:
    """A proof document; stored in the portal's blob folder when there is one."""
    content = _pdf(f"demo {kind} of {engagement_id}")
    sha256 = hashlib.sha256(content).hexdigest()
    uri = f"file:///demo/{sha256}"
    if blob_dir is not None:
        try:
            from portal.blobs import BlobStore
            from portal.blobs import content_uri
        except ImportError:  # the portal API is not part of this checkout
            pass
        else:
            path = BlobStore(blob_dir).path_for(sha256)
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                path.write_bytes(content)
            uri = content_uri(sha256)
    return Document(
        filename=f"{engagement_id}-{kind}.pdf",
        content_type="application/pdf",
        size_bytes=len(content),
        sha256=sha256,
        uri=uri,
    )


def customer_contact(customer: Party) -> Contact:
    return Contact(name=f"{customer.name} contact", email=f"contact@{customer.id.lower()}.example")


def claim_input(demo: DemoClaim, now: datetime) -> ClaimInput:
    contacts = CONTACTS[demo.partner.id]
    return ClaimInput(
        engagement_id=demo.engagement_id,
        partner=demo.partner,
        customer=demo.customer,
        workshop=demo.workshop,
        workshop_type=type_of(demo.workshop),
        consent_at=now - timedelta(days=demo.consent_days_ago),
        partner_contacts=contacts,
        customer_contact=customer_contact(demo.customer),
        actor=ADMINS[demo.partner.id],
    )


def submitted_long_ago(claim: ClaimInput, submitted_at: datetime) -> ClaimRun:
    """The run of a claim submitted at `submitted_at` with all its proof, made by the rules
    at the moments it happened; its mails of then are not sent again."""
    started_at = submitted_at - timedelta(days=10)
    state = rules.open_claim(claim, started_at)
    admin = claim.actor
    for kind in ("results_and_recommendations", "invoice"):
        document = demo_document(claim.engagement_id, kind, None)
        msg = AttachDocument(kind=kind, document=document, actor=admin)
        rules.attach_document(state, msg, started_at)
    for survey_kind in ("partner", "customer"):
        rules.send_survey(state, SendSurvey(kind=survey_kind, actor=admin), started_at)
        answered = SurveyCompleted(
            kind=survey_kind,
            link_version=rules.survey(state, survey_kind).link_version,
            respondent_email=(
                claim.customer_contact if survey_kind == "customer" else claim.partner_contacts[0]
            ).email,
            answers={"satisfaction": 5},
        )
        rules.complete_survey(state, answered, started_at + timedelta(days=1))
    state.clocks.append("review_clock")
    rules.submit(state, Submit(actor=admin), submitted_at)
    state.outbox.clear()  # sent back then
    carried = CarriedClaim(claim=state, stored=0, release=RELEASE)
    return ClaimRun.model_validate({**claim.model_dump(), "carried": carried.model_dump()})


class Seeder:
    """Brings each demo claim to its state, one idempotent step at a time."""

    def __init__(self, claims: ClaimsClient, blob_dir: Path | None = None) -> None:
        self.claims = claims
        self.blob_dir = blob_dir
        # Sends the messages: the project's one claim driver.
        self.factory = ClaimFactory(claims, WallClock())

    async def _settle(self, eid: str, done: Callable[[ClaimView], bool], what: str) -> ClaimView:
        """Wait until a signal shows in the view (signals return before they take effect)."""
        deadline = time.monotonic() + SETTLE_WITHIN
        while True:
            view = await self.claims.get_claim(eid)
            if done(view):
                return view
            if time.monotonic() > deadline:
                raise TimeoutError(f"{eid}: {what} did not show within {SETTLE_WITHIN:g}s")
            await asyncio.sleep(0.1)

    async def attach(self, view: ClaimView, kind: DocumentKind) -> ClaimView:
        if getattr(view.proof, kind).status == "attached":
            return view
        eid = view.engagement_id
        proof = demo_document(eid, kind, self.blob_dir)
        return await self.factory.attach(eid, kind, actor=ADMINS[view.partner.id], proof=proof)

    async def send_survey(self, view: ClaimView, kind: SurveyKind) -> ClaimView:
        if getattr(view.proof, f"{kind}_survey").status in ("sent", "completed"):
            return view
        return await self.factory.send_survey(
            view.engagement_id, kind, actor=ADMINS[view.partner.id]
        )

    async def complete_survey(self, view: ClaimView, kind: SurveyKind) -> ClaimView:
        """Answer the survey through its real link, as the respondent's browser would."""
        view = await self.send_survey(view, kind)
        if getattr(view.proof, f"{kind}_survey").status == "completed":
            return view
        eid = view.engagement_id
        respondent = (
            view.customer_contact.email if kind == "customer" else view.partner_contacts[0].email
        )
        await self.factory.complete_survey(
            eid, kind, respondent=respondent, answers={"satisfaction": 5, "would_recommend": "yes"}
        )
        return await self._settle(
            eid,
            lambda v: getattr(v.proof, f"{kind}_survey").status == "completed",
            f"the completed {kind} survey",
        )

    async def complete_proof(self, view: ClaimView) -> ClaimView:
        view = await self.attach(view, "results_and_recommendations")
        view = await self.attach(view, "invoice")
        view = await self.complete_survey(view, "partner")
        return await self.complete_survey(view, "customer")

    async def submit(self, view: ClaimView) -> ClaimView:
        view = await self.complete_proof(view)
        if view.status != "in_progress":
            return view
        return await self.factory.submit(view.engagement_id, actor=ADMINS[view.partner.id])

    async def advance(self, view: ClaimView, target: DemoTarget) -> ClaimView:
        """The steps of each target; every step skips itself if already done."""
        if target == "in_progress_some_proof":
            view = await self.attach(view, "results_and_recommendations")
            return await self.send_survey(view, "partner")
        if target == "expiring":
            return await self.attach(view, "invoice")
        if target == "waiting_customer_survey":
            view = await self.attach(view, "results_and_recommendations")
            view = await self.attach(view, "invoice")
            view = await self.complete_survey(view, "partner")
            return await self.send_survey(view, "customer")
        if target == "submitted":
            return await self.submit(view)
        if target == "info_requested":
            view = await self.submit(view)
            if view.status != "submitted":
                return view
            question = "Please add the attendance list of the second session."
            return await self.factory.request_info(view.engagement_id, question, actor=REVIEWER)
        if target == "approved":
            view = await self.submit(view)
            if view.status != "submitted":
                return view
            note = "Demo: all proof in order."
            return await self.factory.approve(view.engagement_id, note=note, actor=REVIEWER)
        if target == "submitted_long_ago":  # seeded as it stood (submitted_long_ago)
            return view
        if target == "auto_rejected":  # the deadline passed before the start: nothing to do
            return await self._settle(
                view.engagement_id, lambda v: v.status == "auto_rejected", "auto-rejection"
            )
        assert_never(target)

    async def seed_one(self, demo: DemoClaim, now: datetime) -> Seeded:
        partner = demo.partner.name
        try:
            if demo.target == "submitted_long_ago":
                started = await self._start_as_it_stood(demo, now)
            else:
                started = await self.factory.start(claim_input(demo, now))
        except ClaimAlreadyFinished as finished:
            status = finished.view.status if finished.view else "finished"
            deadline = finished.view.deadline_at if finished.view else None
            return Seeded(demo.engagement_id, demo.label, status, "already over", deadline, partner)
        outcome = "created" if started.created else "already there"
        try:
            view = await self.advance(started.view, demo.target)
        except ClaimRefused as refused:  # changed by hand since an earlier seeding
            view = await self.claims.get_claim(demo.engagement_id)
            outcome = f"{outcome}; left as is: {refused}"
        return Seeded(
            demo.engagement_id, demo.label, view.status, outcome, view.deadline_at, partner
        )

    async def _start_as_it_stood(self, demo: DemoClaim, now: datetime) -> StartedClaim:
        """A claim that waits for review since WAITING_FOR_REVIEW ago: no message can be
        sent in the past, so its state is made by the rules at those past moments and the
        claim is started with it, as continue-as-new starts a claim's next run (a claim
        taken over from an earlier system would start the same way)."""
        run = submitted_long_ago(claim_input(demo, now), now - WAITING_FOR_REVIEW)
        try:
            await self.claims.client.start_workflow(
                WorkshopClaimWorkflow.run,
                run,
                id=workflow_id(demo.engagement_id),
                task_queue=self.claims.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                static_summary=operator_text.static_summary(run),
                static_details=operator_text.static_details(run),
            )
            created = True
        except WorkflowAlreadyStartedError:
            created = False
        return StartedClaim(view=await self.claims.get_claim(demo.engagement_id), created=created)

    async def seed(
        self,
        demos: Sequence[DemoClaim] = DEMO_CLAIMS,
        report: Callable[[Seeded], None] | None = None,
    ) -> list[Seeded]:
        """Seed every demo claim in turn; `report` hears about each as it is done."""
        now = datetime.now(UTC)
        results = []
        for demo in demos:
            result = await self.seed_one(demo, now)
            results.append(result)
            if report is not None:
                report(result)
        return results


def print_seeded(result: Seeded) -> None:
    print(result.line(), flush=True)


async def _run_from_env() -> int:
    try:
        settings = load_settings()
    except SettingsError as err:
        print(f"demo: configuration error: {err}", file=sys.stderr)
        return 2
    client = await connect(settings)
    links = SurveyLinks(settings.secret_key, settings.public_url)
    claims = ClaimsClient(client, task_queue=settings.task_queue, links=links)
    print("seeding demo claims ...", flush=True)
    await Seeder(claims).seed(report=print_seeded)
    return 0


def main() -> int:
    argparse.ArgumentParser(
        prog="python -m devstack.demo",
        description="Seed the demo claims into a running stack, configured like the worker "
        "(TEMPORAL_ADDRESS, CLAIMS_TASK_QUEUE, CLAIMS_PUBLIC_URL and the worker's "
        "CLAIMS_SECRET_KEY). `python -m devstack --demo` does this for you.",
    ).parse_args()
    return asyncio.run(_run_from_env())


if __name__ == "__main__":
    sys.exit(main())
