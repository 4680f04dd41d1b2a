"""A claim continued as new (continue-as-new, on the time-skipping server by starting the
run it would start): clock moments the run before dealt with stay dealt with, one that
fell due between the runs is acted on once, the operators' summary is repeated in the
current details, and the carried state is read leniently."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.testing import WorkflowEnvironment

from devstack.mailcatcher import MailCatcher
from starter.client import ClaimsClient
from tests.helpers import continued_run
from tests.helpers import plain_json_client
from tests.helpers import start_continued_run
from workflows.claim import ClaimRun
from workflows.operator_text import static_summary

DAY = timedelta(days=1)


async def test_a_reminder_due_between_two_runs_is_sent_once_and_one_sent_before_is_not_resent(
    env: WorkflowEnvironment, claims: ClaimsClient, mailbox: MailCatcher
) -> None:
    run = continued_run(await env.get_current_time())
    eid = await start_continued_run(claims, run)

    late = await mailbox.wait_for(count=2, kind="reminder", engagement_id=eid)
    assert all("7 days" in str(m["Subject"]) or "7 dagen" in str(m["Subject"]) for m in late)

    await env.sleep(5 * DAY + timedelta(hours=1))
    reminders = await mailbox.wait_for(count=4, kind="reminder", engagement_id=eid)
    subjects = sorted(str(m["Subject"]) for m in reminders if "anna@" in str(m["To"]))
    assert subjects == [
        f"Workshop claim {eid}: 1 day left to submit",
        f"Workshop claim {eid}: 7 days left to submit",
    ]
    view = await claims.get_claim(eid)
    assert [h.detail["days_left"] for h in view.history if h.event == "reminder_sent"] == [30, 7, 1]


async def test_a_continued_run_repeats_the_static_summary_in_its_current_details(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    run = continued_run(await env.get_current_time())
    eid = await start_continued_run(claims, run)

    metadata = await claims.handle(eid).query(
        "__temporal_workflow_metadata", result_type=WorkflowMetadata
    )

    assert metadata.current_details.startswith(f"**{static_summary(run)}**")
    assert "**Status:**" in metadata.current_details


async def test_the_carried_state_is_read_leniently_where_a_new_start_is_strict(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    """A rule tightened after a claim was accepted (here: a partner name longer than
    today's 200 characters) must not fail the claim's next run, nor its readers."""
    run = continued_run(await env.get_current_time())
    data = run.model_dump(mode="json")
    long_name = "Contoso " * 40
    data["partner"]["name"] = data["carried"]["claim"]["partner"]["name"] = long_name
    plain = plain_json_client(claims.client)

    await plain.start_workflow(
        "WorkshopClaim",
        data,
        id=f"workshop-claim-{run.engagement_id}",
        task_queue=claims.task_queue,
    )

    view = await claims.get_claim(run.engagement_id)
    assert view.status == "in_progress"
    assert view.partner.name == long_name
    fresh = {key: value for key, value in data.items() if key != "carried"}
    with pytest.raises(ValidationError):
        ClaimRun.model_validate(fresh)  # a new start stays strict
