"""Consent requests from the client side: start one, read it, answer it.

The portal's consent route and consent page use these; one workflow per
request (`engagement-consent-<engagement_id>-<n>`, workflows/consent.py).
"""

from __future__ import annotations

from datetime import datetime

from temporalio.client import Client
from temporalio.client import WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from starter.client import ClaimRefused
from starter.client import _no_such_workflow
from workflows.consent import ConsentRequestWorkflow
from workflows.consent import consent_workflow_id
from workflows.engagements import ConsentAnswer
from workflows.engagements import ConsentDecision
from workflows.engagements import ConsentRequestInput
from workflows.engagements import ConsentState
from workflows.engagements import Engagement
from workflows.engagements import Workshop
from workflows.messages import Actor


async def start_consent_request(
    client: Client,
    task_queue: str,
    engagement: Engagement,
    request: int,
    workshop: Workshop | None,
    actor: Actor,
    now: datetime,
) -> None:
    """Start request number `request` of the engagement (a retry finds it started)."""
    name = workshop.name if workshop else engagement.workshop_type
    await client.start_workflow(
        ConsentRequestWorkflow.run,
        ConsentRequestInput(
            engagement_id=engagement.engagement_id,
            request=request,
            partner_name=engagement.partner.name,
            customer_name=engagement.customer.name,
            workshop=name,
            workshop_nl=workshop.display_name("nl") if workshop else name,
            contact=engagement.customer_contact,
            requested_by=actor,
            requested_at=now,
        ),
        id=consent_workflow_id(engagement.engagement_id, request),
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        static_summary=f"consent request {request} of engagement {engagement.engagement_id}",
    )


async def consent_state(client: Client, engagement_id: str, request: int) -> ConsentState | None:
    """Where the request stands, or None if there is no such request."""
    handle = client.get_workflow_handle_for(
        ConsentRequestWorkflow.run, consent_workflow_id(engagement_id, request)
    )
    try:
        return await handle.query(ConsentRequestWorkflow.get_state)
    except RPCError as err:
        if _no_such_workflow(err):
            return None
        raise


async def answer_consent(
    client: Client, engagement_id: str, request: int, decision: ConsentDecision
) -> ConsentState:
    """The customer's answer; ClaimRefused (WrongState, DeadlinePassed) when it no longer counts."""
    handle = client.get_workflow_handle_for(
        ConsentRequestWorkflow.run, consent_workflow_id(engagement_id, request)
    )
    try:
        return await handle.execute_update(
            ConsentRequestWorkflow.answer, ConsentAnswer(decision=decision)
        )
    except WorkflowUpdateFailedError as err:
        if isinstance(err.cause, ApplicationError):
            raise ClaimRefused(err.cause) from None
        raise
    except RPCError as err:
        if _no_such_workflow(err):
            raise ClaimRefused.of("WrongState", "this consent request is over") from None
        raise
