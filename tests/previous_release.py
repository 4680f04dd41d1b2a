"""The claim workflow as released before the after-submission clocks (issue 14), frozen.

The upgrade test (tests/test_upgrade.py) starts claims with a worker running this class,
then swaps in a worker with the current `workflows.claim`, as a deploy does, and drives
the claims to an end. Frozen as it was released (only this docstring differs): it runs
against the current rules, which keep the old behaviour for claims whose clocks are off.
A module of its own because the workflow sandbox re-imports the module that defines a
workflow.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.common import TypedSearchAttributes
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from activities.claim_activities import ClaimActivities
    from workflows import operator_text
    from workflows import rules
    from workflows import tracing
    from workflows.messages import AddComment
    from workflows.messages import Approve
    from workflows.messages import AttachDocument
    from workflows.messages import ClaimInput
    from workflows.messages import ClaimView
    from workflows.messages import PaymentIssued
    from workflows.messages import Reject
    from workflows.messages import RequestInfo
    from workflows.messages import SendSurvey
    from workflows.messages import StoreClaim
    from workflows.messages import Submit
    from workflows.messages import SurveyCompleted
    from workflows.messages import UpdateContacts
    from workflows.search_attributes import changed_attributes
    from workflows.search_attributes import claim_attributes

M = TypeVar("M", bound=BaseModel)

STORE_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=1),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=5),
)
"""The read model must catch up eventually: retry without limit, backing off to 5 minutes.
Read-model writes are local activities: one history event each instead of six (a regular
activity's three events and the workflow task its completion wakes), see docs/performance.md."""

MAIL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=5),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(minutes=15),
)
"""A mail outage may last hours: retry without limit, backing off to 15 minutes."""

ACTIVITY_HEARTBEAT_TIMEOUT = timedelta(seconds=10)
"""The activities heartbeat every second while they run: a worker that dies mid-activity
is noticed within this, and the activity retried elsewhere, instead of after its whole
start-to-close timeout (2 minutes for mail). Changing it does not affect replay."""


def _refusal_error(refusal: rules.Refusal) -> ApplicationError:
    return ApplicationError(
        refusal.message, *refusal.details, type=refusal.type, non_retryable=True
    )


class CarriedClaim(BaseModel):
    """What a claim takes into its next run when its history grows long."""

    claim: rules.ClaimState
    stored: int


class ClaimRun(ClaimInput):
    """The workflow's own input: the start input, plus the state it carries when it
    continues as new (callers start claims with a plain `ClaimInput`)."""

    carried: CarriedClaim | None = None


@workflow.defn(name="WorkshopClaim")
class WorkshopClaimWorkflow:
    @workflow.init
    def __init__(self, claim_input: ClaimRun) -> None:
        carried = claim_input.carried
        self._claim = (
            rules.open_claim(claim_input, workflow.now()) if carried is None else carried.claim
        )
        # History entries already written to the read model.
        self._stored = 0 if carried is None else carried.stored
        # The claim is over: drain the mail queue, then the rest, then end.
        self._closing = False
        self._mail_drained = False
        # The history is long: stop after the current activity and continue as new.
        self._pausing = False
        # What search attributes and current details last showed, and at which
        # history length.
        self._published: TypedSearchAttributes | None = None
        self._published_version = 0
        # The business metrics (replay-safe: the SDK's workflow meter records nothing
        # while replaying), and the status they last counted (a continued run's status
        # was counted by the run before).
        meter = workflow.metric_meter()
        self._transitions = meter.create_counter(
            "claims_status_transitions", "claims entering a status, by the status entered"
        )
        self._refusals = meter.create_counter(
            "claims_update_refusals", "updates the claim refused, by update and refusal type"
        )
        self._decisions = meter.create_histogram_float(
            "claims_decision_seconds", "seconds from submission to approval or rejection", "s"
        )
        self._counted_status = None if carried is None else self._claim.status

    # --- the claim's life -------------------------------------------------------------

    @workflow.run
    async def run(self, claim_input: ClaimRun) -> ClaimView:
        try:
            rules.check_start(claim_input)
        except rules.Refusal as refusal:
            raise _refusal_error(refusal) from None
        mail = asyncio.create_task(self._mail_loop())
        store = asyncio.create_task(self._store_loop())
        publish = asyncio.create_task(self._publish_loop())
        deadline = asyncio.create_task(self._watch_deadline())

        await workflow.wait_condition(
            lambda: rules.is_final(self._claim) or workflow.info().is_continue_as_new_suggested()
        )
        if not rules.is_final(self._claim):
            # Continue as new with the whole state; queued notifications and unstored
            # history go along, and the new run picks up the deadline from its own clock.
            self._pausing = True
            deadline.cancel()
            await asyncio.gather(mail, store, publish)
            await workflow.wait_condition(workflow.all_handlers_finished)
            carried = CarriedClaim(claim=self._claim, stored=self._stored)
            workflow.continue_as_new(claim_input.model_copy(update={"carried": carried}))

        await workflow.wait_condition(workflow.all_handlers_finished)
        self._closing = True
        await mail
        self._mail_drained = True
        await asyncio.gather(store, publish)
        return self._view()

    async def _watch_deadline(self) -> None:
        """Reminders, then the deadline, while the claim is in progress."""
        for checkpoint in rules.checkpoints(self._claim, workflow.now()):
            delay = checkpoint.at - workflow.now()
            if delay > timedelta(0):
                # A timeout means the checkpoint's moment has come; anything else
                # that wakes us is a status change, checked just below.
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._claim.status != "in_progress",
                        timeout=delay,
                        timeout_summary=checkpoint.summary,
                    )
            if self._claim.status != "in_progress":
                return
            rules.reach_checkpoint(self._claim, checkpoint, workflow.now())

    async def _store_loop(self) -> None:
        """Write the read model after each change, in order, until the claim is closed."""
        while True:
            await workflow.wait_condition(
                lambda: (
                    self._stored < len(self._claim.history) or self._mail_drained or self._pausing
                )
            )
            if self._pausing or self._stored >= len(self._claim.history):
                return
            view = self._view()
            write = StoreClaim(view=view, since_seq=self._stored)
            await workflow.execute_local_activity_method(
                ClaimActivities.store_claim,
                write,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=STORE_RETRY,
                summary="store: claim read model",
            )
            self._stored = len(view.history)

    async def _publish_loop(self) -> None:
        """Keep search attributes and current details in step with every change."""
        while True:
            self._publish()
            await workflow.wait_condition(
                lambda: (
                    self._published_version < len(self._claim.history)
                    or self._mail_drained
                    or self._pausing
                )
            )
            if self._pausing or self._published_version >= len(self._claim.history):
                return

    def _publish(self) -> None:
        claim = self._claim
        now = workflow.now()
        attributes = claim_attributes(
            status=claim.status,
            status_since=rules.status_since(claim),
            partner_id=claim.partner.id,
            customer_id=claim.customer.id,
            deadline=rules.deadline_of(claim),
            missing=rules.missing_items(claim),
        )
        updates = changed_attributes(self._published, attributes)
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published = attributes
        workflow.set_current_details(operator_text.current_details(claim, now))
        self._count_status_change()
        self._published_version = len(claim.history)

    def _count_status_change(self) -> None:
        claim = self._claim
        if claim.status == self._counted_status:
            return
        self._counted_status = claim.status
        self._transitions.add(1, {"to": claim.status})
        if claim.status in ("approved", "rejected") and claim.submitted_at and claim.decided_at:
            waited = claim.decided_at - claim.submitted_at
            self._decisions.record(waited.total_seconds())

    async def _mail_loop(self) -> None:
        """Send queued notifications in order; undeliverable recipients go on the record."""
        while True:
            await workflow.wait_condition(
                lambda: bool(self._claim.outbox) or self._closing or self._pausing
            )
            if self._pausing or not self._claim.outbox:
                return
            notification = self._claim.outbox[0]
            with tracing.continuing(notification.trace_context):
                report = await workflow.execute_activity_method(
                    ClaimActivities.send_notification,
                    notification,
                    start_to_close_timeout=timedelta(minutes=2),
                    heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                    retry_policy=MAIL_RETRY,
                    summary=operator_text.notification_summary(notification),
                )
            self._claim.outbox.pop(0)
            if report.refused:
                rules.record_undeliverable(
                    self._claim, notification, report.refused, workflow.now()
                )

    def _view(self) -> ClaimView:
        return rules.view(self._claim, workflow.now())

    def _check(self, check: Callable[[rules.ClaimState, M, datetime], None], msg: M) -> None:
        try:
            check(self._claim, msg, workflow.now())
        except rules.Refusal as refusal:
            update = check.__name__.removeprefix("check_")
            self._refusals.add(1, {"update": update, "type": refusal.type})
            raise _refusal_error(refusal) from None

    def _apply(self, apply: Callable[[rules.ClaimState, M, datetime], object], msg: M) -> ClaimView:
        queued = len(self._claim.outbox)
        apply(self._claim, msg, workflow.now())
        trace = tracing.update_trace(self)
        for notification in self._claim.outbox[queued:]:
            notification.trace_context = trace
        return self._view()

    # --- what the portal asks ---------------------------------------------------------

    @workflow.query
    def get_claim(self) -> ClaimView:
        return self._view()

    # --- partner updates --------------------------------------------------------------

    @workflow.update
    def attach_document(self, msg: AttachDocument) -> ClaimView:
        return self._apply(rules.attach_document, msg)

    @attach_document.validator
    def _validate_attach_document(self, msg: AttachDocument) -> None:
        self._check(rules.check_attach_document, msg)

    @workflow.update
    def send_survey(self, msg: SendSurvey) -> ClaimView:
        return self._apply(rules.send_survey, msg)

    @send_survey.validator
    def _validate_send_survey(self, msg: SendSurvey) -> None:
        self._check(rules.check_send_survey, msg)

    @workflow.update
    def update_contacts(self, msg: UpdateContacts) -> ClaimView:
        return self._apply(rules.update_contacts, msg)

    @update_contacts.validator
    def _validate_update_contacts(self, msg: UpdateContacts) -> None:
        self._check(rules.check_update_contacts, msg)

    @workflow.update
    def add_comment(self, msg: AddComment) -> ClaimView:
        return self._apply(rules.add_comment, msg)

    @add_comment.validator
    def _validate_add_comment(self, msg: AddComment) -> None:
        self._check(rules.check_add_comment, msg)

    @workflow.update
    def submit(self, msg: Submit) -> ClaimView:
        return self._apply(rules.submit, msg)

    @submit.validator
    def _validate_submit(self, msg: Submit) -> None:
        self._check(rules.check_submit, msg)

    # --- reviewer updates -------------------------------------------------------------

    @workflow.update
    def request_info(self, msg: RequestInfo) -> ClaimView:
        return self._apply(rules.request_info, msg)

    @request_info.validator
    def _validate_request_info(self, msg: RequestInfo) -> None:
        self._check(rules.check_request_info, msg)

    @workflow.update
    def approve(self, msg: Approve) -> ClaimView:
        return self._apply(rules.approve, msg)

    @approve.validator
    def _validate_approve(self, msg: Approve) -> None:
        self._check(rules.check_approve, msg)

    @workflow.update
    def reject(self, msg: Reject) -> ClaimView:
        return self._apply(rules.reject, msg)

    @reject.validator
    def _validate_reject(self, msg: Reject) -> None:
        self._check(rules.check_reject, msg)

    # --- the survey pages -------------------------------------------------------------

    @workflow.update
    def complete_survey(self, msg: SurveyCompleted) -> ClaimView:
        """A respondent's answers from the survey page: the page learns at once whether
        they were taken (a stale link is refused, with why, and nothing is recorded)."""
        return self._apply(rules.complete_survey, msg)

    @complete_survey.validator
    def _validate_complete_survey(self, msg: SurveyCompleted) -> None:
        self._check(rules.check_complete_survey, msg)

    # --- signals: recorded whether accepted or not ------------------------------------

    @workflow.signal(name="submit")
    def submit_signal(self, msg: Submit) -> None:
        """Submission for portal backends that only signal: same rules as the update."""
        now = workflow.now()
        try:
            rules.check_submit(self._claim, msg, now)
        except rules.Refusal as refusal:
            rules.submit_refused(self._claim, msg, refusal, now)
            return
        rules.submit(self._claim, msg, now)

    @workflow.signal
    def survey_completed(self, msg: SurveyCompleted) -> None:
        rules.complete_survey(self._claim, msg, workflow.now())

    @workflow.signal
    def payment_issued(self, msg: PaymentIssued) -> None:
        rules.issue_payment(self._claim, msg, workflow.now())
