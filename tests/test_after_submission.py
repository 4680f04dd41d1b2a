"""After submission, on the time-skipping server: cancel, the answer to a question, the
reply window, disputes and the dispute window, the review clock. Windows of 30 days pass
in seconds; every mail goes through the real SMTP catcher, in English and Dutch."""

from __future__ import annotations

from collections.abc import Awaitable
from collections.abc import Callable
from datetime import timedelta
from email.message import EmailMessage

import pytest
from temporalio.testing import WorkflowEnvironment

from claims_testing import ClaimFactory
from claims_testing.data import REVIEW_MAIL
from claims_testing.factory import ClaimState
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import body_text
from starter.client import ClaimAlreadyFinished
from starter.client import ClaimRefused
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import REVIEWER
from tests.builders import claim_input
from workflows.messages import Actor
from workflows.messages import Cancel
from workflows.messages import Dispute
from workflows.messages import RespondInfo
from workflows.messages import Submit
from workflows.rules import DISPUTE_WINDOW
from workflows.rules import REPLY_WINDOW
from workflows.rules import REVIEW_CLOCK

DAY = timedelta(days=1)
ENGLISH, DUTCH = "anna@", "joost@"
"""The two partner contacts of the test data: Anna reads English, Joost Dutch."""


def mail_to(mails: list[EmailMessage], prefix: str) -> EmailMessage:
    """The one of `mails` sent to the contact whose address starts with `prefix`."""
    return next(m for m in mails if prefix in str(m["To"]))


async def refusal(call: Awaitable[object]) -> ClaimRefused:
    """The refusal `call` ends in (the test fails if it is accepted)."""
    with pytest.raises(ClaimRefused) as refused:
        await call
    return refused.value


# --- cancel ---------------------------------------------------------------------------------


async def test_a_claim_in_progress_is_cancelled_with_a_confirmation_and_ends(
    claim_factory: ClaimFactory, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    view = await claim_factory("in_progress", items=["invoice"])
    eid = view.engagement_id

    view = await claims.cancel(
        eid, Cancel(reason="Started for the wrong customer", actor=PARTNER_ADMIN)
    )

    assert view.status == "cancelled"
    assert view.status_reason == "Started for the wrong customer"
    assert view.status_words == {
        "en": "cancelled",
        "nl": "geannuleerd",
    }
    assert view.allowed_actions == []
    final = await claims.handle(eid).result()
    assert final.status == "cancelled"
    mails = await mailbox.wait_for(count=2, kind="cancelled", engagement_id=eid)
    assert str(mail_to(mails, ENGLISH)["Subject"]) == f"Workshop claim {eid} cancelled"
    assert str(mail_to(mails, DUTCH)["Subject"]) == f"Workshopclaim {eid} geannuleerd"
    assert all("Started for the wrong customer" in body_text(m) for m in mails)


async def test_a_cancelled_engagement_can_not_be_claimed_again(
    env: WorkflowEnvironment, claim_factory: ClaimFactory, claims: ClaimsClient
) -> None:
    view = await claim_factory("cancelled")
    again = claim_input(await env.get_current_time(), engagement_id=view.engagement_id)

    with pytest.raises(ClaimAlreadyFinished):
        await claims.start_claim(again)


async def test_cancel_while_info_is_requested_ends_the_claim(
    claim_factory: ClaimFactory, claims: ClaimsClient
) -> None:
    view = await claim_factory("info_requested")
    view = await claims.cancel(view.engagement_id, Cancel(reason="Withdrawn", actor=PARTNER_ADMIN))
    assert view.status == "cancelled"


# --- the program's question and the reply window -----------------------------------------------


@pytest.fixture
async def asked_eid(claim_factory: ClaimFactory) -> str:
    """A claim the program asked a question of: its reply window is open."""
    return (await claim_factory("info_requested")).engagement_id


async def test_submit_without_an_answer_is_incomplete_and_the_answer_goes_on_the_question(
    claims: ClaimsClient, asked_eid: str
) -> None:
    eid = asked_eid

    refused = await refusal(claims.submit(eid, Submit(actor=PARTNER_ADMIN)))
    assert refused.type == "Incomplete"
    assert refused.details == ["info_response"]

    view = await claims.respond_info(eid, RespondInfo(text="Twelve people.", actor=PARTNER_ADMIN))
    question = (await claims.get_claim(eid)).questions[-1]  # an update answers without them
    assert question.answer == "Twelve people."
    assert question.answered_at is not None
    assert question.answered_by is not None
    assert question.answered_by.user == PARTNER_ADMIN.user
    assert "submit" in view.allowed_actions

    view = await claims.submit(eid, Submit(actor=PARTNER_ADMIN))
    assert view.status == "submitted"


async def test_the_question_mail_names_the_end_of_the_reply_window(
    claim_factory: ClaimFactory, mailbox: MailCatcher
) -> None:
    view = await claim_factory("info_requested")
    assert view.reply_until is not None

    mails = await mailbox.wait_for(count=2, kind="info_requested", engagement_id=view.engagement_id)

    assert "otherwise the claim expires" in body_text(mail_to(mails, ENGLISH))
    assert "anders verloopt de claim" in body_text(mail_to(mails, DUTCH))


async def test_the_reply_window_reminds_7_and_1_days_before_and_then_expires_the_claim(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher, asked_eid: str
) -> None:
    eid = asked_eid

    await env.sleep(REPLY_WINDOW - 7 * DAY + timedelta(minutes=1))
    first = await mailbox.wait_for(count=2, kind="reply_reminder", engagement_id=eid)
    assert str(mail_to(first, ENGLISH)["Subject"]) == f"Workshop claim {eid}: 7 days left to answer"
    assert "7 dagen" in str(mail_to(first, DUTCH)["Subject"])
    assert (await claims.get_claim(eid)).status == "info_requested"

    await env.sleep(6 * DAY)
    reminders = await mailbox.wait_for(count=4, kind="reply_reminder", engagement_id=eid)
    assert any("1 day left" in str(m["Subject"]) for m in reminders)

    await env.sleep(DAY)
    final = await claims.handle(eid).result()
    assert final.status == "expired"
    assert final.status_reason == "no response within 30 days"
    expired = await mailbox.wait_for(count=2, kind="expired", engagement_id=eid)
    assert "within 30 days" in body_text(mail_to(expired, ENGLISH))
    assert "binnen 30 dagen" in body_text(mail_to(expired, DUTCH))
    assert len(mailbox.find(kind="reply_reminder", engagement_id=eid)) == 4


async def test_a_resubmission_in_time_stops_the_reply_window(
    env: WorkflowEnvironment,
    claim_factory: ClaimFactory,
    claims: ClaimsClient,
    mailbox: MailCatcher,
    asked_eid: str,
) -> None:
    eid = asked_eid
    await claim_factory.respond_info(eid)
    await claim_factory.submit(eid)

    await env.sleep(REPLY_WINDOW + DAY)

    view = await claims.get_claim(eid)
    assert view.status == "submitted"
    assert mailbox.find(kind="reply_reminder", engagement_id=eid) == []
    assert mailbox.find(kind="expired", engagement_id=eid) == []


# --- disputes and the dispute window ---------------------------------------------------------


async def test_the_rejection_mail_says_until_when_it_can_be_disputed(
    claim_factory: ClaimFactory, mailbox: MailCatcher
) -> None:
    view = await claim_factory("rejected")
    assert view.status == "rejected"
    assert view.allowed_actions == ["dispute"]
    assert view.dispute_until is not None

    mails = await mailbox.wait_for(count=2, kind="rejected", engagement_id=view.engagement_id)

    assert "You can dispute the rejection" in body_text(mail_to(mails, ENGLISH))
    assert "bezwaar maken" in body_text(mail_to(mails, DUTCH))


async def test_a_dispute_mails_the_review_desk_and_an_approval_pays_as_usual(
    claim_factory: ClaimFactory, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    eid = (await claim_factory("rejected")).engagement_id

    view = await claims.dispute(
        eid, Dispute(reason="The invoice was attached.", actor=PARTNER_ADMIN)
    )

    assert view.status == "disputed"
    assert view.allowed_actions == ["approve", "reject"]
    [desk] = await mailbox.wait_for(kind="dispute_received", engagement_id=eid)
    assert str(desk["To"]).endswith(f"<{REVIEW_MAIL}>")
    assert eid in str(desk["Subject"])
    assert "The invoice was attached." in body_text(desk)

    await claim_factory.approve(eid)
    await claim_factory.pay(eid)
    assert (await claim_factory.result(eid)).status == "paid"


async def test_a_disputed_claim_rejected_again_is_rejected_for_good(
    claim_factory: ClaimFactory, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    view = await claim_factory("rejected_final")

    assert view.status == "rejected_final"
    mails = await mailbox.wait_for(count=2, kind="rejected_final", engagement_id=view.engagement_id)
    assert "rejected for good" in str(mail_to(mails, ENGLISH)["Subject"])
    assert "definitief afgewezen" in str(mail_to(mails, DUTCH)["Subject"])


async def test_no_dispute_within_30_days_makes_the_rejection_final_and_ends_the_claim(
    env: WorkflowEnvironment, claim_factory: ClaimFactory, claims: ClaimsClient
) -> None:
    eid = (await claim_factory("rejected")).engagement_id

    await env.sleep(DISPUTE_WINDOW + timedelta(minutes=1))

    final = await claims.handle(eid).result()
    assert final.status == "rejected_final"
    assert final.status_reason == "Not eligible."
    refused = await refusal(claims.dispute(eid, Dispute(reason="late", actor=PARTNER_ADMIN)))
    assert refused.type == "WrongState"


# --- refusals --------------------------------------------------------------------------------

REASON = "Changed our mind."


def cancel(claims: ClaimsClient, eid: str, actor: Actor) -> Awaitable[object]:
    return claims.cancel(eid, Cancel(reason=REASON, actor=actor))


def respond_info(claims: ClaimsClient, eid: str, actor: Actor) -> Awaitable[object]:
    return claims.respond_info(eid, RespondInfo(text=REASON, actor=actor))


def dispute(claims: ClaimsClient, eid: str, actor: Actor) -> Awaitable[object]:
    return claims.dispute(eid, Dispute(reason=REASON, actor=actor))


@pytest.mark.parametrize(
    ("send", "state", "actor", "refusal_type"),
    [
        pytest.param(
            cancel, "submitted", PARTNER_ADMIN, "WrongState", id="cancel-after-submission"
        ),
        pytest.param(cancel, "in_progress", REVIEWER, "NotAllowed", id="cancel-by-a-reviewer"),
        pytest.param(
            respond_info, "submitted", PARTNER_ADMIN, "WrongState", id="answer-no-question"
        ),
        pytest.param(
            respond_info, "info_requested", REVIEWER, "NotAllowed", id="answer-by-a-reviewer"
        ),
        pytest.param(dispute, "disputed", PARTNER_ADMIN, "WrongState", id="a-second-dispute"),
        pytest.param(dispute, "rejected", REVIEWER, "NotAllowed", id="dispute-by-a-reviewer"),
        pytest.param(dispute, "approved", PARTNER_ADMIN, "WrongState", id="dispute-an-approval"),
    ],
)
async def test_the_new_updates_are_refused_in_the_wrong_state_or_role_and_change_nothing(
    claim_factory: ClaimFactory,
    claims: ClaimsClient,
    send: Callable[[ClaimsClient, str, Actor], Awaitable[object]],
    state: ClaimState,
    actor: Actor,
    refusal_type: str,
) -> None:
    eid = (await claim_factory(state)).engagement_id
    before = await claims.get_claim(eid)

    refused = await refusal(send(claims, eid, actor))

    assert refused.type == refusal_type
    assert await claims.get_claim(eid) == before


# --- the review clock ------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["submitted", "disputed"])
async def test_a_claim_waiting_10_days_for_review_is_escalated_once_to_the_review_desk(
    env: WorkflowEnvironment, claim_factory: ClaimFactory, mailbox: MailCatcher, state: ClaimState
) -> None:
    eid = (await claim_factory(state)).engagement_id

    await env.sleep(REVIEW_CLOCK + timedelta(minutes=1))
    [escalation] = await mailbox.wait_for(kind="review_escalation", engagement_id=eid)
    await env.sleep(15 * DAY)

    assert str(escalation["To"]).endswith(f"<{REVIEW_MAIL}>")
    assert eid in str(escalation["Subject"])
    assert eid in body_text(escalation)
    assert len(mailbox.find(kind="review_escalation", engagement_id=eid)) == 1


async def test_a_claim_decided_within_10_days_is_not_escalated(
    env: WorkflowEnvironment, claim_factory: ClaimFactory, mailbox: MailCatcher
) -> None:
    eid = (await claim_factory("approved")).engagement_id

    await env.sleep(REVIEW_CLOCK + DAY)

    assert mailbox.find(kind="review_escalation", engagement_id=eid) == []
