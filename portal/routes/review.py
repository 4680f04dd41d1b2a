"""The program's review: ask for information, approve, reject."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Security
from fastapi.routing import APIRouter

from portal.auth import Caller
from portal.context import PortalDep
from portal.deps import EngagementId, allowed_to
from portal.problems import CLAIM_ACTION_PROBLEMS
from portal.routes import API_PREFIX
from portal.schemas import (
    ApproveBody,
    RejectBody,
    RequestInfoBody,
)
from workflows.messages import (
    Approve,
    ClaimView,
    Reject,
    RequestInfo,
)

router = APIRouter(prefix=API_PREFIX)


@router.post(
    "/claims/{engagement_id}/review/request-info",
    response_model=ClaimView,
    tags=["review"],
    summary="Ask the partner a question (reviewer)",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def request_info(
    engagement_id: EngagementId,
    body: RequestInfoBody,
    caller: Annotated[Caller, Security(allowed_to("request_info"))],
    portal: PortalDep,
) -> ClaimView:
    return await portal.claims.request_info(
        engagement_id, RequestInfo(question=body.question, actor=caller.actor)
    )


@router.post(
    "/claims/{engagement_id}/review/approve",
    response_model=ClaimView,
    tags=["review"],
    summary="Approve the claim (reviewer)",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def approve(
    engagement_id: EngagementId,
    caller: Annotated[Caller, Security(allowed_to("approve"))],
    portal: PortalDep,
    body: Annotated[ApproveBody | None, Body()] = None,
) -> ClaimView:
    note = body.note if body is not None else None
    return await portal.claims.approve(engagement_id, Approve(note=note, actor=caller.actor))


@router.post(
    "/claims/{engagement_id}/review/reject",
    response_model=ClaimView,
    tags=["review"],
    summary="Reject the claim (reviewer)",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def reject(
    engagement_id: EngagementId,
    body: RejectBody,
    caller: Annotated[Caller, Security(allowed_to("reject"))],
    portal: PortalDep,
) -> ClaimView:
    return await portal.claims.reject(engagement_id, Reject(reason=body.reason, actor=caller.actor))
