"""ClaimsClient: the typed way for a Python portal backend to drive claims.

One method per message of the contract, plus `complete_survey` for the
survey pages. Every refusal, of a start, an update or a signal, whether the
workflow's validator made it or the claim is already over, surfaces as
:class:`ClaimRefused` (`type`, `message`, `details`, and `cause`, the
`ApplicationError` of the refusal type). A refused *update* raises
:class:`ClaimUpdateRefused`, which is both a `ClaimRefused` and Temporal's
`WorkflowUpdateFailedError`, so callers that know Temporal get what they expect.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any
from typing import Self
from typing import TypeVar

from pydantic import BaseModel
from pydantic import ValidationError
from temporalio.client import Client
from temporalio.client import WorkflowExecutionStatus
from temporalio.client import WorkflowFailureError
from temporalio.client import WorkflowHandle
from temporalio.client import WorkflowQueryRejectedError
from temporalio.client import WorkflowUpdateFailedError
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import QueryRejectCondition
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.service import RPCStatusCode

from activities.links import InvalidSurveyLink
from activities.links import SurveyLinkRef
from activities.links import SurveyLinks
from starter.settings import DEFAULT_TASK_QUEUE
from workflows import operator_text
from workflows.claim import ClaimRun
from workflows.claim import WorkshopClaimWorkflow

# Re-exported: callers name a claim's workflow through the client.
from workflows.ids import WORKFLOW_ID_PREFIX as WORKFLOW_ID_PREFIX
from workflows.ids import workflow_id as workflow_id
from workflows.messages import Actor
from workflows.messages import AddComment
from workflows.messages import Approve
from workflows.messages import AttachDocument
from workflows.messages import Cancel
from workflows.messages import ClaimInput
from workflows.messages import ClaimView
from workflows.messages import Dispute
from workflows.messages import PaymentIssued
from workflows.messages import RefusalType
from workflows.messages import Reject
from workflows.messages import RequestInfo
from workflows.messages import ResendNotification
from workflows.messages import RespondInfo
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyCompleted
from workflows.messages import SurveyKind
from workflows.messages import UpdateContacts
from workflows.messages import describe_validation_error
from workflows.rules import FINAL
from workflows.rules import Refusal
from workflows.rules import check_start
from workflows.rules import check_tenancy
from workflows.rules import closed_claim_refusal
from workflows.rules import survey_answer_refusal
from workflows.search_attributes import CLAIM_DEADLINE
from workflows.search_attributes import CLAIM_STATUS
from workflows.search_attributes import CLAIM_STATUS_SINCE
from workflows.search_attributes import CUSTOMER_ID
from workflows.search_attributes import MISSING_ITEMS
from workflows.search_attributes import PARTNER_ID
from workflows.texts import ENDED_FROM_OUTSIDE

TRANSIENT_RPC_STATUSES = frozenset(
    {
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.RESOURCE_EXHAUSTED,
        RPCStatusCode.CANCELLED,
    }
)
"""Temporal answers that mean "not now" rather than "no": worth the same call again later."""

RPC_TIMEOUT = timedelta(seconds=10)
"""How long any one call to Temporal may take, retries included: a stuck worker or server
makes a call fail (a portal answers 503), never hang."""

SURVEY_ANSWER_WAIT = timedelta(seconds=10)
"""How long survey answers wait for the claim's answer before going by signal instead:
a respondent is never left waiting on a page while no worker runs."""

MessageT = TypeVar("MessageT", bound=BaseModel)


def ended_from_outside(view: ClaimView, closed: WorkflowQueryRejectedError) -> ClaimView:
    """A closed claim's view, saying `terminated` if Temporal ended it from outside."""
    reason = ENDED_FROM_OUTSIDE.get(closed.status.name) if closed.status else None
    if reason is None or view.status in FINAL:
        return view
    return view.model_copy(
        update={"status": "terminated", "status_reason": reason, "allowed_actions": []}
    )


class ClaimNotFound(LookupError):
    """No claim was ever started for this engagement (or it is past retention)."""


class ClaimAlreadyFinished(Exception):
    """The engagement's claim is over; an engagement is claimed once."""

    def __init__(self, engagement_id: str, view: ClaimView | None) -> None:
        status = view.status if view else "finished"
        super().__init__(f"the claim for engagement {engagement_id} is already {status}")
        self.view = view


class ClaimRefused(Exception):
    """A refused start, update or signal; `type`, `message` and `details` are the refusal's."""

    def __init__(self, cause: ApplicationError) -> None:
        super().__init__(cause)
        self._application_error = cause
        self.type: str = cause.type or "InvalidInput"
        self.message: str = cause.message
        self.details: list[Any] = list(cause.details)

    @classmethod
    def of(cls, type: RefusalType, message: str, details: list[str] | None = None) -> Self:
        return cls(ApplicationError(message, *(details or []), type=type, non_retryable=True))

    @classmethod
    def of_rules(cls, refusal: Refusal) -> Self:
        """The rules' own refusal (workflows.rules), as callers receive it."""
        return cls.of(refusal.type, refusal.message, refusal.details)

    @property
    def cause(self) -> ApplicationError:
        return self._application_error

    def __str__(self) -> str:
        return f"{self.type}: {self.message}"


class ClaimUpdateRefused(ClaimRefused, WorkflowUpdateFailedError):
    """A refused update: a `ClaimRefused` that is also Temporal's update failure."""

    def __init__(self, cause: ApplicationError) -> None:
        ClaimRefused.__init__(self, cause)
        WorkflowUpdateFailedError.__init__(self, cause)


class SurveyAnswersQueued(Exception):
    """The claim did not answer in time (no worker polling): the answers went by the
    `survey_completed` signal instead, and are recorded when a worker takes them up, or
    recorded as ignored, with why, if the link no longer counts by then."""


class SurveyLinkExpired(Exception):
    """A genuine survey link that no longer works (contact changed, done, or claim over)."""

    def __init__(self, reason: str, view: ClaimView) -> None:
        super().__init__(reason)
        self.reason = reason
        self.view = view


@dataclass(frozen=True)
class ClaimSummary:
    """A claim as the visibility store lists it (its search attributes)."""

    engagement_id: str
    status: str | None
    partner_id: str | None
    customer_id: str | None
    deadline: datetime | None
    missing: list[str]
    status_since: datetime | None
    execution_status: str


@dataclass(frozen=True)
class StartedClaim:
    view: ClaimView
    created: bool
    """False when the engagement already had a running claim, which is returned instead."""


class ClaimsClient:
    """Typed access to claim workflows through a Temporal client."""

    def __init__(
        self,
        client: Client,
        *,
        task_queue: str = DEFAULT_TASK_QUEUE,
        links: SurveyLinks | None = None,
        survey_answer_wait: timedelta = SURVEY_ANSWER_WAIT,
        rpc_timeout: timedelta = RPC_TIMEOUT,
    ) -> None:
        self.client = client
        self.rpc_timeout = rpc_timeout
        self.task_queue = task_queue
        self._links = links
        self.survey_answer_wait = survey_answer_wait

    def handle(self, engagement_id: str) -> WorkflowHandle[WorkshopClaimWorkflow, ClaimView]:
        return self.client.get_workflow_handle_for(
            WorkshopClaimWorkflow.run, workflow_id(engagement_id)
        )

    # --- starting and reading -----------------------------------------------------------

    async def start_claim(self, claim: ClaimInput | Mapping[str, Any]) -> StartedClaim:
        """Start the engagement's claim, or return the one already running.

        Raises :class:`ClaimRefused` for bad input or a role that can't start
        claims, and :class:`ClaimAlreadyFinished` when the engagement's claim is over.
        """
        claim_input = parse_message(ClaimInput, claim)
        try:
            check_start(claim_input)
        except Refusal as refusal:
            raise ClaimRefused.of_rules(refusal) from None
        try:
            handle = await self.client.start_workflow(
                WorkshopClaimWorkflow.run,
                ClaimRun.model_validate(claim_input.model_dump()),
                id=workflow_id(claim_input.engagement_id),
                task_queue=self.task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=operator_text.static_summary(claim_input),
                static_details=operator_text.static_details(claim_input),
                rpc_timeout=self.rpc_timeout,
            )
            created = True
        except WorkflowAlreadyStartedError:
            handle = self.handle(claim_input.engagement_id)
            description = await handle.describe(rpc_timeout=self.rpc_timeout)
            if description.status != WorkflowExecutionStatus.RUNNING:
                raise ClaimAlreadyFinished(
                    claim_input.engagement_id, await self._final_view(handle)
                ) from None
            created = False
        view = await handle.query(WorkshopClaimWorkflow.get_claim, rpc_timeout=self.rpc_timeout)
        if created:
            await self._raise_if_refused(handle)
        return StartedClaim(view=view, created=created)

    async def _raise_if_refused(self, handle: WorkflowHandle[Any, ClaimView]) -> None:
        """A start the claim refused on its own clock (a consent moment in the future): the
        workflow failed at once with the refusal, which the caller gets as ClaimRefused."""
        if (await handle.describe(rpc_timeout=self.rpc_timeout)).status != (
            WorkflowExecutionStatus.FAILED
        ):
            return
        try:
            await handle.result(rpc_timeout=self.rpc_timeout)
        except WorkflowFailureError as err:
            if isinstance(err.cause, ApplicationError):
                raise ClaimRefused(err.cause) from None
            raise

    async def get_claim(self, engagement_id: str) -> ClaimView:
        """The claim's view; a claim terminated (or timed out) in Temporal, which its own
        view can't know, says `terminated` and allows nothing."""
        handle = self.handle(engagement_id)
        try:
            return await handle.query(
                WorkshopClaimWorkflow.get_claim,
                reject_condition=QueryRejectCondition.NOT_OPEN,
                rpc_timeout=self.rpc_timeout,
            )
        except WorkflowQueryRejectedError as closed:
            view = await handle.query(WorkshopClaimWorkflow.get_claim, rpc_timeout=self.rpc_timeout)
            return ended_from_outside(view, closed)
        except RPCError as err:
            if _no_such_workflow(err):
                raise ClaimNotFound(engagement_id) from None
            raise

    async def find_claims(self, query: str, limit: int = 1000) -> list[ClaimSummary]:
        """Claims matching a visibility query (see starter.queries), newest first."""
        found = []
        async for execution in self.client.list_workflows(
            query, limit=limit, rpc_timeout=self.rpc_timeout
        ):
            attributes = execution.typed_search_attributes
            found.append(
                ClaimSummary(
                    engagement_id=execution.id.removeprefix(WORKFLOW_ID_PREFIX),
                    status=(
                        "terminated"
                        if execution.status and execution.status.name in ENDED_FROM_OUTSIDE
                        else attributes.get(CLAIM_STATUS)
                    ),
                    partner_id=attributes.get(PARTNER_ID),
                    customer_id=attributes.get(CUSTOMER_ID),
                    deadline=attributes.get(CLAIM_DEADLINE),
                    missing=list(attributes.get(MISSING_ITEMS) or []),
                    status_since=attributes.get(CLAIM_STATUS_SINCE),
                    execution_status=execution.status.name if execution.status else "UNKNOWN",
                )
            )
        return found

    # --- partner and reviewer actions ---------------------------------------------------
    # Each takes an optional `update_id`, the idempotency key of the change: the same id
    # sent again (a retried request) attaches to the first update and gets its answer.

    async def attach_document(
        self, engagement_id: str, msg: AttachDocument, *, update_id: str | None = None
    ) -> ClaimView:
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.attach_document, msg, update_id=update_id
        )

    async def send_survey(
        self, engagement_id: str, msg: SendSurvey, *, update_id: str | None = None
    ) -> ClaimView:
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.send_survey, msg, update_id=update_id
        )

    async def update_contacts(
        self, engagement_id: str, msg: UpdateContacts, *, update_id: str | None = None
    ) -> ClaimView:
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.update_contacts, msg, update_id=update_id
        )

    async def add_comment(
        self, engagement_id: str, msg: AddComment, *, update_id: str | None = None
    ) -> ClaimView:
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.add_comment, msg, update_id=update_id
        )

    async def submit(
        self, engagement_id: str, msg: Submit, *, update_id: str | None = None
    ) -> ClaimView:
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.submit, msg, update_id=update_id
        )

    async def cancel(
        self, engagement_id: str, msg: Cancel, *, update_id: str | None = None
    ) -> ClaimView:
        """Withdraw a claim before submission; the returned view is its last (cancelled)."""
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.cancel, msg, update_id=update_id
        )

    async def respond_info(
        self, engagement_id: str, msg: RespondInfo, *, update_id: str | None = None
    ) -> ClaimView:
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.respond_info, msg, update_id=update_id
        )

    async def dispute(
        self, engagement_id: str, msg: Dispute, *, update_id: str | None = None
    ) -> ClaimView:
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.dispute, msg, update_id=update_id
        )

    async def resend_notification(
        self, engagement_id: str, msg: ResendNotification, *, update_id: str | None = None
    ) -> ClaimView:
        """An operator's: the claim's last notification of a kind, again, to the current
        contacts (after a contact whose mail was refused is fixed)."""
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.resend_notification, msg, update_id=update_id
        )

    async def request_info(
        self, engagement_id: str, msg: RequestInfo, *, update_id: str | None = None
    ) -> ClaimView:
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.request_info, msg, update_id=update_id
        )

    async def approve(
        self, engagement_id: str, msg: Approve, *, update_id: str | None = None
    ) -> ClaimView:
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.approve, msg, update_id=update_id
        )

    async def reject(
        self, engagement_id: str, msg: Reject, *, update_id: str | None = None
    ) -> ClaimView:
        return await self._update(
            engagement_id, WorkshopClaimWorkflow.reject, msg, update_id=update_id
        )

    # --- signals --------------------------------------------------------------------------

    async def submit_signal(self, engagement_id: str, msg: Submit) -> None:
        """Submit by signal: the rules' refusal lands in `history`, not here (only a claim
        that is over or unknown raises, as for any message)."""
        await self._signal(engagement_id, WorkshopClaimWorkflow.submit_signal, msg)

    async def survey_completed(self, engagement_id: str, msg: SurveyCompleted) -> None:
        await self._signal(engagement_id, WorkshopClaimWorkflow.survey_completed, msg)

    async def payment_issued(self, engagement_id: str, msg: PaymentIssued) -> None:
        await self._signal(engagement_id, WorkshopClaimWorkflow.payment_issued, msg)

    # --- survey links -----------------------------------------------------------------

    @property
    def links(self) -> SurveyLinks:
        if self._links is None:
            raise RuntimeError("this ClaimsClient was made without survey links (no secret key)")
        return self._links

    async def survey_link(self, engagement_id: str, kind: SurveyKind) -> str:
        """The current link of a survey: the same URL its e-mail carries."""
        view = await self.get_claim(engagement_id)
        version = getattr(view.proof, f"{kind}_survey").link_version
        return self.links.url(SurveyLinkRef(engagement_id, kind, version))

    async def open_survey(self, token: str) -> tuple[SurveyLinkRef, ClaimView]:
        """Check a survey token and that its link still works; return what it names.

        Raises :class:`InvalidSurveyLink` for a token we did not make and
        :class:`SurveyLinkExpired` for a genuine link that no longer works.
        """
        ref = self.links.verify(self.links.token_of(token))
        try:
            view = await self.get_claim(ref.engagement_id)
        except ClaimNotFound:
            raise InvalidSurveyLink("survey link names no claim") from None
        refusal = survey_answer_refusal(
            view.status,
            view.deadline_at,
            getattr(view.proof, f"{ref.kind}_survey"),
            ref.kind,
            ref.link_version,
            datetime.now(UTC),
        )
        if refusal is not None:
            raise SurveyLinkExpired(refusal.message, view)
        return ref, view

    async def complete_survey(
        self, link: str, respondent_email: str, answers: Mapping[str, str | int | float]
    ) -> ClaimView:
        """Record a respondent's answers through their survey link, given whole (the URL
        in the mail) or as its token (the `complete_survey`
        update: one round trip); returns the claim view once they are recorded.

        Raises :class:`InvalidSurveyLink` for a token we did not make or that names
        no claim, :class:`SurveyLinkExpired` when the link no longer counts (the claim
        refused the answers and recorded nothing), :class:`ClaimRefused` for answers
        that are not valid, and :class:`SurveyAnswersQueued` when the claim did not
        answer within `survey_answer_wait` (the answers then went by signal).
        """
        ref = self.links.verify(self.links.token_of(link))
        msg = parse_message(
            SurveyCompleted,
            {
                "kind": ref.kind,
                "link_version": ref.link_version,
                "respondent_email": respondent_email,
                "answers": answers,
            },
        )
        try:
            return await self._update(
                ref.engagement_id,
                WorkshopClaimWorkflow.complete_survey,
                msg,
                rpc_timeout=self.survey_answer_wait,
            )
        except WorkflowUpdateRPCTimeoutOrCancelledError:
            await self.survey_completed(ref.engagement_id, msg)
            raise SurveyAnswersQueued(
                "the claim did not answer in time; the answers were sent to be recorded"
            ) from None
        except ClaimNotFound:
            raise InvalidSurveyLink("survey link names no claim") from None
        except ClaimRefused as refused:
            if refused.type == "InvalidInput":
                raise
            view = await self._final_view(self.handle(ref.engagement_id))
            if view is None:
                raise
            raise SurveyLinkExpired(refused.message, view) from refused

    # --- plumbing -----------------------------------------------------------------------

    async def _update(
        self,
        engagement_id: str,
        update: Any,
        msg: Any,
        *,
        update_id: str | None = None,
        rpc_timeout: timedelta | None = None,
    ) -> ClaimView:
        """Send an update under one id, again with that id while the answer is "not now"
        (timeout, unavailable, not ready) and `rpc_timeout` (default: the client's) lasts:
        the server keeps updates by id, so a retry attaches to the first, never acts twice."""
        handle = self.handle(engagement_id)
        update_id = update_id or str(uuid.uuid4())
        budget = (rpc_timeout or self.rpc_timeout).total_seconds()
        deadline = time.monotonic() + budget
        pause = 0.2
        while True:
            remaining = deadline - time.monotonic()
            try:
                view: ClaimView = await handle.execute_update(
                    update, msg, id=update_id, rpc_timeout=timedelta(seconds=max(remaining, 0.1))
                )
                return view
            except WorkflowUpdateFailedError as err:
                if isinstance(err.cause, ApplicationError):
                    raise ClaimUpdateRefused(err.cause) from err
                raise
            except WorkflowUpdateRPCTimeoutOrCancelledError:
                if deadline - time.monotonic() < pause:
                    raise
            except RPCError as err:
                if err.status == RPCStatusCode.NOT_FOUND:
                    await self._raise_for_missing(
                        engagement_id, handle, actor=getattr(msg, "actor", None), is_update=True
                    )
                    raise
                if not update_may_retry(err) or deadline - time.monotonic() < pause:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)

    async def _signal(self, engagement_id: str, signal: Any, msg: Any) -> None:
        handle = self.handle(engagement_id)
        try:
            await handle.signal(signal, msg, rpc_timeout=self.rpc_timeout)
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            await self._raise_for_missing(engagement_id, handle)
            raise

    async def _raise_for_missing(
        self,
        engagement_id: str,
        handle: WorkflowHandle[Any, ClaimView],
        *,
        actor: Actor | None = None,
        is_update: bool = False,
    ) -> None:
        """An update or signal found no running claim: say whether it is over or unknown
        (to a partner's user, another partner's claim is unknown, as while it runs)."""
        try:
            await handle.describe(rpc_timeout=self.rpc_timeout)
        except RPCError as err:
            if _no_such_workflow(err):
                raise ClaimNotFound(engagement_id) from None
            raise
        view = await self._final_view(handle)
        refusal = closed_claim_refusal(
            view.status if view else None, view.deadline_at if view else None
        )
        if actor is not None and actor.partner_id is not None:
            # A partner's user learns nothing of a claim they can't show is theirs.
            try:
                check_tenancy(engagement_id, view.partner.id if view else "", actor)
            except Refusal as not_theirs:
                refusal = not_theirs
        if is_update:
            raise ClaimUpdateRefused.of_rules(refusal)
        raise ClaimRefused.of_rules(refusal)

    async def _final_view(self, handle: WorkflowHandle[Any, ClaimView]) -> ClaimView | None:
        try:
            return await handle.query(WorkshopClaimWorkflow.get_claim, rpc_timeout=self.rpc_timeout)
        except RPCError:
            return None


def update_may_retry(err: RPCError) -> bool:
    """An update's RPC error that means "not now" (the update may still be sent again under
    its id): no answer in time, the frontend unreachable or busy, the workflow not ready."""
    if err.status == RPCStatusCode.FAILED_PRECONDITION:
        return "failed state" in err.message
    return err.status in TRANSIENT_RPC_STATUSES


def _no_such_workflow(err: RPCError) -> bool:
    """NOT_FOUND for the workflow, not for a misconfigured namespace."""
    return err.status == RPCStatusCode.NOT_FOUND and not err.message.lower().startswith("namespace")


def parse_message(model: type[MessageT], value: MessageT | Mapping[str, Any] | Any) -> MessageT:
    """Validate a message on the client side, refusing bad input as the workflow would."""
    if isinstance(value, model):
        return value
    try:
        return model.model_validate(value)
    except ValidationError as err:
        raise ClaimRefused.of("InvalidInput", describe_validation_error(err)) from None
