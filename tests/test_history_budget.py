"""The standard lifecycle (7 updates, 3 signals) stays within its history budget, every
event and byte counted on the dev server as the benchmark counts them. Events and bytes
cost money and database writes per claim, so this guards against a change that quietly
adds a round trip per message or a payload to every answer. The budget is what the
code meets today; docs/performance.md has the targets (90 events, 25 kB) and what
stands between."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

from temporalio.testing import WorkflowEnvironment

from bench.histories import HistoryFigures
from claims_testing.factory import ANSWERS
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import REVIEWER
from tests.builders import attach
from tests.builders import claim_input
from tests.helpers import SURVEY_KINDS
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import PaymentIssued
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyCompleted

EVENT_BUDGET = 100
BYTES_BUDGET = 40_000


async def test_the_standard_lifecycle_stays_within_its_history_event_and_byte_budget(
    dev_env: WorkflowEnvironment, dev_claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    claim = claim_input(datetime.now(UTC))
    eid = claim.engagement_id
    await dev_claims.start_claim(claim)
    # 7 updates and 3 signals, as a portal and the program send them.
    await dev_claims.attach_document(eid, attach("results_and_recommendations"))
    await dev_claims.attach_document(eid, attach("invoice"))
    for kind in SURVEY_KINDS:
        await dev_claims.send_survey(eid, SendSurvey(kind=kind, actor=PARTNER_ADMIN))
        await dev_claims.survey_completed(
            eid,
            SurveyCompleted(
                kind=kind, link_version=1, respondent_email="someone@example.com", answers=ANSWERS
            ),
        )
    await dev_claims.add_comment(eid, AddComment(text="on site", actor=PARTNER_ADMIN))
    await dev_claims.submit(eid, Submit(actor=PARTNER_ADMIN))
    await dev_claims.approve(eid, Approve(actor=REVIEWER))
    await dev_claims.payment_issued(
        eid,
        PaymentIssued(reference="P-1", amount="10.00", currency="EUR", paid_at=datetime.now(UTC)),
    )
    final = await dev_claims.handle(eid).result()
    assert final.status == "paid"

    history = await dev_claims.handle(eid).fetch_history()
    figures = HistoryFigures.of(history.events)
    assert figures.event_types["WORKFLOW_EXECUTION_UPDATE_COMPLETED"] == 7
    assert figures.event_types["WORKFLOW_EXECUTION_SIGNALED"] == 3
    print(f"\n{figures.events} events, {figures.size_bytes} bytes: {dict(figures.event_types)}")
    # Every event counts, the workflow tasks the SDK adds to heartbeat a long local
    # activity too: they are what a slow read-model write costs.
    assert figures.events <= EVENT_BUDGET, dict(figures.pays_for)
    assert figures.size_bytes <= BYTES_BUDGET, dict(figures.bytes_by_type)
