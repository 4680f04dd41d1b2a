"""PaymentCycleWorkflow: one payment cycle, started by the schedule `payment-cycle`.

A cycle pays every claim approved at least `min_days_approved` days before
its date and not paid yet, from the read model, in one batch `PC-<date>`:

1. open the batch (its id and cut-off come from the cycle's date, the
   schedule's nominal time, so a re-run of the same cycle is the same batch);
2. page through the payable claims in engagement order, `page_size` (200) at
   a time: each page is one activity that writes one line per claim (paid at
   its workshop's tariff, or not paid with the reason) in one transaction,
   then one activity sends `payment_issued` to the claims it paid;
3. page through the partners paid in the batch and mail each one remittance
   advice (one activity per partner, so a bad address holds up nobody else);
4. close the batch and return its summary.

The workflow does no I/O and decides nothing about money: selection, amounts
and the "never twice" guarantees live in the activities and the database
(see activities/payments.py), so a retried activity or a re-run cycle pays
nobody twice.

Large cycles: **continue-as-new every `pages_per_run` pages** (10 by default,
or earlier when the server suggests it), carrying only a cursor and counters.
A page costs about a dozen history events whatever its size, so a run stays
far below the history limits, and a cycle of any size is a chain of small
runs under one workflow id. Child workflows per page or per partner were not
chosen: the work is sequential by nature (one keyset cursor over the claims,
then one over the partners), a partner's claims can span pages so per-partner
children would first need a full grouping pass, and children would add
workflows, ids and failure handling for no gain in history size, which is all
that continue-as-new is needed for here.
"""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import NoReturn

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.common import SearchAttributeKey

with workflow.unsafe.imports_passed_through():
    from activities.payments import PaymentActivities
    from workflows.payments_messages import BatchSummary
    from workflows.payments_messages import CloseBatch
    from workflows.payments_messages import CycleProgress
    from workflows.payments_messages import IssuePayments
    from workflows.payments_messages import OpenBatch
    from workflows.payments_messages import PaymentCycleInput
    from workflows.payments_messages import PayPage
    from workflows.payments_messages import RemittancesDue
    from workflows.payments_messages import SendRemittance
    from workflows.payments_messages import batch_id_for

SCHEDULED_START_TIME = SearchAttributeKey.for_datetime("TemporalScheduledStartTime")
"""Set by a schedule on each workflow it starts: the action's nominal time."""

LEDGER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
"""Database and Temporal calls: retry without limit, backing off to 5 minutes."""

MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=15),
)
"""A mail outage may last hours: retry without limit, backing off to 15 minutes."""


def _minute(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


@workflow.defn(name="PaymentCycle")
class PaymentCycleWorkflow:
    @workflow.init
    def __init__(self, cycle: PaymentCycleInput) -> None:
        self._cycle = cycle
        self._pages_this_run = 0

    @workflow.run
    async def run(self, cycle: PaymentCycleInput) -> BatchSummary:
        progress = cycle.progress or await self._open(cycle)
        self._show(progress, "opened")
        while progress.phase == "pay":
            self._continue_as_new_if_due(progress)
            await self._pay_page(progress)
        while progress.phase == "remit":
            self._continue_as_new_if_due(progress)
            await self._remit_page(progress)
        summary = await workflow.execute_activity_method(
            PaymentActivities.close_payment_batch,
            CloseBatch(batch_id=progress.batch_id, finished_at=workflow.now()),
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=LEDGER_RETRY,
            summary="payments: close batch",
        )
        workflow.set_current_details(
            f"**Batch:** {summary.batch_id} (done)  \n"
            f"**Paid:** {summary.paid} claims "
            f"({', '.join(f'{c} {a}' for c, a in summary.totals.items()) or 'nothing'}), "
            f"{summary.remittances} remittances  \n"
            f"**Not paid:** {summary.not_paid} claims"
        )
        return summary

    async def _open(self, cycle: PaymentCycleInput) -> CycleProgress:
        info = workflow.info()
        cycle_date = (
            cycle.cycle_date
            or info.typed_search_attributes.get(SCHEDULED_START_TIME)
            or info.start_time
        )
        cycle_date = cycle_date.astimezone(UTC)
        batch_id = batch_id_for(cycle_date)
        opened = await workflow.execute_activity_method(
            PaymentActivities.open_payment_batch,
            OpenBatch(
                batch_id=batch_id,
                cycle_date=cycle_date,
                approved_before=cycle_date - timedelta(days=cycle.min_days_approved),
                min_days_approved=cycle.min_days_approved,
                workflow_id=info.workflow_id,
                started_at=workflow.now(),
            ),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=LEDGER_RETRY,
            summary=f"payments: open batch {batch_id}",
        )
        return CycleProgress(
            batch_id=batch_id, cycle_date=cycle_date, approved_before=opened.approved_before
        )

    async def _pay_page(self, progress: CycleProgress) -> None:
        page = await workflow.execute_activity_method(
            PaymentActivities.pay_claims_page,
            PayPage(
                batch_id=progress.batch_id,
                approved_before=progress.approved_before,
                paid_at=progress.cycle_date,
                after=progress.after,
                limit=self._cycle.page_size,
            ),
            start_to_close_timeout=timedelta(minutes=5),
            retry_policy=LEDGER_RETRY,
            summary=f"payments: record claims page {progress.pages + 1}",
        )
        self._pages_this_run += 1
        progress.pages += 1
        progress.paid += page.paid
        progress.not_paid += page.not_paid
        progress.after = page.last
        more_to_signal = True
        while more_to_signal:
            issued = await workflow.execute_activity_method(
                PaymentActivities.issue_payments,
                IssuePayments(batch_id=progress.batch_id, limit=self._cycle.page_size),
                start_to_close_timeout=timedelta(minutes=10),
                heartbeat_timeout=timedelta(minutes=2),
                retry_policy=LEDGER_RETRY,
                summary=f"payments: signal payment_issued, page {progress.pages}",
            )
            progress.paid -= issued.undeliverable
            progress.not_paid += issued.undeliverable
            more_to_signal = issued.more
        if not page.more:
            progress.phase = "remit"
            progress.after = None
        self._show(progress, "paying claims" if page.more else "claims paid")

    async def _remit_page(self, progress: CycleProgress) -> None:
        due = await workflow.execute_activity_method(
            PaymentActivities.remittances_due,
            RemittancesDue(
                batch_id=progress.batch_id, after=progress.after, limit=self._cycle.page_size
            ),
            start_to_close_timeout=timedelta(minutes=1),
            retry_policy=LEDGER_RETRY,
            summary="payments: partners to send a remittance advice",
        )
        self._pages_this_run += 1
        for partner_id in due.partner_ids:
            report = await workflow.execute_activity_method(
                PaymentActivities.send_remittance,
                SendRemittance(
                    batch_id=progress.batch_id,
                    partner_id=partner_id,
                    cycle_date=progress.cycle_date,
                ),
                start_to_close_timeout=timedelta(minutes=2),
                heartbeat_timeout=timedelta(minutes=1),
                retry_policy=MAIL_RETRY,
                summary=f"email: remittance advice to partner {partner_id}",
            )
            if report.claims and not report.already_sent:
                progress.remittances += 1
            progress.after = partner_id
        if not due.more:
            progress.phase = "done"
        self._show(progress, "sending remittances" if due.more else "remittances sent")

    def _continue_as_new_if_due(self, progress: CycleProgress) -> None:
        if (
            self._pages_this_run >= self._cycle.pages_per_run
            or workflow.info().is_continue_as_new_suggested()
        ):
            self._continue_as_new(progress)

    def _continue_as_new(self, progress: CycleProgress) -> NoReturn:
        progress.runs += 1
        workflow.continue_as_new(self._cycle.model_copy(update={"progress": progress}))

    def _show(self, progress: CycleProgress, step: str) -> None:
        """Current details for the UI: the batch and its counters, no personal data."""
        workflow.set_current_details(
            f"**Batch:** {progress.batch_id} (run {progress.runs})  \n"
            f"**Cycle:** {_minute(progress.cycle_date)}; pays claims approved by "
            f"{_minute(progress.approved_before)}  \n"
            f"**Step:** {step}  \n"
            f"**So far:** {progress.paid} paid, {progress.not_paid} not paid, "
            f"{progress.remittances} remittances sent"
        )
