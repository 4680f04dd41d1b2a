"""Dates people read (issue 15): a deadline in a mail says date, time and zone, in the zone of
the customer's consent, so the partner never reads a day off; the customer's survey mail
doesn't speak of the partner's deadline. Through the real workflow, worker and SMTP server."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.mail import format_deadline
from claims_testing.data import PARTNER_CONTACTS
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import body_html
from devstack.mailcatcher import body_text
from starter.client import ClaimsClient
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import claim_input
from workflows.messages import SendSurvey
from workflows.rules import SUBMISSION_WINDOW

pytestmark = [pytest.mark.timeout(90), pytest.mark.claims_server("shared")]

PACIFIC = timezone(timedelta(hours=-8))
LINE_ISLANDS = timezone(timedelta(hours=14))


def test_a_deadline_reads_with_date_time_and_zone_in_its_own_offset() -> None:
    moment = datetime(2027, 2, 18, 23, 30, tzinfo=PACIFIC)
    assert format_deadline(moment, "en") == "18 February 2027 at 23:30 (UTC-08:00)"
    assert format_deadline(moment, "nl") == "18 februari 2027 om 23:30 (UTC-08:00)"
    assert format_deadline(moment.astimezone(UTC), "en") == "19 February 2027 at 07:30 UTC"
    india = datetime(2027, 2, 19, 13, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert format_deadline(india, "en") == "19 February 2027 at 13:00 (UTC+05:30)"


@pytest.mark.parametrize(
    ("zone", "local_time"),
    [(PACIFIC, (23, 30)), (LINE_ISLANDS, (0, 30))],
    ids=["late evening west of UTC", "just after midnight across the date line"],
)
async def test_the_partners_survey_mail_names_the_deadline_in_the_consents_zone(
    env: WorkflowEnvironment,
    claims: ClaimsClient,
    mailbox: MailCatcher,
    zone: timezone,
    local_time: tuple[int, int],
) -> None:
    now = (await env.get_current_time()).astimezone(zone)
    hour, minute = local_time
    consent_at = (now - timedelta(days=2)).replace(
        hour=hour, minute=minute, second=0, microsecond=0
    )
    deadline = consent_at + SUBMISSION_WINDOW
    assert deadline.date() != deadline.astimezone(UTC).date()  # a UTC date would be a day off

    started = await claims.start_claim(claim_input(consent_at))
    eid = started.view.engagement_id
    for kind in ("partner", "customer"):
        await claims.send_survey(eid, SendSurvey(kind=kind, actor=PARTNER_ADMIN))
    [partner_mail] = await mailbox.wait_for(to=PARTNER_CONTACTS[0].email, kind="survey_invitation")
    [customer_mail] = await mailbox.wait_for(to=CUSTOMER_CONTACT.email, kind="survey_invitation")

    expected = format_deadline(deadline, "en")
    assert f"{deadline:%H:%M}" in expected
    assert f"{deadline.day} {deadline:%B %Y}" in expected
    for text in (body_text(partner_mail), body_html(partner_mail)):
        assert expected in text
        utc_day = deadline.astimezone(UTC)
        assert f"{utc_day.day} {utc_day:%B %Y}" not in text
    for text in (body_text(customer_mail), body_html(customer_mail)):
        assert "submitted by" not in text
        assert f"{deadline:%B %Y}" not in text
