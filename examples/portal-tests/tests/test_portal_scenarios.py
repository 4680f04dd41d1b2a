"""What a portal team proves against the real claim workflows, in virtual time."""

import pytest

from claims_testing import ClaimFactory
from claims_testing import Mailbox
from claims_testing import VirtualClock
from starter.client import ClaimsClient
from workflows.messages import RequestInfo
from workflows.messages import SendSurvey

pytestmark = pytest.mark.asyncio


async def test_a_claim_not_submitted_by_day_90_is_rejected(
    claim_factory: ClaimFactory, claims_clock: VirtualClock, claims: ClaimsClient
) -> None:
    claim = await claim_factory("in_progress", items=["invoice"])
    await claims_clock.advance(days=89)
    assert (await claims.get_claim(claim.engagement_id)).status == "in_progress"
    await claims_clock.advance(days=1, minutes=1)
    view = await claims.get_claim(claim.engagement_id)
    assert view.status == "auto_rejected"
    assert view.status_reason == "not submitted within 90 days of customer consent"


async def test_the_customer_completes_the_survey_through_the_link_in_the_mail(
    claim_factory: ClaimFactory, claims: ClaimsClient, mailbox: Mailbox
) -> None:
    claim = await claim_factory("in_progress")
    actor = {"user": "portal-user", "role": "incentives_user"}
    await claims.send_survey(
        claim.engagement_id, SendSurvey.model_validate({"kind": "customer", "actor": actor})
    )
    [mail] = await mailbox.wait_for(to=claim.customer_contact.email, kind="survey_invitation")
    link = mailbox.survey_link(mail)
    token = claims.links.token_from_url(link)
    view = await claims.complete_survey(token, claim.customer_contact.email, {"q1": 5})
    assert view.proof.customer_survey.status == "completed"
    assert view.customer_contact_locked


async def test_the_reviewers_question_reaches_the_partners_mailbox(
    claim_factory: ClaimFactory, claims: ClaimsClient, mailbox: Mailbox
) -> None:
    claim = await claim_factory("submitted")
    reviewer = {"user": "review-desk", "role": "reviewer"}
    question = "Please add the attendance list."
    await claims.request_info(
        claim.engagement_id, RequestInfo.model_validate({"question": question, "actor": reviewer})
    )
    for contact in claim.partner_contacts:
        [mail] = await mailbox.wait_for(to=contact.email, kind="info_requested")
        assert question in mailbox.text(mail)
    assert (await claims.get_claim(claim.engagement_id)).status == "info_requested"
