"""The program's review: ask for information, approve, reject."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from fastapi.routing import APIRouter

from portal.context import PortalDep
from portal.deps import CallerDep, EngagementId, UpdateId, caller_message
from portal.problems import claim_change
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
    **claim_change("review", "Ask the partner a question (reviewer)"),
)
async def request_info(
    engagement_id: EngagementId,
    body: RequestInfoBody,
    caller: CallerDep,
    portal: PortalDep,
    update_id: UpdateId,
) -> ClaimView:
    msg = caller_message("request_info", caller, RequestInfo, body)
    return await portal.claims.request_info(engagement_id, msg, update_id=update_id)


@router.post(
    "/claims/{engagement_id}/review/approve",
    **claim_change("review", "Approve the claim (reviewer)"),
)
async def approve(
    engagement_id: EngagementId,
    caller: CallerDep,
    portal: PortalDep,
    update_id: UpdateId,
    body: Annotated[ApproveBody | None, Body()] = None,
) -> ClaimView:
    msg = caller_message("approve", caller, Approve, body)
    return await portal.claims.approve(engagement_id, msg, update_id=update_id)


@router.post(
    "/claims/{engagement_id}/review/reject",
    **claim_change("review", "Reject the claim (reviewer)"),
)
async def reject(
    engagement_id: EngagementId,
    body: RejectBody,
    caller: CallerDep,
    portal: PortalDep,
    update_id: UpdateId,
) -> ClaimView:
    msg = caller_message("reject", caller, Reject, body)
    return await portal.claims.reject(engagement_id, msg, update_id=update_id)
