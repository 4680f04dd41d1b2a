"""Claims: start, list, read, contacts, comments, submit."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body, Query, Response
from fastapi.routing import APIRouter
from pydantic import AwareDatetime

from activities.store import InvalidCursor
from portal.context import PortalDep
from portal.deps import CallerDep, EngagementId, caller_message, visible_claim
from portal.problems import ProblemError, claim_change, problems
from portal.routes import API_PREFIX
from portal.routes.engagements import claim_exists, visible_engagement
from portal.schemas import (
    ClaimEngagementBody,
    ClaimList,
    CommentBody,
    EmptyBody,
    UpdateContactsBody,
    summary_of,
)
from starter.client import (
    ClaimAlreadyFinished,
)
from workflows import engagement_rules
from workflows.messages import (
    IDENTIFIER_PATTERN,
    AddComment,
    ClaimInput,
    ClaimStatus,
    ClaimView,
    HistoryEntry,
    Submit,
    UpdateContacts,
)
from workflows.rules import Refusal, check_role

router = APIRouter(prefix=API_PREFIX)


@router.post(
    "/claims",
    status_code=201,
    response_model=ClaimView,
    tags=["claims"],
    summary="Claim a recorded engagement",
    responses={
        200: {"model": ClaimView, "description": "the engagement already had this running claim"},
        **problems(403, 404, 409, 410),
    },
)
async def start_claim(
    body: ClaimEngagementBody,
    caller: CallerDep,
    portal: PortalDep,
    response: Response,
) -> ClaimView:
    """Start the claim of an engagement the program recorded for the caller's partner (201),
    or return the claim already running for it (200).

    Partner, customer, workshop and consent come from the record; an unknown
    engagement and another partner's both answer 404; one whose 90 days have
    passed answers 410 and starts nothing; a finished claim's engagement can't be
    claimed again (409)."""
    check_role("start", caller.role)
    engagement = await visible_engagement(portal, caller, body.engagement_id)
    facts = engagement_rules.claim_facts(engagement, portal.catalogue)
    engagement_rules.check_repeated_facts(facts, body.model_dump(exclude_none=True))
    try:
        engagement_rules.check_claimable(body.engagement_id, facts, await portal.clock())
    except Refusal:
        if not await claim_exists(portal, body.engagement_id):
            raise
    claim_input = caller_message(
        "start",
        caller,
        ClaimInput,
        engagement_id=body.engagement_id,
        partner=facts.partner,
        customer=facts.customer,
        workshop=facts.workshop,
        workshop_type=facts.workshop_type,
        consent_at=facts.consent_at,
        partner_contacts=body.partner_contacts,
        customer_contact=body.customer_contact or engagement.customer_contact,
    )
    try:
        started = await portal.claims.start_claim(claim_input)
    except ClaimAlreadyFinished as err:
        raise ProblemError(409, "WrongState", str(err)) from None
    response.status_code = 201 if started.created else 200
    return started.view


@router.get(
    "/claims",
    response_model=ClaimList,
    tags=["claims"],
    summary="List the caller's claims",
    responses=problems(),
)
async def list_claims(
    caller: CallerDep,
    portal: PortalDep,
    status: Annotated[ClaimStatus | None, Query()] = None,
    deadline_before: Annotated[
        AwareDatetime | None, Query(description="only claims whose deadline is before this")
    ] = None,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ClaimList:
    """The caller's claims from the read model, newest first, a page at a time.

    Partner roles get their partner's claims, reviewers every claim."""
    try:
        page = await portal.store.list_claims(
            partner_id=caller.partner_id,
            status=status,
            deadline_before=deadline_before,
            customer_id=customer_id,
            limit=limit,
            cursor=cursor,
        )
    except InvalidCursor as err:
        raise ProblemError(422, "InvalidInput", f"cursor: {err}") from None
    return ClaimList(items=[summary_of(row) for row in page.rows], next_cursor=page.next_cursor)


@router.get(
    "/claims/{engagement_id}",
    response_model=ClaimView,
    tags=["claims"],
    summary="The claim view (live)",
    responses=problems(404),
)
async def get_claim(engagement_id: EngagementId, caller: CallerDep, portal: PortalDep) -> ClaimView:
    return await visible_claim(portal, caller, engagement_id)


@router.get(
    "/claims/{engagement_id}/history",
    response_model=list[HistoryEntry],
    tags=["claims"],
    summary="The claim's audit trail",
    responses=problems(404),
)
async def get_history(
    engagement_id: EngagementId, caller: CallerDep, portal: PortalDep
) -> list[HistoryEntry]:
    return (await visible_claim(portal, caller, engagement_id)).history


@router.put(
    "/claims/{engagement_id}/contacts",
    **claim_change("claims", "Change the partner contacts and/or the customer contact"),
)
async def update_contacts(
    engagement_id: EngagementId, body: UpdateContactsBody, caller: CallerDep, portal: PortalDep
) -> ClaimView:
    """A changed contact whose survey was sent but not completed invalidates that link."""
    msg = caller_message("update_contacts", caller, UpdateContacts, body)
    return await portal.claims.update_contacts(engagement_id, msg)


@router.post("/claims/{engagement_id}/comments", **claim_change("claims", "Add a comment"))
async def add_comment(
    engagement_id: EngagementId, body: CommentBody, caller: CallerDep, portal: PortalDep
) -> ClaimView:
    msg = caller_message("add_comment", caller, AddComment, body)
    return await portal.claims.add_comment(engagement_id, msg)


@router.post(
    "/claims/{engagement_id}/submit", **claim_change("claims", "Submit the claim for review")
)
async def submit(
    engagement_id: EngagementId,
    caller: CallerDep,
    portal: PortalDep,
    body: Annotated[EmptyBody | None, Body()] = None,
) -> ClaimView:
    """Needs all four proof items (409 Incomplete lists the missing ones)."""
    return await portal.claims.submit(engagement_id, caller_message("submit", caller, Submit))
