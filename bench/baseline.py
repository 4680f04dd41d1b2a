"""The baseline: a workflow that takes a claim's messages and does nothing with them.

It receives exactly what the benchmark's claim lifecycle receives (the same
updates and signals, by the same names, with the same payload types, answered
to the same queries) and runs two trivial activities, so the lifecycle's
throughput divided by this one's is a property of the claim workflow, not of
the machine. Whatever the claim does beyond this (its rules, its read-model
writes, its e-mails, search attributes, timers) is what the ratio prices.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import activity
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.messages import AddComment
    from workflows.messages import Approve
    from workflows.messages import AttachDocument
    from workflows.messages import ClaimInput
    from workflows.messages import PaymentIssued
    from workflows.messages import SendSurvey
    from workflows.messages import Submit
    from workflows.messages import SurveyCompleted

BASELINE_WORKFLOW = "BenchBaseline"


@activity.defn(name="bench_trivial")
async def trivial(step: int) -> int:
    """The least an activity can do: a round trip through the task queue."""
    return step


@workflow.defn(name=BASELINE_WORKFLOW)
class BaselineWorkflow:
    """Counts the messages it receives; ends after the payment signal."""

    @workflow.init
    def __init__(self, claim_input: ClaimInput) -> None:
        self._received = 0
        self._paid = False

    @workflow.run
    async def run(self, claim_input: ClaimInput) -> int:
        await workflow.execute_activity(trivial, 1, start_to_close_timeout=timedelta(seconds=30))
        await workflow.wait_condition(lambda: self._paid)
        await workflow.execute_activity(trivial, 2, start_to_close_timeout=timedelta(seconds=30))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._received

    def _count(self) -> int:
        self._received += 1
        return self._received

    @workflow.query
    def get_claim(self) -> int:
        return self._received

    @workflow.update
    def attach_document(self, msg: AttachDocument) -> int:
        return self._count()

    @workflow.update
    def send_survey(self, msg: SendSurvey) -> int:
        return self._count()

    @workflow.update
    def add_comment(self, msg: AddComment) -> int:
        return self._count()

    @workflow.update
    def submit(self, msg: Submit) -> int:
        return self._count()

    @workflow.update
    def approve(self, msg: Approve) -> int:
        return self._count()

    @workflow.update
    def complete_survey(self, msg: SurveyCompleted) -> int:
        return self._count()

    @workflow.signal
    def survey_completed(self, msg: SurveyCompleted) -> None:
        self._count()

    @workflow.signal
    def payment_issued(self, msg: PaymentIssued) -> None:
        self._count()
        self._paid = True
