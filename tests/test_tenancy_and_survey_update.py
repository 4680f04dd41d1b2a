"""The claim itself enforces tenancy and takes survey answers by update, so a portal
click is one round trip: a partner's actor names its partner, another partner's
claim is refused exactly like an unknown one, and survey answers are answered
at once (taken, or refused with why, recording nothing)."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from starter.client import ClaimsClient
from starter.client import ClaimUpdateRefused
from starter.client import SurveyAnswersQueued
from starter.client import SurveyLinkExpired
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import claim_input
from tests.helpers import refused
from tests.helpers import sent_survey_token
from worker import create_worker
from workflows.claim import WorkshopClaimWorkflow
from workflows.messages import Actor
from workflows.messages import AddComment
from workflows.messages import Reject
from workflows.messages import SendSurvey
from workflows.messages import SurveyCompleted
from workflows.messages import UpdateContacts

OUR_PARTNER = PARTNER_ADMIN.model_copy(update={"partner_id": "partner-42"})
OTHER_PARTNER = Actor(user="olga@elsewhere.example", role="incentives_admin", partner_id="p-99")


async def start(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    started = await claims.start_claim(claim_input(await env.get_current_time()))
    assert started.view.partner.id == OUR_PARTNER.partner_id
    return started.view.engagement_id


@pytest.fixture
async def eid(env: WorkflowEnvironment, claims: ClaimsClient) -> str:
    """A claim started now, of the partner OUR_PARTNER acts for (`start`)."""
    return await start(env, claims)


async def test_another_partners_update_is_refused_as_not_found_and_changes_nothing(
    claims: ClaimsClient, eid: str
) -> None:
    before = await claims.get_claim(eid)

    refusal = await refused(
        claims.add_comment(eid, AddComment(text="mine now", actor=OTHER_PARTNER)), "NotFound"
    )

    assert isinstance(refusal, ClaimUpdateRefused)
    assert refusal.message == f"there is no claim for engagement {eid}"
    assert await claims.get_claim(eid) == before


async def test_a_partners_own_update_and_a_trusted_caller_are_both_accepted(
    claims: ClaimsClient, eid: str
) -> None:
    await claims.add_comment(eid, AddComment(text="ours", actor=OUR_PARTNER))
    await claims.add_comment(eid, AddComment(text="trusted", actor=PARTNER_ADMIN))
    view = await claims.get_claim(eid)
    assert [c.text for c in view.comments] == ["ours", "trusted"]
    # The claim keeps who and in which role; the partner is the claim's own.
    assert view.comments[0].actor.model_dump() == {
        "user": OUR_PARTNER.user,
        "role": "incentives_admin",
    }


async def test_role_is_refused_before_tenancy(claims: ClaimsClient, eid: str) -> None:
    await refused(claims.reject(eid, Reject(reason="no", actor=OTHER_PARTNER)), "NotAllowed")


async def test_a_finished_claim_of_another_partner_is_not_found_not_wrong_state(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    past = (await env.get_current_time()).replace(year=2020)
    started = await claims.start_claim(claim_input(past))
    eid = started.view.engagement_id
    assert (await claims.handle(eid).result()).status == "auto_rejected"

    with pytest.raises(ClaimUpdateRefused) as other:
        await claims.add_comment(eid, AddComment(text="x", actor=OTHER_PARTNER))
    assert other.value.type == "NotFound"

    with pytest.raises(ClaimUpdateRefused) as own:
        await claims.add_comment(eid, AddComment(text="x", actor=OUR_PARTNER))
    assert own.value.type == "DeadlinePassed"
    assert isinstance(own.value, WorkflowUpdateFailedError)


async def test_a_start_for_another_partner_is_refused_naming_the_field(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    claim = claim_input(await env.get_current_time(), actor=OTHER_PARTNER)
    refusal = await refused(claims.start_claim(claim), "NotAllowed")
    assert refusal.message.startswith("partner.id:")
    # A refused start is a ClaimRefused, not an update failure.
    assert not isinstance(refusal, WorkflowUpdateFailedError)
    assert isinstance(refusal.cause, ApplicationError)


async def test_survey_answers_by_update_are_taken_in_one_call(
    claims: ClaimsClient, eid: str
) -> None:
    view = await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    answers = SurveyCompleted(
        kind="customer",
        link_version=view.proof.customer_survey.link_version,
        respondent_email=CUSTOMER_CONTACT.email,
        answers={"q1": 4},
    )

    taken = await claims.handle(eid).execute_update(WorkshopClaimWorkflow.complete_survey, answers)

    assert taken.proof.customer_survey.status == "completed"
    assert (await claims.get_claim(eid)).history[-1].event == "survey_completed"


async def test_stale_survey_answers_by_update_are_refused_and_record_nothing(
    claims: ClaimsClient, eid: str
) -> None:
    old_token = await sent_survey_token(claims, eid, "customer")
    new_contact = CUSTOMER_CONTACT.model_copy(update={"email": "nieuw@customer.example"})
    await claims.update_contacts(
        eid, UpdateContacts(customer_contact=new_contact, actor=PARTNER_ADMIN)
    )
    before = await claims.get_claim(eid)

    with pytest.raises(SurveyLinkExpired, match="no longer valid"):
        await claims.complete_survey(old_token, CUSTOMER_CONTACT.email, {"q1": 4})

    after = await claims.get_claim(eid)
    assert after == before  # nothing recorded, unlike the signal's "ignored" entry
    assert after.proof.customer_survey.status == "invalidated"


async def test_survey_answers_twice_are_refused_as_completed(
    claims: ClaimsClient, eid: str
) -> None:
    await claims.send_survey(eid, SendSurvey(kind="partner", channel="direct", actor=PARTNER_ADMIN))
    token = claims.links.token_from_url(await claims.survey_link(eid, "partner"))
    await claims.complete_survey(token, "anna@partner.example", {"q1": 5})
    before = await claims.get_claim(eid)

    with pytest.raises(SurveyLinkExpired, match="partner survey is already completed") as gone:
        await claims.complete_survey(token, "anna@partner.example", {"q1": 1})

    assert gone.value.view.proof.partner_survey.status == "completed"
    assert await claims.get_claim(eid) == before


async def test_survey_answers_go_by_signal_when_no_worker_answers_and_are_recorded_later(
    dev_env: WorkflowEnvironment, activities: ClaimActivities, links: SurveyLinks, task_queue: str
) -> None:
    # The dev server: a stopped worker's sticky queue falls back to the task queue there.
    claims = ClaimsClient(
        dev_env.client, task_queue=task_queue, links=links, survey_answer_wait=timedelta(seconds=1)
    )
    async with create_worker(dev_env.client, task_queue, activities):
        eid = await start(dev_env, claims)
        token = await sent_survey_token(claims, eid, "customer")

    # The worker is down: the respondent is not kept waiting, the answers are queued.
    with pytest.raises(SurveyAnswersQueued):
        await claims.complete_survey(token, CUSTOMER_CONTACT.email, {"q1": 3})

    async with create_worker(dev_env.client, task_queue, activities):
        deadline = time.monotonic() + 120
        view = await claims.get_claim(eid)
        while view.proof.customer_survey.status != "completed":
            assert time.monotonic() < deadline, "the queued answers were never recorded"
            await asyncio.sleep(0.1)  # the restarted worker takes the answers up
            view = await claims.get_claim(eid)
        assert "survey_completed" in [entry.event for entry in view.history]
