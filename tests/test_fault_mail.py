"""Mail faults: the mail server down for a while, and a recipient refused for good.

While SMTP is down, partners and reviewers keep working: every update succeeds
and claims move on to paid; the notifications wait in each claim's queue, the
mail activity retrying with backoff. When the server is back, every queued mail
arrives exactly once (Message-IDs), and only then do the claims end.

A recipient the server refuses with a 5xx is not retried: the mail activity
completes, the claim records `notification_undeliverable` (address and reason)
in its history, the other recipients get their mail, and the claim goes on.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from activities.links import SurveyLinks
from activities.store import ClaimStore
from claims_testing.processes import poll_until
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from tests.builders import PARTNER_CONTACTS
from tests.builders import claim_input
from tests.faults import Portal
from tests.faults import drive_to_paid
from tests.faults import drive_to_submitted
from tests.faults import expected_mails
from tests.faults import final_views
from tests.faults import history_figures
from tests.faults import percentiles
from tests.faults import record_arrivals
from tests.faults import review_and_pay
from tests.faults import start_batch
from tests.faults import tally
from tests.helpers import assert_stored
from tests.helpers import mailing_activities
from tests.report import report
from worker import create_worker

pytestmark = [pytest.mark.slow, pytest.mark.faults]

CLAIMS = 8
OUTAGE = 12.0
"""Seconds, at least, that the mail server stays down (longer if the drivers need it)."""


class SwappableMailServer:
    """A mail server on one port that can be stopped and started again, as a new
    process would be: each start is a fresh MailCatcher (empty) on the same port."""

    def __init__(self) -> None:
        self.servers: list[MailCatcher] = [MailCatcher().start()]
        self.port = self.servers[0].port
        self.running = True

    @property
    def current(self) -> MailCatcher:
        return self.servers[-1]

    def stop(self) -> None:
        self.current.stop()
        self.running = False

    def start_again(self) -> MailCatcher:
        catcher = MailCatcher(port=self.port)
        self.servers.append(catcher)
        catcher.start()
        self.running = True
        return catcher

    def close(self) -> None:
        if self.running:
            self.current.stop()
            self.running = False


@pytest.fixture
def mail_server() -> Iterator[SwappableMailServer]:
    server = SwappableMailServer()
    try:
        yield server
    finally:
        server.close()


@pytest.mark.timeout(240)
async def test_claims_move_on_while_smtp_is_down_and_every_queued_mail_arrives_once_after(
    dev_env: WorkflowEnvironment,
    mail_server: SwappableMailServer,
    store: ClaimStore,
    links: SurveyLinks,
    task_queue: str,
) -> None:
    activities = mailing_activities(store, links, "127.0.0.1", mail_server.port)
    async with create_worker(dev_env.client, task_queue, activities):
        claims = ClaimsClient(dev_env.client, task_queue=task_queue, links=links)
        portal = Portal(claims)
        eids, asks = await start_batch(claims, CLAIMS, ask_every=2)

        mail_server.stop()
        down = time.monotonic()
        down_at = datetime.now(UTC)

        # SMTP is down: every update still succeeds and every claim reaches paid.
        drivers = asyncio.gather(
            *(drive_to_paid(portal, eid, ask_for_info=asks[eid]) for eid in eids)
        )
        await asyncio.wait_for(drivers, 90)

        async def all_paid() -> bool:
            return {(await claims.get_claim(e)).status for e in eids} == {"paid"}

        await poll_until(all_paid, within=30, what="every claim paid while SMTP is down")
        moved = time.monotonic() - down
        await asyncio.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
        descriptions = [await claims.handle(e).describe() for e in eids]
        assert all(d.close_time is None for d in descriptions), "a claim ended before its mail"

        back = mail_server.start_again()
        arrivals = record_arrivals(back)
        up = time.monotonic()
        up_at = datetime.now(UTC)
        outage = up - down

        final = await final_views(claims, eids, within=120)
        drained = time.monotonic() - up

    assert {view.status for view in final.values()} == {"paid"}
    for view in final.values():
        await assert_stored(store, view)
    mails = tally(back.messages, eids)
    assert mails.duplicates == 0, mails.repeated
    for eid in eids:
        assert mails.per_engagement.get(eid) == expected_mails(asks[eid]), eid
    assert mail_server.servers[0].messages == []  # nothing went out before the outage
    delays = [at - up_at.timestamp() for at in arrivals.values()]
    history = await history_figures([claims.handle(eid) for eid in eids])
    report(
        "mail_outage",
        claims=CLAIMS,
        outage_seconds=round(outage, 1),
        seconds_to_move_all_claims_to_paid_while_down=round(moved, 1),
        mails_queued_during_outage=mails.unique,
        mails_delivered_after=mails.total,
        duplicate_mails=mails.duplicates,
        lost_mails=0,
        delivery_after_recovery_seconds=percentiles(delays, 50, 95),
        seconds_from_recovery_to_all_claims_ended=round(drained, 1),
        mail_activity_retries=history.retried_by_type.get("send_notification", 0),
        down_at=down_at.isoformat(timespec="seconds"),
    )


@pytest.mark.timeout(120)
async def test_a_recipient_refused_for_good_is_recorded_undeliverable_and_the_claim_goes_on(
    dev_claims: ClaimsClient, mailbox: MailCatcher, store: ClaimStore
) -> None:
    refused, kept = PARTNER_CONTACTS[1].email, PARTNER_CONTACTS[0].email
    mailbox.refuse([refused])
    claims = dev_claims
    portal = Portal(claims)
    claim = claim_input(datetime.now(UTC))
    eid = claim.engagement_id
    await claims.start_claim(claim)
    await drive_to_submitted(portal, eid)
    await review_and_pay(portal, eid, ask_for_info=False)
    final = await asyncio.wait_for(claims.handle(eid).result(), 60)

    assert final.status == "paid"
    undeliverable = [h for h in final.history if h.event == "notification_undeliverable"]
    assert [(h.detail["kind"], h.detail["email"]) for h in undeliverable] == [
        ("survey_invitation", refused),
        ("approved", refused),
        ("paid", refused),
    ]
    assert all(h.detail["reason"].startswith("550") for h in undeliverable)
    await assert_stored(store, final)  # visible in the read model's history too
    # The others got every mail; the refused address none; nothing was sent twice.
    kinds_kept = sorted(str(m["X-Claim-Notification"]) for m in mailbox.find(to=kept))
    assert kinds_kept == ["approved", "paid", "survey_invitation"]
    assert mailbox.find(to=refused) == []
    assert tally(mailbox.messages, [eid]).duplicates == 0
    # No endless retry: every mail activity completed on its first attempt.
    history = await claims.handle(eid).fetch_history()
    attempts = [
        e.activity_task_started_event_attributes.attempt
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
    ]
    assert attempts
    assert set(attempts) == {1}
    report(
        "mail_refused_recipient",
        undeliverable_recorded=len(undeliverable),
        reasons=sorted({h.detail["reason"] for h in undeliverable}),
        mail_activities=len(attempts),
        mail_activity_attempts_max=max(attempts),
        mails_to_other_recipients=len(kinds_kept),
        final_status=final.status,
    )
