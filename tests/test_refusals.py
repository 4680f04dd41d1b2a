"""Every refusal type, and that a refused update changes nothing and writes nothing.

Refusals happen in update validators, so a refused update leaves no event in
history on the dev server; the time-skipping test server still records one
empty workflow task (three WORKFLOW_TASK_* events) and nothing else.
"""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from starter.client import ClaimRefused
from starter.client import ClaimsClient
from starter.client import workflow_id
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_USER
from tests.builders import REVIEWER
from tests.builders import attach
from tests.builders import claim_input
from tests.helpers import history_event_types
from tests.helpers import plain_json_client
from tests.helpers import refused
from tests.helpers import settled
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import Contact
from workflows.messages import RefusalType
from workflows.messages import RequestInfo
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyKind
from workflows.messages import UpdateContacts

pytestmark = pytest.mark.claims_server("shared")

Step = Callable[[ClaimsClient, str], Awaitable[object]]


async def nothing(claims: ClaimsClient, eid: str) -> None:
    return None


async def complete_survey(claims: ClaimsClient, eid: str, kind: SurveyKind) -> None:
    await claims.send_survey(eid, SendSurvey(kind=kind, actor=PARTNER_ADMIN))
    token = claims.links.token_from_url(await claims.survey_link(eid, kind))
    await claims.complete_survey(token, "respondent@example.com", {"q1": 5})


async def customer_survey_completed(claims: ClaimsClient, eid: str) -> None:
    await complete_survey(claims, eid, "customer")


async def all_proof_submitted(claims: ClaimsClient, eid: str) -> None:
    await claims.attach_document(eid, attach("results_and_recommendations"))
    await claims.attach_document(eid, attach("invoice"))
    await complete_survey(claims, eid, "partner")
    await complete_survey(claims, eid, "customer")
    await claims.submit(eid, Submit(actor=PARTNER_ADMIN))


@dataclass(frozen=True)
class Refused:
    """A claim brought to a state by `prepare`, then an action the rules refuse."""

    name: str
    type: RefusalType
    prepare: Step
    act: Step
    message_part: str


REFUSALS = [
    Refused(
        "direct channel for the customer survey",
        "InvalidInput",
        nothing,
        lambda c, e: c.send_survey(
            e, SendSurvey(kind="customer", channel="direct", actor=PARTNER_ADMIN)
        ),
        "channel",
    ),
    Refused(
        "a contacts update that changes nothing",
        "InvalidInput",
        nothing,
        lambda c, e: c.update_contacts(e, UpdateContacts(actor=PARTNER_ADMIN)),
        "partner_contacts or customer_contact",
    ),
    Refused(
        "a reviewer doing a partner action",
        "NotAllowed",
        nothing,
        lambda c, e: c.add_comment(e, AddComment(text="hello", actor=REVIEWER)),
        "reviewer",
    ),
    Refused(
        "a partner doing a review action",
        "NotAllowed",
        all_proof_submitted,
        lambda c, e: c.approve(e, Approve(actor=PARTNER_USER)),
        "incentives_user",
    ),
    Refused(
        "approval of a claim not submitted",
        "WrongState",
        nothing,
        lambda c, e: c.approve(e, Approve(actor=REVIEWER)),
        "in progress",
    ),
    Refused(
        "a comment on a submitted claim",
        "WrongState",
        all_proof_submitted,
        lambda c, e: c.add_comment(e, AddComment(text="late", actor=PARTNER_ADMIN)),
        "submitted",
    ),
    Refused(
        "submission with proof missing",
        "Incomplete",
        nothing,
        lambda c, e: c.submit(e, Submit(actor=PARTNER_ADMIN)),
        "missing",
    ),
    Refused(
        "a customer contact change after the customer survey",
        "ContactLocked",
        customer_survey_completed,
        lambda c, e: c.update_contacts(
            e,
            UpdateContacts(
                customer_contact=Contact(name="New Person", email="new@customer.example"),
                actor=PARTNER_ADMIN,
            ),
        ),
        "customer",
    ),
    Refused(
        "a re-send of a completed survey",
        "SurveyCompleted",
        customer_survey_completed,
        lambda c, e: c.send_survey(e, SendSurvey(kind="customer", actor=PARTNER_ADMIN)),
        "already completed",
    ),
]


@pytest.mark.parametrize("case", REFUSALS, ids=[r.name for r in REFUSALS])
async def test_refused_update_fails_with_its_type_and_changes_nothing(
    env: WorkflowEnvironment, claims: ClaimsClient, case: Refused
) -> None:
    started = await claims.start_claim(claim_input(await env.get_current_time()))
    eid = started.view.engagement_id
    await case.prepare(claims, eid)
    before_events = await settled(claims.handle(eid))
    before_view = await claims.get_claim(eid)

    refusal = await refused(case.act(claims, eid), case.type)

    # A Temporal update failure whose cause is an ApplicationError of the refusal type.
    assert isinstance(refusal, WorkflowUpdateFailedError)
    assert isinstance(refusal.cause, ApplicationError)
    assert refusal.cause.type == case.type
    assert case.message_part in refusal.cause.message
    assert await claims.get_claim(eid) == before_view
    after_events = await history_event_types(claims.handle(eid))
    assert after_events[: len(before_events)] == before_events
    assert after_events[len(before_events) :] == [
        "EVENT_TYPE_WORKFLOW_TASK_SCHEDULED",
        "EVENT_TYPE_WORKFLOW_TASK_STARTED",
        "EVENT_TYPE_WORKFLOW_TASK_COMPLETED",
    ]


async def test_incomplete_refusal_details_list_the_missing_items_in_order(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    started = await claims.start_claim(claim_input(await env.get_current_time()))
    eid = started.view.engagement_id
    await claims.attach_document(eid, attach("invoice"))
    refusal = await refused(claims.submit(eid, Submit(actor=PARTNER_ADMIN)), "Incomplete")
    assert list(refusal.cause.details) == [
        "results_and_recommendations",
        "partner_survey",
        "customer_survey",
    ]


@pytest.mark.claims_server("time-skipping")  # moves time: a server of its own
async def test_deadline_passed_refusal_while_the_claim_is_still_in_progress(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    """Between the deadline and its timer's workflow task, partner actions are refused."""
    started = await claims.start_claim(claim_input(await env.get_current_time()))
    eid = started.view.engagement_id
    await env.sleep(timedelta(days=91))
    await refused(
        claims.add_comment(eid, AddComment(text="too late", actor=PARTNER_ADMIN)), "DeadlinePassed"
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"kind": "invoice", "actor": {"user": "u", "role": "incentives_admin"}}, "document"),
        (
            {
                "kind": "brochure",
                "document": {},
                "actor": {"user": "u", "role": "incentives_admin"},
            },
            "kind",
        ),
        ({"kind": "invoice", "document": {}, "actor": {"user": "u", "role": "boss"}}, "actor.role"),
        ({"text": "x" * 4001, "actor": {"user": "u", "role": "incentives_admin"}}, "text"),
        ({"text": "hi", "actor": {"user": "u", "role": "incentives_admin"}, "by": "x"}, "by"),
    ],
    ids=["missing field", "unknown kind", "unknown role", "text too long", "unknown field"],
)
async def test_malformed_payload_is_refused_as_invalid_input_naming_the_field(
    env: WorkflowEnvironment, claims: ClaimsClient, payload: dict[str, object], field: str
) -> None:
    started = await claims.start_claim(claim_input(await env.get_current_time()))
    eid = started.view.engagement_id
    update = "add_comment" if "text" in payload else "attach_document"
    raw = plain_json_client(claims.client).get_workflow_handle(workflow_id(eid))
    before = await claims.get_claim(eid)
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await raw.execute_update(update, payload)
    cause = failed.value.cause
    assert isinstance(cause, ApplicationError)
    assert cause.type == "InvalidInput"
    assert field in cause.message
    assert await claims.get_claim(eid) == before


# --- on the dev server, a refused update leaves no trace at all ---------------------------


async def test_refused_update_writes_nothing_to_history_on_the_dev_server(
    dev_env: WorkflowEnvironment, dev_claims: ClaimsClient
) -> None:
    claims = dev_claims
    started = await claims.start_claim(claim_input(await dev_env.get_current_time()))
    eid = started.view.engagement_id
    handle = claims.handle(eid)
    before = await settled(handle)
    for act in (
        claims.submit(eid, Submit(actor=PARTNER_ADMIN)),
        claims.approve(eid, Approve(actor=REVIEWER)),
        claims.request_info(eid, RequestInfo(question="why?", actor=PARTNER_ADMIN)),
        claims.update_contacts(
            eid, UpdateContacts(customer_contact=CUSTOMER_CONTACT, actor=REVIEWER)
        ),
    ):
        with pytest.raises(ClaimRefused):
            await act
    assert await history_event_types(handle) == before
    await handle.terminate("test over")
