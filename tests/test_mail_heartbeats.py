"""The mail activity heartbeats only while a send runs long, each time with its latest
progress: a heartbeat is a call to the server, and most sends end within a second."""

from __future__ import annotations

import asyncio
from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

from activities import claim_activities
from activities.claim_activities import ClaimActivities
from claims_testing.environment import Mailbox
from workflows.messages import Contact
from workflows.messages import DeliveryReport
from workflows.messages import Notification

ANNA = Contact(name="Anna Admin", email="anna@partner.example", locale="en")
JOOST = Contact(name="Joost de Vries", email="joost@partner.example", locale="nl")


def approved_mail(key: str) -> Notification:
    return Notification(
        key=key,
        kind="approved",
        engagement_id="eng-heartbeats",
        partner_name="Contoso Consulting",
        customer_name="Fabrikam BV",
        workshop="Cloud adoption workshop",
        recipients=[ANNA, JOOST],
        deadline_at=datetime(2026, 3, 31, tzinfo=UTC),
        text="Approved as submitted.",
    )


class Heartbeats:
    """Runs the mail activity as a worker would and keeps what it heartbeats, as the
    server would keep it."""

    def __init__(self, activities: ClaimActivities) -> None:
        self.reports: list[DeliveryReport] = []
        self.arrived = asyncio.Event()
        self._activities = activities
        self._env = ActivityEnvironment()
        self._env.on_heartbeat = self.record

    def record(self, *details: Any) -> None:
        if details:  # a heartbeat before the first recipient is done carries none
            self.reports.append(DeliveryReport.model_validate(details[0]))
        self.arrived.set()

    async def send(self, notification: Notification) -> DeliveryReport:
        return await self._env.run(self._activities.send_notification, notification)


@pytest.fixture
def beats(claims_activities: ClaimActivities) -> Heartbeats:
    return Heartbeats(claims_activities)


async def test_a_send_that_ends_within_the_heartbeat_interval_sends_no_heartbeat(
    beats: Heartbeats, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An interval no send here comes near, however busy the machine: before, every send
    # heartbeat at its start and after each recipient (3 here), whatever the interval.
    monkeypatch.setattr(claim_activities, "HEARTBEAT_EVERY", 600.0)

    report = await beats.send(approved_mail("hb-fast"))

    assert report.delivered == 2
    assert len(mailbox.find(engagement_id="eng-heartbeats")) == 2
    assert beats.reports == []


async def test_a_long_send_heartbeats_its_latest_progress(
    beats: Heartbeats, mailbox: Mailbox
) -> None:
    mailbox.hold([JOOST.email])  # the second recipient's mail waits for the server

    send = asyncio.create_task(beats.send(approved_mail("hb")))
    try:
        async with asyncio.timeout(60):
            while not any(r.handled == 1 for r in beats.reports):
                beats.arrived.clear()
                await beats.arrived.wait()
    finally:
        mailbox.release()
    report = await asyncio.wait_for(send, 60)

    assert report.delivered == 2
    assert all(r.delivered == r.handled for r in beats.reports)
    assert [r.handled for r in beats.reports] == sorted(r.handled for r in beats.reports)


async def test_a_failed_attempt_hands_its_progress_to_the_retry(
    beats: Heartbeats, mailbox: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(claim_activities, "HEARTBEAT_EVERY", 600.0)  # no timed heartbeat
    mailbox.defer([JOOST.email])  # the second recipient: "try again later"

    with pytest.raises(Exception, match="451"):
        await beats.send(approved_mail("hb-failed"))

    assert [(r.handled, r.delivered) for r in beats.reports] == [(1, 1)]
