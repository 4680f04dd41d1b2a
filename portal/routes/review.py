"""The program's review: ask for information, approve, reject."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from fastapi.routing import APIRouter

from portal.deps import ClaimChangeDep
from portal.problems import claim_change
from portal.routes import API_PREFIX
from portal.schemas import ApproveBody
from portal.schemas import RejectBody
from portal.schemas import RequestInfoBody
from starter.client import ClaimsClient
from workflows.messages import Approve
from workflows.messages import ClaimView
from workflows.messages import Reject
from workflows.messages import RequestInfo

router = APIRouter(prefix=API_PREFIX)


@router.post(
    "/claims/{engagement_id}/review/request-info",
    **claim_change("review", "Ask the partner a question (reviewer)"),
)
async def request_info(change: ClaimChangeDep, body: RequestInfoBody) -> ClaimView:
    return await change.send(ClaimsClient.request_info, RequestInfo, body)


@router.post(
    "/claims/{engagement_id}/review/approve",
    **claim_change("review", "Approve the claim (reviewer)"),
)
async def approve(
    change: ClaimChangeDep, body: Annotated[ApproveBody | None, Body()] = None
) -> ClaimView:
    return await change.send(ClaimsClient.approve, Approve, body)


@router.post(
    "/claims/{engagement_id}/review/reject",
    **claim_change("review", "Reject the claim (reviewer)"),
)
async def reject(change: ClaimChangeDep, body: RejectBody) -> ClaimView:
    return await change.send(ClaimsClient.reject, Reject, body)
