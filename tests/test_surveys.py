"""Surveys: sending, re-sending, the direct partner link, and links invalidated by a change."""

from __future__ import annotations

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.links import InvalidSurveyLink
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import survey_link
from starter.client import ClaimsClient
from starter.client import SurveyLinkExpired
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_USER
from tests.helpers import sent_survey_token
from tests.helpers import start_claim_now
from workflows.bounds import RESEND_INTERVAL
from workflows.messages import Contact
from workflows.messages import SendSurvey
from workflows.messages import SurveyCompleted
from workflows.messages import UpdateContacts

pytestmark = pytest.mark.claims_server("shared")

NEW_CUSTOMER = Contact(name="Nina Nieuw", email="nina@customer.example", locale="nl")


async def test_partner_survey_issued_directly_mails_nothing_is_sent_and_completes(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    eid = await start_claim_now(env, claims)
    view = await claims.send_survey(
        eid, SendSurvey(kind="partner", channel="direct", actor=PARTNER_USER)
    )
    assert view.proof.partner_survey.status == "sent"
    assert view.proof.partner_survey.sent_count == 1
    assert (await claims.get_claim(eid)).history[-1].detail["channel"] == "direct"

    # Notifications leave in order: once a later mail has arrived, none came before it.
    await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_USER))
    await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation")
    assert mailbox.find(engagement_id=eid) == mailbox.find(to=CUSTOMER_CONTACT.email)

    link = await claims.survey_link(eid, "partner")
    view = await claims.complete_survey(
        claims.links.token_from_url(link), "anna@partner.example", {"q1": 5, "q2": "good"}
    )
    assert view.proof.partner_survey.status == "completed"
    assert view.proof.partner_survey.completed_at is not None
    completion = (await claims.get_claim(eid)).history[-1]
    assert completion.event == "survey_completed"
    assert completion.detail["answers"] == {"q1": 5, "q2": "good"}


@pytest.mark.claims_server("time-skipping")  # moves time: the server of its own
async def test_resend_mails_the_same_link_again(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    eid = await start_claim_now(env, claims)
    await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    await env.sleep(RESEND_INTERVAL)
    view = await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_USER))
    assert view.proof.customer_survey.sent_count == 2
    assert view.proof.customer_survey.link_version == 1
    mails = await mailbox.wait_for(count=2, to=CUSTOMER_CONTACT.email, kind="survey_invitation")
    assert survey_link(mails[0]) == survey_link(mails[1])
    assert mails[0]["Message-ID"] != mails[1]["Message-ID"]  # two notifications, not a retry


async def test_contact_change_invalidates_the_link_until_the_survey_is_sent_again(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    eid = await start_claim_now(env, claims)
    await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    [first] = await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation")
    old_token = claims.links.token_from_url(survey_link(first))

    view = await claims.update_contacts(
        eid, UpdateContacts(customer_contact=NEW_CUSTOMER, actor=PARTNER_ADMIN)
    )
    assert view.customer_contact == NEW_CUSTOMER
    assert view.proof.customer_survey.status == "invalidated"
    assert view.proof.customer_survey.link_version == 2
    assert (await claims.get_claim(eid)).history[-1].detail == {
        "changed": ["customer_contact"],
        "invalidated": ["customer_survey"],
    }

    # The old link no longer works, through the client or as a raw signal.
    with pytest.raises(SurveyLinkExpired):
        await claims.complete_survey(old_token, CUSTOMER_CONTACT.email, {"q1": 1})
    await claims.survey_completed(
        eid,
        SurveyCompleted(
            kind="customer", link_version=1, respondent_email=CUSTOMER_CONTACT.email, answers={}
        ),
    )
    view = await claims.get_claim(eid)
    assert view.proof.customer_survey.status == "invalidated"
    assert view.history[-1].event == "survey_completion_ignored"
    assert "link version 1" in view.history[-1].detail["reason"] or (
        "invalidated" in view.history[-1].detail["reason"]
    )

    # Sent again by hand, the new contact gets the new link, in Dutch, and completes it.
    await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    [second] = await mailbox.wait_for(to=NEW_CUSTOMER.email, kind="survey_invitation")
    assert "klantenquête" in str(second["Subject"])
    new_token = claims.links.token_from_url(survey_link(second))
    assert new_token != old_token
    view = await claims.complete_survey(new_token, NEW_CUSTOMER.email, {"q1": 4})
    assert view.proof.customer_survey.status == "completed"
    assert view.customer_contact_locked

    # Completed: the link answers that it is done, and a re-use is refused.
    with pytest.raises(SurveyLinkExpired, match="already completed"):
        await claims.open_survey(new_token)


async def test_changing_partner_contacts_leaves_the_customer_link_alone(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    eid = await start_claim_now(env, claims)
    await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    await claims.send_survey(eid, SendSurvey(kind="partner", actor=PARTNER_ADMIN))
    view = await claims.update_contacts(
        eid,
        UpdateContacts(
            partner_contacts=[Contact(name="Only One", email="one@partner.example")],
            actor=PARTNER_ADMIN,
        ),
    )
    assert view.proof.partner_survey.status == "invalidated"
    assert view.proof.customer_survey.status == "sent"
    assert view.proof.customer_survey.link_version == 1


async def test_tampered_or_foreign_survey_token_is_refused(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    eid = await start_claim_now(env, claims)
    token = await sent_survey_token(claims, eid, "customer")
    body, signature = token.split(".")
    tampered = f"{body}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    with pytest.raises(InvalidSurveyLink):
        await claims.complete_survey(tampered, CUSTOMER_CONTACT.email, {"q1": 1})
    assert (await claims.get_claim(eid)).proof.customer_survey.status == "sent"
