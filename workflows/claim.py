"""WorkshopClaimWorkflow: one durable workflow per workshop claim.

The workflow takes no decision of its own: every message is checked and
applied by `workflows.rules`, and this class wires those rules to Temporal:

- updates refuse in their validator (a refused update writes nothing to
  history) and return the claim view after the change;
- signals are recorded either way, since their sender can't be answered;
- a durable timer per clock moment (`rules.next_clock`) sends the 30/7/1-day
  reminders and auto-rejects a claim still in progress at its 90-day deadline,
  reminds of and ends the reply window, closes the dispute window and escalates
  a claim waiting too long for review;
- a run records which release started it (`RELEASE`, in its first read-model
  write); runs of earlier releases keep their exact commands and get each
  after-submission clock behind `workflow.patched` when they first need it, so
  they replay and go on as before (docs/versioning.md);
- side effects leave through two queues drained by activities, so a slow mail
  server or database never holds up a portal user: the read model is written
  in order, notifications are sent in order, each retried until done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from typing import TypeVar
from typing import cast

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.common import TypedSearchAttributes
from temporalio.exceptions import ActivityError
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    # By full name, not `from workflows import rules`: the stock sandbox (a Replayer's;
    # the workers pass this module through too) passes a module through only when it is
    # imported by name; a submodule taken from the workflow's own (fresh) package would
    # be loaded again inside the sandbox, a second copy whose classes (rules.Refusal)
    # differ from the ones the passed-through modules raise.
    import workflows.bounds as bounds
    import workflows.engagement_rules as engagement_rules
    import workflows.failures as failures
    import workflows.operator_text as operator_text
    import workflows.payment_holds as payment_holds
    import workflows.rules as rules
    import workflows.tracing as tracing
    from activities.claim_activities import ClaimActivities
    from workflows.messages import AddComment
    from workflows.messages import Approve
    from workflows.messages import AttachDocument
    from workflows.messages import Cancel
    from workflows.messages import ClaimView
    from workflows.messages import Dispute
    from workflows.messages import MailRetrying
    from workflows.messages import PaymentIssued
    from workflows.messages import Reject
    from workflows.messages import RequestInfo
    from workflows.messages import ResendNotification
    from workflows.messages import RespondInfo
    from workflows.messages import SendSurvey
    from workflows.messages import StoreClaim
    from workflows.messages import StoreReceipt
    from workflows.messages import Submit
    from workflows.messages import SurveyCompleted
    from workflows.messages import UpdateContacts
    from workflows.payments_messages import PaymentHeld
    from workflows.search_attributes import changed_attributes
    from workflows.search_attributes import claim_attributes
    from workflows.state import CarriedClaim as CarriedClaim  # callers import them here too
    from workflows.state import ClaimRun as ClaimRun

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


NOTIFICATION_FAILED_PATCH = "notification-failed-recorded"
"""Since issue 15: a notification that can't be built is recorded and skipped (before, its
activity was retried forever, so no earlier history holds such a failure)."""


def _unbuildable(err: ActivityError) -> tuple[str, str] | None:
    """The reason and error name of a notification the mail activity could not build."""
    cause = err.cause
    if not isinstance(cause, ApplicationError) or cause.type != failures.NOTIFICATION_FAILED:
        return None
    error = str(cause.details[0]) if cause.details else "error"
    return cause.message, error


PATCHES: dict[str, str] = {
    "review_clock": "review-clock",
    "reply_window": "reply-window",
    "dispute_window": "dispute-window",
}
"""Each after-submission clock, by the patch that switches it on (docs/versioning.md)."""
RELEASE = 2
"""This release of the workflow code (1: every release before the after-submission
clocks). A run records the release that started it in its first read-model write (see
`StoreReceipt`), and a continued run carries it: runs of this release need no patch."""
CARRIED_CLOCKS_PATCH = "carried-clocks"
"""A continued run sends a reminder that fell due between its runs (before: skipped)."""


@workflow.defn(name="WorkshopClaim")
class WorkshopClaimWorkflow:
    @workflow.init
    def __init__(self, claim_input: ClaimRun) -> None:
        carried = claim_input.carried
        self._claim = (
            rules.open_claim(claim_input, workflow.now()) if carried is None else carried.claim
        )
        rules.settle_clocks(self._claim, workflow.now(), carried=carried is not None)
        self._run_started = workflow.now()
        # Which release started this run: carried by a continued run, else learnt from
        # the first read-model write's receipt (None until then).
        self._release: int | None = None if carried is None else carried.release or 1
        # The clock timers running, by clock key (a run of this release leaves unneeded
        # ones running rather than cancel them).
        self._timers: dict[str, asyncio.Task[None]] = {}
        # Clocks whose patch said no in this run: asked once per run (a replay of a claim
        # started before the clock existed must take the same, old path every time).
        self._clocks_declined: set[str] = set()
        # A continued run can't set the static summary again (only a start can): the
        # current details repeat it.
        self._summary_line = None if carried is None else operator_text.static_summary(claim_input)
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
        # Changes to the account of waiting mail (`mail_retrying`), which publish too.
        self._mail_news = 0
        self._mail_news_published = 0
        # Whether `PendingNotifications` was ever set by this run: a claim whose mail
        # always flowed never upserts it (its history stays what it was).
        self._pending_shown = False
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
            engagement_rules.check_consent_at(claim_input.consent_at, workflow.now())
        except rules.Refusal as refusal:
            raise _refusal_error(refusal) from None
        mail = asyncio.create_task(self._mail_loop())
        store = asyncio.create_task(self._store_loop())
        publish = asyncio.create_task(self._publish_loop())
        deadline = asyncio.create_task(self._watch_clocks())

        operator_cancelled = False
        try:
            await workflow.wait_condition(
                lambda: (
                    rules.is_final(self._claim) or workflow.info().is_continue_as_new_suggested()
                )
            )
        except asyncio.CancelledError:
            # A cancellation request from the Temporal UI or CLI: before this patch the
            # run ended at once, the claim still saying it was open.
            if not workflow.patched("operator-cancel"):
                raise
            operator_cancelled = rules.cancel_by_operator(self._claim, workflow.now())
        if not rules.is_final(self._claim):
            # Continue as new with the whole state; queued notifications and unstored
            # history go along, and so do the clock moments already passed.
            self._pausing = True
            deadline.cancel()
            await asyncio.gather(mail, store, publish)
            await workflow.wait_condition(workflow.all_handlers_finished)
            carried = CarriedClaim(claim=self._claim, stored=self._stored, release=RELEASE)
            workflow.continue_as_new(claim_input.model_copy(update={"carried": carried}))

        await workflow.wait_condition(workflow.all_handlers_finished)
        self._closing = True
        await mail
        self._mail_drained = True
        await asyncio.gather(store, publish)
        if operator_cancelled:
            # Told, recorded and stored like any cancellation; the run itself ends as
            # cancelled too, so Temporal (and its UI) show what the operator asked for.
            raise asyncio.CancelledError(rules.OPERATOR_CANCEL_REASON)
        return self._view()

    async def _watch_clocks(self) -> None:
        """Sleep until the next clock moment and act on it, for as long as the claim runs.

        A run of an earlier release (see `RELEASE`) gets exactly the timers its code
        issued (one per reminder, cancelled when the claim leaves `in_progress`), so its
        history replays; a run of this release leaves a timer it no longer needs to fire
        unheeded instead of cancelling it, which costs nothing while the claim is short
        (the event budget of docs/performance.md) and one wake-up if it is still open."""
        while not rules.is_final(self._claim):
            clock = rules.next_clock(self._claim)
            if clock is None:
                await workflow.wait_condition(
                    lambda: rules.next_clock(self._claim) is not None or rules.is_final(self._claim)
                )
                continue
            if clock.at > workflow.now():
                await self._sleep_until(clock)
            elif self._missed_between_runs(clock):
                self._claim.clocks_passed.append(clock.key)
                continue
            if rules.next_clock(self._claim) == clock and clock.at <= workflow.now():
                rules.reach_clock(self._claim, clock, workflow.now())

    async def _sleep_until(self, clock: rules.Clock) -> None:
        """A durable timer for `clock`; returns when it fires or the next moment changed."""
        timer = self._timers.get(clock.key)
        if timer is None:
            delay = clock.at - workflow.now()
            timer = asyncio.create_task(workflow.sleep(delay, summary=clock.summary))
            self._timers[clock.key] = timer
        try:
            await workflow.wait_condition(
                lambda: timer.done() or rules.next_clock(self._claim) != clock
            )
        finally:
            if not timer.done() and not self._leaves_timers():
                timer.cancel()
            if timer.done() or timer.cancelled():
                self._timers.pop(clock.key, None)

    def _leaves_timers(self) -> bool:
        """Whether this run leaves timers it no longer needs (this release), or cancels
        them as runs of earlier releases did."""
        return (self._release or 0) >= RELEASE

    def _missed_between_runs(self, clock: rules.Clock) -> bool:
        """A reminder that fell due before this continued run started: earlier releases
        skipped it (and their histories must replay so); this one sends it late, once."""
        if self._summary_line is None or clock.kind not in ("deadline_reminder", "reply_reminder"):
            return False
        if clock.at > self._run_started or self._leaves_timers():
            return False
        return not workflow.patched(CARRIED_CLOCKS_PATCH)

    def _switch_on(self, clock: str) -> None:
        """Switch on an after-submission clock before the change that needs it. A run of
        this release has them from its start; a run of an earlier release asks its patch
        (PATCHES) the first time: a replay of its old history says no (and the claim goes
        on as before), a change made after the deploy says yes."""
        if clock in self._claim.clocks or clock in self._clocks_declined:
            return
        if self._leaves_timers() or workflow.patched(PATCHES[clock]):
            self._claim.clocks.append(clock)
        else:
            self._clocks_declined.add(clock)

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
            write = StoreClaim(view=view, since_seq=self._stored, release=RELEASE)
            outcome = await workflow.execute_local_activity(
                "store_claim",  # ClaimActivities.store_claim
                write,
                # Earlier releases' writes returned a bare row count: their histories
                # still replay, and say that an earlier release started the run.
                result_type=cast(type, StoreReceipt | int),
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=STORE_RETRY,
                summary="store: claim read model",
            )
            if self._release is None:
                self._release = outcome.release or 1 if isinstance(outcome, StoreReceipt) else 1
            self._stored = len(view.history)

    async def _publish_loop(self) -> None:
        """Keep search attributes and current details in step with every change."""
        while True:
            self._publish()
            await workflow.wait_condition(
                lambda: (
                    self._published_version < len(self._claim.history)
                    or self._mail_news_published < self._mail_news
                    or self._mail_drained
                    or self._pausing
                )
            )
            if self._pausing or (
                self._published_version >= len(self._claim.history)
                and self._mail_news_published >= self._mail_news
            ):
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
            pending_notifications=self._pending_notifications(),
        )
        updates = changed_attributes(self._published, attributes)
        if updates:
            workflow.upsert_search_attributes(updates)
            self._published = attributes
        details = operator_text.current_details(claim, now)
        if self._summary_line is not None:
            details = f"**{self._summary_line}**  \n{details}"
        workflow.set_current_details(details)
        self._count_status_change()
        self._published_version = len(claim.history)
        self._mail_news_published = self._mail_news

    def _pending_notifications(self) -> int | None:
        """`PendingNotifications` once mail has waited in this run (None: not shown)."""
        pending = rules.pending_notifications(self._claim)
        self._pending_shown = self._pending_shown or pending > 0
        return pending if self._pending_shown else None

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
            try:
                with tracing.continuing(notification.trace_context):
                    report = await workflow.execute_activity_method(
                        ClaimActivities.send_notification,
                        notification,
                        start_to_close_timeout=timedelta(minutes=2),
                        heartbeat_timeout=ACTIVITY_HEARTBEAT_TIMEOUT,
                        retry_policy=MAIL_RETRY,
                        summary=operator_text.notification_summary(notification),
                    )
            except ActivityError as err:
                failed = _unbuildable(err)
                if failed is None or not workflow.patched(NOTIFICATION_FAILED_PATCH):
                    raise
                self._claim.outbox.pop(0)  # recorded, not retried: the queue moves on
                self._mail_moved_on()
                reason, error = failed
                failures.record_notification_failed(
                    self._claim, notification, reason, error, workflow.now()
                )
                continue
            self._claim.outbox.pop(0)
            self._mail_moved_on()
            if report.refused:
                rules.record_undeliverable(
                    self._claim, notification, report.refused, workflow.now()
                )

    def _mail_moved_on(self) -> None:
        if rules.mail_sent(self._claim):
            self._mail_news += 1

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
        # Not a command: what an update answers is not replayed, so no patch is needed.
        return bounds.compact(self._view())

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
        self._check(bounds.check_send_survey, msg)

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
        self._check(bounds.check_add_comment, msg)

    @workflow.update
    def submit(self, msg: Submit) -> ClaimView:
        self._switch_on("review_clock")
        return self._apply(rules.submit, msg)

    @submit.validator
    def _validate_submit(self, msg: Submit) -> None:
        self._check(rules.check_submit, msg)

    @workflow.update
    def cancel(self, msg: Cancel) -> ClaimView:
        """Withdraw a claim started by mistake; the workflow ends."""
        return self._apply(rules.cancel, msg)

    @cancel.validator
    def _validate_cancel(self, msg: Cancel) -> None:
        self._check(rules.check_cancel, msg)

    @workflow.update
    def respond_info(self, msg: RespondInfo) -> ClaimView:
        """Answer the program's open question (then submit again)."""
        return self._apply(rules.respond_info, msg)

    @respond_info.validator
    def _validate_respond_info(self, msg: RespondInfo) -> None:
        self._check(rules.check_respond_info, msg)

    @workflow.update
    def dispute(self, msg: Dispute) -> ClaimView:
        """Contest a rejection within the dispute window; the review desk is mailed."""
        self._switch_on("review_clock")
        return self._apply(rules.dispute, msg)

    @dispute.validator
    def _validate_dispute(self, msg: Dispute) -> None:
        self._check(rules.check_dispute, msg)

    # --- reviewer updates -------------------------------------------------------------

    @workflow.update
    def request_info(self, msg: RequestInfo) -> ClaimView:
        self._switch_on("reply_window")
        return self._apply(rules.request_info, msg)

    @request_info.validator
    def _validate_request_info(self, msg: RequestInfo) -> None:
        self._check(bounds.check_request_info, msg)

    @workflow.update
    def approve(self, msg: Approve) -> ClaimView:
        return self._apply(rules.approve, msg)

    @approve.validator
    def _validate_approve(self, msg: Approve) -> None:
        self._check(rules.check_approve, msg)

    @workflow.update
    def reject(self, msg: Reject) -> ClaimView:
        self._switch_on("dispute_window")
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
        self._switch_on("review_clock")
        rules.submit(self._claim, msg, now)

    @workflow.signal
    def survey_completed(self, msg: SurveyCompleted) -> None:
        rules.complete_survey(self._claim, msg, workflow.now())

    @workflow.signal
    def payment_issued(self, msg: PaymentIssued) -> None:
        rules.issue_payment(self._claim, msg, workflow.now())
        payment_holds.release_hold(self._claim)

    @workflow.signal
    def payment_held(self, msg: PaymentHeld) -> None:
        """The payment cycle could not pay the approved claim: say so, tell the partner once."""
        payment_holds.hold_payment(self._claim, msg, workflow.now())

    @workflow.signal
    def mail_retrying(self, msg: MailRetrying) -> None:
        """From the mail activity: its send failed an attempt and is retried."""
        if rules.note_mail_retrying(self._claim, msg):
            self._mail_news += 1

    # --- operators ---------------------------------------------------------------------

    @workflow.update
    def resend_notification(self, msg: ResendNotification) -> ClaimView:
        """The claim's last notification of a kind, again, to the current contacts."""
        return self._apply(rules.resend_notification, msg)

    @resend_notification.validator
    def _validate_resend_notification(self, msg: ResendNotification) -> None:
        self._check(rules.check_resend_notification, msg)
