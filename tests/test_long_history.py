"""A claim that receives thousands of messages continues as new with its whole state,
stays far below Temporal's history limits, and loses no accepted update."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC
from datetime import datetime

import pytest
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.store import ClaimStore
from devstack.binaries import temporal_cli
from starter.client import ClaimsClient
from starter.client import workflow_id
from starter.converter import claims_data_converter
from starter.temporal import ensure_search_attributes
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_USER
from tests.builders import claim_input
from tests.helpers import assert_stored
from tests.report import report
from worker import create_worker
from workflows.messages import AddComment
from workflows.messages import SendSurvey
from workflows.text import MAX_COMMENTS

pytestmark = [pytest.mark.slow]

SUGGEST_AT = 30
"""History length at which this test's dev server suggests continuing as new."""
MESSAGES = 1000
CONCURRENCY = 8


async def _run_lengths(client: Client, claim_workflow_id: str) -> list[int]:
    """The number of history events of every run of one workflow, newest first.

    Walks the chain of runs backwards through each run's first event (the run it
    continued), so it sees every run at once; visibility, which is eventually
    consistent, may not list the newest runs yet.
    """
    lengths: list[int] = []
    run_id: str | None = None
    while True:
        history = await client.get_workflow_handle(claim_workflow_id, run_id=run_id).fetch_history()
        lengths.append(len(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return lengths
        run_id = started.continued_execution_run_id


@pytest.fixture(scope="module")
async def short_history_env() -> AsyncIterator[WorkflowEnvironment]:
    async with await WorkflowEnvironment.start_local(
        dev_server_existing_path=temporal_cli(),
        data_converter=claims_data_converter,
        dev_server_log_level="error",
        dev_server_extra_args=[
            "--dynamic-config-value",
            f"limit.historyCount.suggestContinueAsNew={SUGGEST_AT}",
        ],
    ) as environment:
        await ensure_search_attributes(environment.client)
        yield environment


async def test_thousands_of_messages_continue_as_new_without_losing_an_update(
    short_history_env: WorkflowEnvironment,
    activities: ClaimActivities,
    store: ClaimStore,
    task_queue: str,
) -> None:
    env = short_history_env
    async with create_worker(env.client, task_queue, activities):
        claims = ClaimsClient(env.client, task_queue=task_queue)
        claim = claim_input(datetime.now(UTC))
        eid = claim.engagement_id
        await claims.start_claim(claim)

        accepted: list[str] = []
        queue: asyncio.Queue[int] = asyncio.Queue()
        for number in range(MESSAGES):
            queue.put_nowait(number)

        async def sender() -> None:
            while not queue.empty():
                number = queue.get_nowait()
                if number % (MESSAGES // MAX_COMMENTS) != 0:  # comments up to the claim's maximum
                    view = await claims.send_survey(
                        eid, SendSurvey(kind="partner", channel="direct", actor=PARTNER_USER)
                    )
                    accepted.append(f"send-{number}")
                    assert view.proof.partner_survey.status == "sent"
                else:
                    text = f"comment {number}"
                    await claims.add_comment(eid, AddComment(text=text, actor=PARTNER_ADMIN))
                    accepted.append(text)  # the final view below must hold every one

        began = time.monotonic()
        await asyncio.wait_for(asyncio.gather(*(sender() for _ in range(CONCURRENCY))), 240)
        elapsed = time.monotonic() - began

        final = await claims.get_claim(eid)
        comments = [c.text for c in final.comments]
        expected_comments = sorted(a for a in accepted if a.startswith("comment"))
        assert sorted(comments) == expected_comments, "an accepted comment was lost"
        sends = sum(1 for a in accepted if a.startswith("send"))
        assert final.proof.partner_survey.sent_count == sends
        assert [h.event for h in final.history].count("comment_added") == len(expected_comments)

        lengths = await _run_lengths(env.client, workflow_id(eid))
        runs = lengths
        assert len(runs) > 10, "the claim never continued as new"
        assert max(lengths) < 10 * SUGGEST_AT, f"a run's history grew to {max(lengths)} events"
        await assert_stored(store, final, within=60)
        report(
            "long_history",
            messages=MESSAGES,
            concurrency=CONCURRENCY,
            seconds=round(elapsed, 1),
            runs=len(runs),
            longest_run_events=max(lengths),
            suggest_continue_as_new_at=SUGGEST_AT,
            lost_updates=len(expected_comments) - len(comments),
            history_entries=len(final.history),
            read_model_rows=len(await store.events(eid)),
        )
        await claims.handle(eid).terminate("test over")
