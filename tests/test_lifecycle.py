"""The whole life of a claim, checked at every step: the view, the mails, the read model."""

from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

from temporalio.testing import WorkflowEnvironment

from activities.links import SurveyLinks
from activities.store import ClaimStore
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import body_text
from devstack.mailcatcher import survey_link
from starter.client import ClaimsClient
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_CONTACTS
from tests.builders import PARTNER_USER
from tests.builders import REVIEWER
from tests.builders import attach
from tests.builders import claim_input
from tests.helpers import assert_stored
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import PaymentIssued
from workflows.messages import RequestInfo
from workflows.messages import RespondInfo
from workflows.messages import SendSurvey
from workflows.messages import Submit

PARTNER_EMAILS = sorted(c.email for c in PARTNER_CONTACTS)


def recipients(mails: list[EmailMessage]) -> list[str]:
    return sorted(str(m["To"]).rsplit("<", 1)[1].rstrip(">") for m in mails)


async def test_claim_goes_from_start_to_paid_with_mails_and_read_model_at_each_step(
    env: WorkflowEnvironment,
    claims: ClaimsClient,
    mailbox: MailCatcher,
    store: ClaimStore,
    links: SurveyLinks,
) -> None:
    now = await env.get_current_time()
    claim = claim_input(now)
    eid = claim.engagement_id

    started = await claims.start_claim(claim)
    assert started.created
    view = started.view
    assert view.status == "in_progress"
    assert view.deadline_at == claim.consent_at + timedelta(days=90)
    assert view.missing == [
        "results_and_recommendations",
        "partner_survey",
        "customer_survey",
        "invoice",
    ]
    await assert_stored(store, await claims.get_claim(eid))

    view = await claims.attach_document(eid, attach("results_and_recommendations"))
    view = await claims.attach_document(eid, attach("invoice", actor=PARTNER_USER))
    assert view.proof.invoice.status == "attached"
    assert view.missing == ["partner_survey", "customer_survey"]
    await assert_stored(store, await claims.get_claim(eid))

    # Both surveys go out by mail: the partner's to every partner contact, in their language.
    view = await claims.send_survey(eid, SendSurvey(kind="partner", actor=PARTNER_ADMIN))
    assert view.proof.partner_survey.status == "sent"
    assert view.proof.partner_survey.sent_count == 1
    partner_mails = await mailbox.wait_for(count=2, kind="survey_invitation", engagement_id=eid)
    assert recipients(partner_mails) == PARTNER_EMAILS
    subjects = {str(m["To"]).rsplit("<", 1)[1]: str(m["Subject"]) for m in partner_mails}
    assert subjects["anna@partner.example>"].startswith(f"Workshop claim {eid}")
    assert subjects["joost@partner.example>"].startswith(f"Workshopclaim {eid}")
    partner_link = survey_link(partner_mails[0])
    assert partner_link == survey_link(partner_mails[1])
    assert partner_link.startswith("http://claims.test/surveys/")

    view = await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    [customer_mail] = await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation")
    assert eid in str(customer_mail["Subject"])
    customer_link = survey_link(customer_mail)
    assert customer_link != partner_link
    await assert_stored(store, await claims.get_claim(eid))

    # Respondents complete the surveys through the links they received.
    view = await claims.complete_survey(
        links.token_from_url(partner_link), "anna@partner.example", {"q1": 5, "q2": "useful"}
    )
    assert view.proof.partner_survey.status == "completed"
    view = await claims.complete_survey(
        links.token_from_url(customer_link), CUSTOMER_CONTACT.email, {"q1": 4}
    )
    assert view.proof.customer_survey.status == "completed"
    assert view.customer_contact_locked
    assert view.missing == []
    assert "submit" in view.allowed_actions
    await assert_stored(store, await claims.get_claim(eid))

    await claims.add_comment(eid, AddComment(text="Delivered on site.", actor=PARTNER_USER))
    view = await claims.get_claim(eid)
    assert [c.text for c in view.comments] == ["Delivered on site."]
    assert view.comments[0].actor == PARTNER_USER

    view = await claims.submit(eid, Submit(actor=PARTNER_ADMIN))
    assert view.status == "submitted"
    assert view.submitted_at is not None
    assert view.allowed_actions == ["request_info", "approve", "reject"]
    await assert_stored(store, await claims.get_claim(eid))

    # The reviewer asks a question: notice on the claim and by mail to the partner contacts.
    question = "Please add the attendance list to the results document."
    view = await claims.request_info(eid, RequestInfo(question=question, actor=REVIEWER))
    assert view.status == "info_requested"
    assert view.status_reason == question
    assert [q.question for q in (await claims.get_claim(eid)).questions] == [question]
    asked = await mailbox.wait_for(count=2, kind="info_requested", engagement_id=eid)
    assert recipients(asked) == PARTNER_EMAILS
    assert all(question in body_text(m) for m in asked)
    await assert_stored(store, await claims.get_claim(eid))

    view = await claims.attach_document(eid, attach("results_and_recommendations", "v2"))
    await claims.respond_info(eid, RespondInfo(text="Added it.", actor=PARTNER_USER))
    assert (await claims.get_claim(eid)).questions[0].answer == "Added it."
    view = await claims.submit(eid, Submit(actor=PARTNER_USER))
    assert view.status == "submitted"
    assert [h.event for h in (await claims.get_claim(eid)).history].count("resubmitted") == 1

    view = await claims.approve(eid, Approve(note="Well documented.", actor=REVIEWER))
    assert view.status == "approved"
    assert view.decided_at is not None
    approved = await mailbox.wait_for(count=2, kind="approved", engagement_id=eid)
    assert recipients(approved) == PARTNER_EMAILS
    await assert_stored(store, await claims.get_claim(eid))

    paid_at = await env.get_current_time()
    await claims.payment_issued(
        eid, PaymentIssued(reference="PAY-1", amount="1500.00", currency="EUR", paid_at=paid_at)
    )
    final = await claims.handle(eid).result()
    assert final.status == "paid"
    assert final.payment is not None
    assert final.payment.amount == "1500.00"
    assert final.paid_at == paid_at
    paid = await mailbox.wait_for(count=2, kind="paid", engagement_id=eid)
    assert all("1500.00" in body_text(m) for m in paid)
    await assert_stored(store, final)
    assert [h.event for h in final.history] == [
        "claim_started",
        "document_attached",
        "document_attached",
        "survey_sent",
        "survey_sent",
        "survey_completed",
        "survey_completed",
        "comment_added",
        "submitted",
        "info_requested",
        "document_attached",
        "info_responded",
        "resubmitted",
        "approved",
        "payment_issued",
    ]
    # Every notification was sent exactly once.
    ids = [str(m["Message-ID"]) for m in mailbox.find(engagement_id=eid)]
    assert len(ids) == len(set(ids)) == 2 + 1 + 2 + 2 + 2
