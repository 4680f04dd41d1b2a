"""The message sequence of one claim, driven to the end, for the claim and the baseline.

Both functions send the same messages in the same order and ask the same
queries, which is what makes the baseline a baseline:

  start (+1 query), attach_document x2 (updates), then per survey kind:
  send_survey (update), the survey link (query), the answers (the
  complete_survey update); then add_comment, submit, approve (updates),
  payment_issued (signal), and the workflow's result (the claim is paid and
  the workflow has completed).

The claim is driven by the project's one claim driver (claims_testing's
ClaimFactory, each message wrapped in the round-trip recorder) through
`ClaimsClient` exactly as a portal backend would drive it (survey answers
through their signed link), so the round trips measured here are the ones a
portal user sees.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC
from datetime import datetime

from temporalio.client import Client

from bench.baseline import BaselineWorkflow
from bench.latency import RoundTrips
from claims_testing.data import PARTNER_ADMIN
from claims_testing.data import PARTNER_USER
from claims_testing.data import REVIEWER
from claims_testing.data import claim_input
from claims_testing.factory import ClaimFactory
from claims_testing.factory import WallClock
from starter.client import ClaimsClient
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import AttachDocument
from workflows.messages import ClaimInput
from workflows.messages import Document
from workflows.messages import DocumentKind
from workflows.messages import PaymentIssued
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyCompleted
from workflows.messages import SurveyKind

DOCUMENT_KINDS: tuple[DocumentKind, ...] = ("results_and_recommendations", "invoice")
SURVEY_KINDS: tuple[SurveyKind, ...] = ("partner", "customer")
ANSWERS: dict[str, str | int | float] = {"q1": 5, "q2": "useful"}
RESPONDENT = "respondent@customer.example"
COMMENT = "Delivered on site to twelve people."


def engagement_prefix(run_tag: str) -> str:
    """What every engagement id that `new_claim(run_tag)` makes starts with."""
    return f"bench-{run_tag}-"


def new_claim(run_tag: str, consent_at: datetime | None = None) -> ClaimInput:
    """A valid claim with a unique engagement (two partner contacts, as most claims have)."""
    return claim_input(
        consent_at or datetime.now(UTC),
        engagement_id=f"{engagement_prefix(run_tag)}{uuid.uuid4().hex[:12]}",
    )


def proof_document(kind: DocumentKind) -> Document:
    """A document of a realistic size, as the portal's blob store would describe it."""
    digest = hashlib.sha256(kind.encode()).hexdigest()
    return Document(
        filename=f"{kind}.pdf",
        content_type="application/pdf",
        size_bytes=182_000,
        sha256=digest,
        uri=f"s3://claims-proof/{digest}",
    )


def attachment(kind: DocumentKind) -> AttachDocument:
    return AttachDocument(kind=kind, document=proof_document(kind), actor=PARTNER_USER)


def payment(engagement_id: str) -> PaymentIssued:
    return PaymentIssued(
        reference=f"PAY-{engagement_id}",
        amount="1500.00",
        currency="EUR",
        paid_at=datetime.now(UTC),
    )


async def claim_lifecycle(claims: ClaimsClient, rtt: RoundTrips, run_tag: str) -> str:
    """Drive a new claim from start to paid with the claim factory, each message timed;
    returns its workflow id."""
    factory = ClaimFactory(claims, WallClock(), timed=rtt.timed)
    claim = new_claim(run_tag)
    eid = claim.engagement_id
    await factory.start(claim)
    for document_kind in DOCUMENT_KINDS:
        await factory.attach(
            eid, document_kind, actor=PARTNER_USER, proof=proof_document(document_kind)
        )
    for survey_kind in SURVEY_KINDS:
        await factory.send_survey(eid, survey_kind)
        await factory.complete_survey(eid, survey_kind, respondent=RESPONDENT, answers=ANSWERS)
    await factory.comment(eid, COMMENT, actor=PARTNER_USER)
    await factory.submit(eid)
    await factory.approve(eid)
    await factory.pay(eid, reference=f"PAY-{eid}")
    final = await factory.result(eid)
    if final.status != "paid":
        raise RuntimeError(f"claim {eid} ended {final.status}, expected paid")
    return claims.handle(eid).id


async def baseline_lifecycle(client: Client, task_queue: str, rtt: RoundTrips, run_tag: str) -> str:
    """The same messages and queries, to the baseline workflow; returns its workflow id."""
    claim = new_claim(run_tag)
    eid = claim.engagement_id

    async def start() -> None:
        started = await client.start_workflow(
            BaselineWorkflow.run, claim, id=f"bench-baseline-{eid}", task_queue=task_queue
        )
        await started.query(BaselineWorkflow.get_claim)

    await rtt.timed("start_claim", start())
    handle = client.get_workflow_handle_for(BaselineWorkflow.run, f"bench-baseline-{eid}")
    for document_kind in DOCUMENT_KINDS:
        await rtt.timed(
            "attach_document",
            handle.execute_update(BaselineWorkflow.attach_document, attachment(document_kind)),
        )
    for survey_kind in SURVEY_KINDS:
        survey = SendSurvey(kind=survey_kind, actor=PARTNER_ADMIN)
        await rtt.timed("send_survey", handle.execute_update(BaselineWorkflow.send_survey, survey))
        await handle.query(BaselineWorkflow.get_claim)  # the survey link

        answers = SurveyCompleted(
            kind=survey_kind, link_version=1, respondent_email=RESPONDENT, answers=ANSWERS
        )
        await rtt.timed(
            "complete_survey", handle.execute_update(BaselineWorkflow.complete_survey, answers)
        )
    comment = AddComment(text=COMMENT, actor=PARTNER_USER)
    await rtt.timed("add_comment", handle.execute_update(BaselineWorkflow.add_comment, comment))
    await rtt.timed(
        "submit", handle.execute_update(BaselineWorkflow.submit, Submit(actor=PARTNER_ADMIN))
    )
    await rtt.timed(
        "approve", handle.execute_update(BaselineWorkflow.approve, Approve(actor=REVIEWER))
    )
    await rtt.timed("payment_issued", handle.signal(BaselineWorkflow.payment_issued, payment(eid)))
    await handle.result()
    return handle.id
