"""The test kit's promises to a portal team, each proved here in strict mode, beside the
project's own `settings.py`."""

import time

import pytest
import settings

from claims_testing import PARTNER_ADMIN
from claims_testing import REVIEWER
from claims_testing import ClaimFactory
from claims_testing import ClaimRefused
from claims_testing import Mailbox
from starter.client import ClaimsClient
from workflows.messages import Contact
from workflows.messages import SendSurvey
from workflows.messages import Submit

pytestmark = pytest.mark.asyncio


async def test_the_projects_own_settings_module_stays_the_projects(
    claim_factory: ClaimFactory,
) -> None:
    assert settings.PORTAL_NAME == "Example partner portal"
    view = await claim_factory("submitted")
    assert view.status == "submitted"


@pytest.mark.parametrize("state", ["submited", "Paid", ""])
async def test_an_unknown_state_is_refused_naming_the_valid_ones(
    claim_factory: ClaimFactory, state: str
) -> None:
    with pytest.raises(ValueError, match="use one of in_progress, submitted"):
        await claim_factory(state)  # type: ignore[arg-type]


async def test_an_unknown_item_or_items_for_a_complete_state_are_refused(
    claim_factory: ClaimFactory,
) -> None:
    with pytest.raises(ValueError, match=r"'invoic'.*use any of results_and_recommendations"):
        await claim_factory("in_progress", items=["invoic"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="'in_progress' only"):
        await claim_factory("submitted", items=["invoice"])


async def test_a_message_may_be_a_model_or_a_dict_and_a_refusal_says_why(
    claim_factory: ClaimFactory, claims: ClaimsClient
) -> None:
    claim = await claim_factory("in_progress", items=["invoice"])
    as_dict = {"kind": "customer", "actor": {"user": "u", "role": "incentives_user"}}
    await claims.send_survey(claim.engagement_id, SendSurvey.model_validate(as_dict))
    with pytest.raises(ClaimRefused) as refused:
        await claims.submit(claim.engagement_id, Submit(actor=PARTNER_ADMIN))
    assert refused.value.type == "Incomplete"
    assert refused.value.details == [
        "results_and_recommendations",
        "partner_survey",
        "customer_survey",
    ]
    assert "missing" in refused.value.message
    with pytest.raises(ClaimRefused) as wrong_role:
        await claims.submit(claim.engagement_id, Submit(actor=REVIEWER))
    assert wrong_role.value.type == "NotAllowed"


@pytest.mark.parametrize("how", ["url", "token", "survey_token"])
async def test_complete_survey_takes_the_link_or_its_token(
    claim_factory: ClaimFactory, claims: ClaimsClient, mailbox: Mailbox, how: str
) -> None:
    claim = await claim_factory("in_progress")
    await claims.send_survey(claim.engagement_id, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    [mail] = await mailbox.wait_for(to=claim.customer_contact.email, kind="survey_invitation")
    link = mailbox.survey_link(mail)
    given = {
        "url": link,
        "token": claims.links.token_from_url(link),
        "survey_token": mailbox.survey_token(mail),
    }[how]
    view = await claims.complete_survey(given, claim.customer_contact.email, {"q1": 5})
    assert view.proof.customer_survey.status == "completed"


async def test_a_malformed_link_says_what_to_pass(claims: ClaimsClient) -> None:
    with pytest.raises(ValueError, match=r"pass the survey link .* or its token"):
        await claims.complete_survey("not-a-token", "x@example.com", {"q1": 5})


async def test_an_unknown_mail_kind_is_refused_at_once(mailbox: Mailbox) -> None:
    began = time.monotonic()
    with pytest.raises(ValueError, match="survey_invitation"):
        await mailbox.wait_for(kind="survey_invitaton", within=600)
    assert time.monotonic() - began < 60  # refused at once, not after the 600 s wait


async def test_addresses_match_exactly_and_a_timeout_lists_what_arrived(
    claim_factory: ClaimFactory, claims: ClaimsClient, mailbox: Mailbox
) -> None:
    joanna = Contact(name="Joanna", email="joanna@partner.example")
    claim = await claim_factory("in_progress", partner_contacts=[joanna])
    await claims.send_survey(claim.engagement_id, SendSurvey(kind="partner", actor=PARTNER_ADMIN))
    await mailbox.wait_for(to="joanna@partner.example", kind="survey_invitation")

    assert mailbox.find(to="anna@partner.example") == []  # not a substring match
    mailbox.assert_no_mail(to="anna@partner.example")
    with pytest.raises(AssertionError, match=r"survey_invitation to joanna@partner\.example"):
        mailbox.assert_no_mail(kind="survey_invitation")
    with pytest.raises(TimeoutError, match="arrived: survey_invitation to joanna@"):
        await mailbox.wait_for(to="anna@partner.example", within=0.5)
    with pytest.raises(TimeoutError, match="predicate"):
        await mailbox.wait_for(lambda found: len(found) > 5, within=0.5)
