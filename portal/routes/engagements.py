"""Engagements: the program records them, partners list what they may claim, and the
customer's consent is asked by signed link (workflows/engagement_rules.py has the rules)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path as PathParam
from fastapi import Query
from fastapi import Response
from fastapi.routing import APIRouter

from activities.engagements import InvalidEngagementCursor
from portal.auth import Caller
from portal.context import Portal
from portal.context import PortalDep
from portal.deps import CallerDep
from portal.deps import PageCursor
from portal.deps import PageLimit
from portal.problems import checked_cursor
from portal.problems import created_or_found
from portal.problems import problems
from portal.problems import read
from portal.routes import API_PREFIX
from portal.schemas import RequestBody
from starter.client import ClaimNotFound
from starter.consent import consent_state
from starter.consent import start_consent_request
from workflows import engagement_rules
from workflows.engagements import Engagement
from workflows.engagements import EngagementDetail
from workflows.engagements import EngagementFields
from workflows.engagements import EngagementList
from workflows.messages import IDENTIFIER_PATTERN
from workflows.rules import Refusal

router = APIRouter(prefix=API_PREFIX)

EngagementPath = Annotated[
    str, PathParam(pattern=IDENTIFIER_PATTERN, description="the engagement's id")
]


class EngagementBody(RequestBody, EngagementFields):
    """What the program records of an engagement."""


async def detail(portal: Portal, engagement: Engagement) -> EngagementDetail:
    statuses = await portal.engagements.claim_statuses([engagement.engagement_id])
    return engagement_rules.detail_of(
        engagement,
        statuses.get(engagement.engagement_id),
        portal.catalogue,
        await portal.clock(),
    )


async def visible_engagement(portal: Portal, caller: Caller, engagement_id: str) -> Engagement:
    """The engagement if the caller may see it; 404 alike for unknown and another partner's."""
    engagement = await portal.engagements.get(engagement_id)
    return engagement_rules.check_sees_engagement(caller.actor, engagement, engagement_id)


async def claim_exists(portal: Portal, engagement_id: str) -> bool:
    """A claim for the engagement, in the read model or (not stored yet) live."""
    if await portal.engagements.has_claim(engagement_id):
        return True
    try:
        await portal.claims.get_claim(engagement_id)
    except ClaimNotFound:
        return False
    return True


@router.put(
    "/engagements/{engagement_id}",
    **created_or_found(
        EngagementDetail,
        "engagements",
        "Record an engagement (program administrators)",
        "recorded already, or changed",
        403,
        409,
    ),
)
async def put_engagement(
    engagement_id: EngagementPath,
    body: EngagementBody,
    caller: CallerDep,
    portal: PortalDep,
    response: Response,
) -> EngagementDetail:
    """201 when created, 200 when the same facts were recorded already (or changed while no
    claim runs on them); 409 when a claim exists and a fact would change."""
    engagement_rules.check_record_role(caller.role)
    now = await portal.clock()
    engagement_rules.check_engagement(body, portal.catalogue, now)
    outcome, engagement = await portal.engagements.record(
        engagement_id,
        body,
        caller.actor,
        now,
        claimed=lambda eid: claim_exists(portal, eid),
    )
    response.status_code = 201 if outcome == "created" else 200
    return await detail(portal, engagement)


@router.get(
    "/engagements/{engagement_id}", **read(EngagementDetail, "engagements", "One engagement", 404)
)
async def get_engagement(
    engagement_id: EngagementPath, caller: CallerDep, portal: PortalDep
) -> EngagementDetail:
    return await detail(portal, await visible_engagement(portal, caller, engagement_id))


@router.get(
    "/engagements",
    **read(
        EngagementList, "engagements", "List engagements (eligible: what the partner may claim now)"
    ),
)
async def list_engagements(
    caller: CallerDep,
    portal: PortalDep,
    eligible: Annotated[
        bool | None,
        Query(description="true: consented, unclaimed, deadline ahead; false: the others"),
    ] = None,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> EngagementList:
    """Partner keys see their own partner's engagements; reviewers and program admins all."""
    now = await portal.clock()
    with checked_cursor(InvalidEngagementCursor):
        page = await portal.engagements.list(
            partner_id=caller.partner_id, eligible=eligible, now=now, limit=limit, cursor=cursor
        )
    items = page.items(portal.catalogue, now)
    return EngagementList(items=items, next_cursor=page.next_cursor)


@router.post(
    "/engagements/{engagement_id}/consent-request",
    status_code=201,
    response_model=EngagementDetail,
    tags=["engagements"],
    summary="Ask the customer contact for consent by signed link",
    responses=problems(403, 404, 409),
)
async def request_consent(
    engagement_id: EngagementPath, caller: CallerDep, portal: PortalDep
) -> EngagementDetail:
    """Mails the customer contact a consent page (open 30 days, reminders 7 and 1 days
    before it lapses); the engagement's consent is `pending` until they answer."""
    engagement = await visible_engagement(portal, caller, engagement_id)
    pending = engagement.consent_status == "pending"
    latest = engagement.consent_requests
    request_open = pending and (
        await consent_state(portal.claims.client, engagement_id, latest) is not None
    )
    engagement_rules.check_request_consent(caller.actor, engagement, request_open)
    now = await portal.clock()
    # A pending request whose workflow never started is started now, under its number.
    request = (
        latest if pending else await portal.engagements.open_consent_request(engagement_id, now)
    )
    if request is None:  # another request got in first
        raise Refusal(
            "WrongState", f"engagement {engagement_id}: a consent request is already open"
        )
    workshop = portal.catalogue.get(engagement.workshop_type)
    await start_consent_request(
        portal.claims.client,
        portal.claims.task_queue,
        engagement,
        request,
        workshop,
        caller.actor,
        now,
    )
    updated = await portal.engagements.get(engagement_id)
    assert updated is not None
    return await detail(portal, updated)
