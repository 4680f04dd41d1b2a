"""Reminders at 30, 7 and 1 days before the deadline, naming what is still missing."""

from __future__ import annotations

from datetime import timedelta

from temporalio.testing import WorkflowEnvironment

from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import body_text
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import attach
from tests.helpers import complete_proof
from tests.helpers import start_claim_now
from workflows.messages import Submit

DAY = timedelta(days=1)


async def test_partner_contacts_are_reminded_30_7_and_1_days_before_with_missing_items(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    eid = await start_claim_now(env, claims)
    await claims.attach_document(eid, attach("invoice"))

    await env.sleep(60 * DAY + timedelta(minutes=1))
    first = await mailbox.wait_for(count=2, kind="reminder", engagement_id=eid)
    assert {str(m["Subject"]) for m in first} == {
        f"Workshop claim {eid}: 30 days left to submit",
        f"Workshopclaim {eid}: nog 30 dagen om in te dienen",
    }
    english = next(m for m in first if "anna@" in str(m["To"]))
    text = body_text(english)
    for missing in ("results-and-recommendations document", "partner survey", "customer survey"):
        assert missing in text
    assert "invoice" not in text
    dutch = next(m for m in first if "joost@" in str(m["To"]))
    assert "klantenquête" in body_text(dutch)

    await env.sleep(23 * DAY)
    await mailbox.wait_for(count=4, kind="reminder", engagement_id=eid)
    await env.sleep(6 * DAY)
    reminders = await mailbox.wait_for(count=6, kind="reminder", engagement_id=eid)
    assert sorted(
        {str(m["Subject"]).split(": ")[1] for m in reminders if "anna@" in str(m["To"])}
    ) == [
        "1 day left to submit",
        "30 days left to submit",
        "7 days left to submit",
    ]
    view = await claims.get_claim(eid)
    assert [h.detail["days_left"] for h in view.history if h.event == "reminder_sent"] == [30, 7, 1]


async def test_no_reminder_is_sent_after_submission(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    eid = await start_claim_now(env, claims)
    await complete_proof(claims, eid)
    await claims.submit(eid, Submit(actor=PARTNER_ADMIN))

    await env.sleep(100 * DAY)
    view = await claims.get_claim(eid)
    assert view.status == "submitted"
    assert "reminder_sent" not in [h.event for h in view.history]
    assert mailbox.find(kind="reminder", engagement_id=eid) == []
