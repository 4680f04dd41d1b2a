"""Operators' view on the dev server: search attributes, the saved searches of
docs/operations.md, the UI texts, and the command line's list/show/setup."""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.testing import WorkflowEnvironment

from activities.claim_activities import ClaimActivities
from activities.links import SurveyLinks
from starter.client import ClaimsClient
from starter.client import ClaimSummary
from starter.client import workflow_id
from starter.queries import claims_query
from tests.builders import CUSTOMER_CONTACT
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_CONTACTS
from tests.builders import REVIEWER
from tests.builders import claim_input
from tests.helpers import complete_proof
from tests.helpers import run_cli
from worker import create_worker
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import RequestInfo
from workflows.messages import Submit

ROOT = Path(__file__).resolve().parent.parent
DOCS_NOW = datetime(2026, 11, 27, tzinfo=UTC)
"""The day the examples in docs/operations.md are written for."""

DOCUMENTED = {
    "Claims expiring within 7 days": {"expiring_within": timedelta(days=7)},
    "Waiting for review longer than 14 days": {
        "status": "submitted",
        "in_status_longer_than": timedelta(days=14),
    },
    "Escalated: waiting for review longer than 10 days": {
        "status": "submitted",
        "in_status_longer_than": timedelta(days=10),
    },
    "Auto-rejected this month": {
        "status": "auto_rejected",
        "in_status_since": datetime(2026, 11, 1, tzinfo=UTC),
    },
    "Waiting on the customer survey": {"status": "in_progress", "missing": "customer_survey"},
    "Waiting for the partner's answer to a question": {"status": "info_requested"},
    "One partner's claims": {"partner": "P-42"},
    "Mail waiting": {"mail_waiting": True},
}


def documented_queries() -> dict[str, str]:
    """Each '### heading' of the saved searches with the query in its code block."""
    text = (ROOT / "docs" / "operations.md").read_text()
    found = re.findall(r"^### (.+?)\n.*?^```\n(.+?)\n```", text, flags=re.M | re.S)
    return dict(found)


def test_the_documented_saved_searches_are_the_queries_the_command_line_builds() -> None:
    assert documented_queries() == {
        title: claims_query(now=DOCS_NOW, **filters)  # type: ignore[arg-type]
        for title, filters in DOCUMENTED.items()
    }


async def find(claims: ClaimsClient, query: str, engagement: str, present: bool = True) -> None:
    """Wait until the claim is (or is not) among the query's results."""
    deadline = time.monotonic() + 15
    while True:
        found: list[ClaimSummary] = await claims.find_claims(query)
        if (engagement in [c.engagement_id for c in found]) == present:
            return
        assert time.monotonic() < deadline, f"{engagement} {'not ' * present}found by {query}"
        await asyncio.sleep(0.2)


async def test_each_status_change_is_findable_by_the_operations_queries(
    dev_env: WorkflowEnvironment, dev_claims: ClaimsClient
) -> None:
    now = datetime.now(UTC)
    partner = {"id": f"P-{os.getpid()}-{time.monotonic_ns()}", "name": "Contoso Consulting"}
    expiring = claim_input(now - timedelta(days=85), partner=partner)
    await dev_claims.start_claim(expiring)
    eid = expiring.engagement_id

    def query(**filters: object) -> str:
        return claims_query(now=datetime.now(UTC), partner=partner["id"], **filters)  # type: ignore[arg-type]

    await find(dev_claims, query(expiring_within=timedelta(days=7)), eid)
    await find(dev_claims, query(status="in_progress", missing="customer_survey"), eid)
    await find(dev_claims, query(expiring_within=timedelta(days=3)), eid, present=False)

    await complete_proof(dev_claims, eid)
    await find(dev_claims, query(status="in_progress", missing="customer_survey"), eid, False)
    await dev_claims.submit(eid, Submit(actor=PARTNER_ADMIN))
    await find(dev_claims, query(status="submitted"), eid)
    await find(dev_claims, query(expiring_within=timedelta(days=7)), eid, present=False)
    # "Waiting for review longer than N days", seen from N days in the future.
    later = datetime.now(UTC) + timedelta(days=15)
    longer = claims_query(
        now=later,
        partner=partner["id"],
        status="submitted",
        in_status_longer_than=timedelta(days=14),
    )
    await find(dev_claims, longer, eid)

    await dev_claims.request_info(eid, RequestInfo(question="Attendance?", actor=REVIEWER))
    await find(dev_claims, query(status="info_requested"), eid)
    await find(dev_claims, query(status="submitted"), eid, present=False)

    overdue = claim_input(now - timedelta(days=100), partner=partner)
    await dev_claims.start_claim(overdue)
    month_start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    await find(
        dev_claims,
        query(status="auto_rejected", in_status_since=month_start),
        overdue.engagement_id,
    )
    [summary] = [
        c
        for c in await dev_claims.find_claims(query(status="auto_rejected"))
        if c.engagement_id == overdue.engagement_id
    ]
    assert summary.deadline == overdue.consent_at + timedelta(days=90)
    assert summary.partner_id == partner["id"]
    assert summary.customer_id == overdue.customer.id
    assert summary.missing == [
        "results_and_recommendations",
        "partner_survey",
        "customer_survey",
        "invoice",
    ]
    await dev_claims.handle(eid).terminate("test over")


async def test_claim_page_texts_show_summary_checklist_and_next_event_without_personal_data(
    dev_env: WorkflowEnvironment, dev_claims: ClaimsClient
) -> None:
    claim = claim_input(datetime.now(UTC) - timedelta(days=10))
    await dev_claims.start_claim(claim)
    handle = dev_claims.handle(claim.engagement_id)
    description = await handle.describe()
    assert await description.static_summary() == (
        f"Workshop claim {claim.engagement_id}: {claim.workshop} for {claim.customer.name}"
    )
    details = await description.static_details()
    assert details is not None
    assert claim.customer.name in details
    assert (claim.consent_at + timedelta(days=90)).strftime("%Y-%m-%d") in details

    metadata = await handle.query("__temporal_workflow_metadata")
    current = metadata.current_details
    assert "in progress" in current
    assert "80 days left" in current
    assert "open: customer survey (not sent)" in current
    assert "reminder: 30 days left on" in current
    personal = [c.name for c in PARTNER_CONTACTS] + [c.email for c in PARTNER_CONTACTS]
    personal += [CUSTOMER_CONTACT.name, CUSTOMER_CONTACT.email, PARTNER_ADMIN.user]
    for text in (current, details, await description.static_summary() or ""):
        assert not [p for p in personal if p in text]
        assert "@" not in text
    await handle.terminate("test over")


# --- the command line against the dev server ----------------------------------------------


async def cli(dev_env: WorkflowEnvironment, task_queue: str, *args: str) -> tuple[int, str, str]:
    environ = {
        "PATH": os.environ.get("PATH", ""),
        "TEMPORAL_ADDRESS": dev_env.client.service_client.config.target_host,
        "CLAIMS_TASK_QUEUE": task_queue,
    }
    done = await run_cli(*args, env=environ)
    return done.code, done.stdout, done.stderr


@pytest.mark.slow  # the operator command line in subprocesses (~10 s)
async def test_cli_setup_list_and_show_for_operators(
    dev_env: WorkflowEnvironment, dev_claims: ClaimsClient, task_queue: str
) -> None:
    code, out, err = await cli(dev_env, task_queue, "setup")
    assert (code, err) == (0, "")
    assert "already registered" in out

    partner = {"id": f"P-cli-{time.monotonic_ns()}", "name": "Contoso Consulting"}
    claim = claim_input(datetime.now(UTC) - timedelta(days=86), partner=partner)
    await dev_claims.start_claim(claim)
    await find(
        dev_claims, claims_query(now=datetime.now(UTC), partner=partner["id"]), claim.engagement_id
    )

    code, out, err = await cli(
        dev_env, task_queue, "list", "--partner", partner["id"], "--expiring-within", "7d"
    )
    assert code == 0, err
    header, row, total = out.strip().splitlines()
    assert header.split() == [
        "ENGAGEMENT",
        "STATUS",
        "PARTNER",
        "CUSTOMER",
        "DEADLINE",
        "DAYS",
        "LEFT",
        "MISSING",
        "SINCE",
    ]
    assert row.split()[:3] == [claim.engagement_id, "in_progress", partner["id"]]
    assert row.split()[5] == "4"  # 86 days after consent: 3 days and some hours
    assert row.split()[-2:] == [datetime.now(UTC).strftime("%Y-%m-%d"), "(0d)"]
    assert total == "1 claim"

    code, out, _ = await cli(
        dev_env, task_queue, "list", "--partner", partner["id"], "--missing", "invoice", "--json"
    )
    assert code == 0
    [listed] = json.loads(out)
    assert listed["engagement_id"] == claim.engagement_id
    assert "invoice" in listed["missing"]

    code, out, _ = await cli(dev_env, task_queue, "show", claim.engagement_id)
    assert code == 0
    assert f"Claim {claim.engagement_id}: {claim.workshop}" in out
    assert "(4 days left)" in out
    assert "[ ] customer survey (not_sent" in out
    [started] = [line for line in out.splitlines() if "claim_started" in line]
    deadline = (claim.consent_at + timedelta(days=90)).isoformat()
    assert started.endswith(f"(incentives_admin)  deadline_at={deadline}")  # with details

    code, out, err = await cli(dev_env, task_queue, "list", "--expiring-within", "7x")
    assert code == 2
    assert "7x" in err
    code, out, err = await cli(dev_env, task_queue, "list", "--missing", "passport")
    assert code == 2
    assert "passport" in err
    await dev_claims.handle(claim.engagement_id).terminate("test over")


@pytest.mark.slow  # the operator command line in subprocesses (~10 s)
async def test_cli_lists_open_claims_unless_asked_for_all_and_prints_its_query(
    dev_env: WorkflowEnvironment, dev_claims: ClaimsClient, task_queue: str
) -> None:
    partner = {"id": f"P-closed-{time.monotonic_ns()}", "name": "Contoso Consulting"}
    closed = claim_input(datetime.now(UTC) - timedelta(days=100), partner=partner)
    await dev_claims.start_claim(closed)  # past its deadline: auto-rejected, closed
    approved = claim_input(datetime.now(UTC), partner=partner)
    await dev_claims.start_claim(approved)
    await complete_proof(dev_claims, approved.engagement_id)
    await dev_claims.submit(approved.engagement_id, Submit(actor=PARTNER_ADMIN))
    await dev_claims.approve(approved.engagement_id, Approve(actor=REVIEWER))
    everything = claims_query(now=datetime.now(UTC), partner=partner["id"])
    for eid in (closed.engagement_id, approved.engagement_id):
        await find(dev_claims, everything, eid)
    await find(
        dev_claims, everything + " AND ExecutionStatus = 'Running'", closed.engagement_id, False
    )

    code, out, err = await cli(
        dev_env, task_queue, "list", "--partner", partner["id"], "--print-query"
    )
    assert code == 0, err
    assert [row.split()[0] for row in out.splitlines()[1:-1]] == [approved.engagement_id]
    assert err == (
        "query: WorkflowType = 'WorkshopClaim' AND ExecutionStatus = 'Running' "
        f"AND PartnerId = '{partner['id']}'\n"
    )
    code, out, _ = await cli(dev_env, task_queue, "list", "--partner", partner["id"], "--all")
    assert {row.split()[0] for row in out.splitlines()[1:-1]} == {
        approved.engagement_id,
        closed.engagement_id,
    }
    code, out, _ = await cli(
        dev_env, task_queue, "list", "--partner", partner["id"], "--missing", "invoice"
    )
    assert out.strip().splitlines()[1:] == ["0 claims"]  # the closed one is left out

    code, out, _ = await cli(dev_env, task_queue, "show", approved.engagement_id)
    assert "Allowed now: nothing (approved: paid in the next payment cycle)" in out
    await dev_claims.handle(approved.engagement_id).terminate("test over")


@pytest.mark.slow  # waits out the command line's timeout
async def test_cli_update_without_a_worker_fails_in_one_line_saying_it_may_still_apply(
    dev_env: WorkflowEnvironment, activities: ClaimActivities, links: SurveyLinks
) -> None:
    queue = f"no-worker-{uuid.uuid4()}"
    claim = claim_input(datetime.now(UTC))
    async with create_worker(dev_env.client, queue, activities):
        await ClaimsClient(dev_env.client, task_queue=queue, links=links).start_claim(claim)
    # The worker is gone: the update reaches Temporal and waits for one.
    comment = AddComment(text="on site", actor=PARTNER_ADMIN).model_dump_json()
    eid = claim.engagement_id

    code, out, err = await cli(
        dev_env, queue, "--timeout", "5", "add-comment", eid, "--json", comment
    )

    assert (code, out) == (1, "")
    assert err.count("\n") == 1, err  # one line, no traceback
    assert err.startswith("error: no answer from Temporal at ")
    assert f"is a claims worker polling task queue '{queue}'?" in err
    assert "the add-comment may still take effect when a worker answers: check with " in err
    assert f"`python -m starter show {eid}`, or send it again with --update-id cli-" in err
    assert err.rstrip().endswith("(it acts once)")
    await dev_env.client.get_workflow_handle(workflow_id(eid)).terminate("test over")
