"""The program's review: ask for information, approve, reject."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from fastapi.routing import APIRouter

from portal.context import PortalDep
from portal.deps import CallerDep, EngagementId
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
from workflows.rules import check_role

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
    caller: CallerDep,
    portal: PortalDep,
) -> ClaimView:
    check_role("request_info", caller.role)
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
    caller: CallerDep,
    portal: PortalDep,
    body: Annotated[ApproveBody | None, Body()] = None,
) -> ClaimView:
    check_role("approve", caller.role)
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
    caller: CallerDep,
    portal: PortalDep,
) -> ClaimView:
    check_role("reject", caller.role)
    return await portal.claims.reject(engagement_id, Reject(reason=body.reason, actor=caller.actor))
