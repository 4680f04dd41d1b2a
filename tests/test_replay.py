"""Replay: histories of real runs, and the committed corpus of tests/histories/, replay
against the current code; a changed workflow is caught (the check can fail), and the
same change made with `workflow.patched` replays the old histories (docs/versioning.md)."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from starter.client import ClaimsClient
from starter.client import workflow_id
from starter.converter import claims_data_converter
from tests.builders import PARTNER_ADMIN
from tests.builders import REVIEWER
from tests.builders import attach
from tests.builders import claim_input
from tests.helpers import complete_proof
from tests.scenarios import RELEASES
from tests.scenarios import SCENARIOS
from tests.scenarios import scenarios_of
from tests.workflow_variants import PatchedChangeWorkflow
from tests.workflow_variants import UnpatchedChangeWorkflow
from worker import workflow_runner
from workflows.claim import WorkshopClaimWorkflow
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import PaymentIssued
from workflows.messages import RequestInfo
from workflows.messages import RespondInfo
from workflows.messages import Submit
from workflows.payment_cycle import PaymentCycleWorkflow

CORPUS = Path(__file__).resolve().parent / "histories"


async def recorded_histories(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> list[WorkflowHistory]:
    """Run a few claims to their ends (paid, rejected by the deadline, with refusals)."""
    now = await env.get_current_time()
    paid = claim_input(now)
    await claims.start_claim(paid)
    await complete_proof(claims, paid.engagement_id)
    await claims.add_comment(paid.engagement_id, AddComment(text="hi", actor=PARTNER_ADMIN))
    await claims.submit_signal(paid.engagement_id, Submit(actor=PARTNER_ADMIN))
    await claims.request_info(paid.engagement_id, RequestInfo(question="?", actor=REVIEWER))
    await claims.respond_info(paid.engagement_id, RespondInfo(text="!", actor=PARTNER_ADMIN))
    await claims.submit(paid.engagement_id, Submit(actor=PARTNER_ADMIN))
    await claims.approve(paid.engagement_id, Approve(actor=REVIEWER))
    await claims.payment_issued(
        paid.engagement_id,
        PaymentIssued(reference="P-1", amount="10.00", currency="EUR", paid_at=now),
    )
    expired = claim_input(now)
    await claims.start_claim(expired)
    await claims.attach_document(expired.engagement_id, attach("invoice"))
    await claims.submit_signal(expired.engagement_id, Submit(actor=PARTNER_ADMIN))
    await env.sleep(timedelta(days=91))
    histories = []
    for claim in (paid, expired):
        handle = claims.handle(claim.engagement_id)
        await handle.result()
        histories.append(await handle.fetch_history())
    return histories


def replayer(workflow_class: type[WorkshopClaimWorkflow]) -> Replayer:
    workflows = [workflow_class, PaymentCycleWorkflow]
    return Replayer(
        workflows=workflows,
        data_converter=claims_data_converter,
        workflow_runner=workflow_runner(workflows),
    )


def is_claim(history: WorkflowHistory) -> bool:
    started = history.events[0].workflow_execution_started_event_attributes
    return started.workflow_type.name == "WorkshopClaim"


def corpus() -> list[tuple[str, WorkflowHistory]]:
    """The committed histories (scripts/record_histories.py), one per scenario and state."""
    files = sorted(CORPUS.glob("*.json"))
    return [(f.stem, WorkflowHistory.from_json(workflow_id(f.stem), f.read_text())) for f in files]


def test_the_corpus_covers_every_scenario_in_every_release() -> None:
    """Each release recorded (`<scenario>.json`, then `<scenario>@<release>.json`) has a
    history of every scenario of its time, the latest of all of them."""
    names = [name for name, _ in corpus()]
    releases = {name.partition("@")[2] for name in names}
    assert releases == set(RELEASES)
    for release in RELEASES:
        recorded = sorted(n.partition("@")[0] for n in names if n.partition("@")[2] == release)
        assert recorded == sorted(scenarios_of(release)), release or "the first release"
    assert scenarios_of(RELEASES[-1]) == list(SCENARIOS)


@pytest.mark.parametrize(("name", "history"), corpus(), ids=[name for name, _ in corpus()])
async def test_committed_history_replays_against_the_current_workflow(
    name: str, history: WorkflowHistory
) -> None:
    await replayer(WorkshopClaimWorkflow).replay_workflow(history)


async def test_the_corpus_replays_in_the_stock_sandbox_too() -> None:
    """Workers pass the workflow modules through the sandbox (`worker.workflow_runner`);
    the stock sandbox imports `workflows/claim.py` afresh and restricts what its own code
    calls, so a clock read or I/O there fails this even where it changes no command."""
    stock = Replayer(
        workflows=[WorkshopClaimWorkflow, PaymentCycleWorkflow],
        data_converter=claims_data_converter,
    )
    for _, history in corpus():
        await stock.replay_workflow(history)


async def replay_failures(
    workflow_class: type[WorkshopClaimWorkflow], histories: list[WorkflowHistory]
) -> list[Exception]:
    failures = []
    for history in histories:
        try:
            await replayer(workflow_class).replay_workflow(history)
        except Exception as failure:  # collected: the assertion says which and why
            failures.append(failure)
    return failures


async def test_a_patched_change_replays_the_corpus_and_an_unpatched_one_fails() -> None:
    histories = [history for _, history in corpus() if is_claim(history)]
    assert await replay_failures(PatchedChangeWorkflow, histories) == []
    failures = await replay_failures(UnpatchedChangeWorkflow, histories)
    assert len(failures) == len(histories)
    assert all(isinstance(f, NondeterminismError) for f in failures)


async def test_recorded_histories_replay_against_the_current_workflow_and_fail_on_a_change(
    env: WorkflowEnvironment, claims: ClaimsClient
) -> None:
    histories = await recorded_histories(env, claims)

    for history in histories:
        await replayer(WorkshopClaimWorkflow).replay_workflow(history)

    for history in histories:
        with pytest.raises(NondeterminismError):
            await replayer(UnpatchedChangeWorkflow).replay_workflow(history)
