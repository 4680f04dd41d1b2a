"""A deploy, as it happens: claims started by the previous release's worker are taken
over by this release's worker and driven to an end.

On the dev server (a worker swap with the time-skipping server's sticky queues is not
what production does): the previous worker starts one claim `submitted`, one
`info_requested` and one `in_progress` whose 1-day reminder is a few seconds away, then
stops; the current worker takes over, sends that reminder once, and every claim is
driven to an end with the new updates. Each history then replays against the current
workflow (docs/versioning.md)."""

from __future__ import annotations

import asyncio
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from claims_testing import ClaimFactory
from claims_testing.factory import WallClock
from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from starter.converter import claims_data_converter
from tests.builders import PARTNER_ADMIN
from tests.builders import claim_input
from tests.helpers import history_event_types
from tests.previous_release import WorkshopClaimWorkflow as PreviousWorkflow
from worker import create_worker
from worker import workflow_runner
from workflows.claim import WorkshopClaimWorkflow
from workflows.messages import Cancel
from workflows.rules import SUBMISSION_WINDOW

REMINDER_IN = timedelta(seconds=12)
"""How soon after its start the in-progress claim's last reminder falls due: after the
swap, so that the current worker sends it."""


async def timer_started(claims: ClaimsClient, eid: str, within: float = 10.0) -> None:
    """Wait (real time) until the claim's reminder timer is in its history."""
    for _ in range(int(within * 10)):
        if "EVENT_TYPE_TIMER_STARTED" in await history_event_types(claims.handle(eid)):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no timer started for {eid}")


@pytest.mark.slow
async def test_claims_started_by_the_previous_release_finish_on_this_one(
    dev_env: WorkflowEnvironment,
    activities: ClaimActivities,
    task_queue: str,
    links: SurveyLinks,
    mailbox: MailCatcher,
) -> None:
    claims = ClaimsClient(dev_env.client, task_queue=task_queue, links=links)
    factory = ClaimFactory(claims, WallClock())

    async with create_worker(
        dev_env.client, task_queue, activities, claim_workflow=PreviousWorkflow
    ):
        submitted = (await factory("submitted")).engagement_id
        asked = await factory("info_requested")
        consent = datetime.now(UTC) - SUBMISSION_WINDOW + timedelta(days=1) + REMINDER_IN
        reminded = claim_input(consent)
        await claims.start_claim(reminded)
        await timer_started(claims, reminded.engagement_id)
    assert asked.reply_until is None  # asked before the reply window existed

    async with create_worker(dev_env.client, task_queue, activities):
        # The reminder that was pending at the deploy goes out once, from this worker.
        eid = reminded.engagement_id
        reminders = await mailbox.wait_for(count=2, kind="reminder", engagement_id=eid, within=40)
        assert all("1 day" in str(m["Subject"]) or "1 dag" in str(m["Subject"]) for m in reminders)
        view = await claims.cancel(eid, Cancel(reason="Duplicate claim.", actor=PARTNER_ADMIN))
        assert view.status == "cancelled"

        await factory.approve(submitted)
        await factory.pay(submitted)

        # The old question gets the new answer; what follows runs this release's rules.
        await factory.respond_info(asked.engagement_id)
        await factory.submit(asked.engagement_id)
        view = await factory.reject(asked.engagement_id)
        assert view.dispute_until is not None
        await factory.dispute(asked.engagement_id)
        await factory.reject(asked.engagement_id, "Still not eligible.")

        finals = {
            e: (await factory.result(e)).status for e in (eid, submitted, asked.engagement_id)
        }
    assert finals == {eid: "cancelled", submitted: "paid", asked.engagement_id: "rejected_final"}
    assert len(mailbox.find(kind="reminder", engagement_id=eid)) == 2

    replayer = Replayer(
        workflows=[WorkshopClaimWorkflow],
        data_converter=claims_data_converter,
        workflow_runner=workflow_runner([WorkshopClaimWorkflow]),
    )
    for engagement in finals:
        await replayer.replay_workflow(await claims.handle(engagement).fetch_history())
