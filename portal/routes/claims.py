"""Claims: start, list, read, contacts, comments, submit, cancel, answer, dispute."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Body
from fastapi import Response
from fastapi.routing import APIRouter

from activities.store import InvalidCursor
from portal.context import PortalDep
from portal.deps import CallerDep
from portal.deps import ClaimChangeDep
from portal.deps import EngagementId
from portal.deps import PageCursor
from portal.deps import PageLimit
from portal.deps import caller_message
from portal.deps import visible_claim
from portal.filters import ClaimFiltersDep
from portal.privacy import as_seen_by
from portal.problems import ProblemError
from portal.problems import checked_cursor
from portal.problems import claim_change
from portal.problems import created_or_found
from portal.problems import read
from portal.routes import API_PREFIX
from portal.routes.engagements import claim_exists
from portal.routes.engagements import visible_engagement
from portal.schemas import CancelBody
from portal.schemas import ClaimEngagementBody
from portal.schemas import ClaimList
from portal.schemas import CommentBody
from portal.schemas import DisputeBody
from portal.schemas import EmptyBody
from portal.schemas import InfoResponseBody
from portal.schemas import UpdateContactsBody
from portal.schemas import summary_of
from starter.client import ClaimAlreadyFinished
from starter.client import ClaimsClient
from workflows import engagement_rules
from workflows.messages import AddComment
from workflows.messages import Cancel
from workflows.messages import ClaimInput
from workflows.messages import ClaimView
from workflows.messages import Dispute
from workflows.messages import HistoryEntry
from workflows.messages import RespondInfo
from workflows.messages import Submit
from workflows.messages import UpdateContacts
from workflows.rules import Refusal
from workflows.rules import check_role

router = APIRouter(prefix=API_PREFIX)


@router.post(
    "/claims",
    **created_or_found(
        ClaimView,
        "claims",
        "Claim a recorded engagement",
        "the engagement already had this running claim",
        403,
        404,
        409,
        410,
        413,
    ),
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
        **dataclasses.asdict(facts),
        partner_contacts=body.partner_contacts,
        customer_contact=body.customer_contact or engagement.customer_contact,
    )
    try:
        started = await portal.claims.start_claim(claim_input)
    except ClaimAlreadyFinished as err:
        raise ProblemError(409, "WrongState", str(err)) from None
    response.status_code = 201 if started.created else 200
    return as_seen_by(caller, started.view)


@router.get("/claims", **read(ClaimList, "claims", "List the caller's claims"))
async def list_claims(
    caller: CallerDep,
    portal: PortalDep,
    filters: ClaimFiltersDep,
    limit: PageLimit = 50,
    cursor: PageCursor = None,
) -> ClaimList:
    """The caller's claims from the read model, newest first, a page at a time.

    Partner roles get their partner's claims, reviewers every claim."""
    with checked_cursor(InvalidCursor):
        page = await filters.page(portal, caller, limit, cursor)
    return ClaimList(items=[summary_of(row) for row in page.rows], next_cursor=page.next_cursor)


@router.get("/claims/{engagement_id}", **read(ClaimView, "claims", "The claim view (live)", 404))
async def get_claim(engagement_id: EngagementId, caller: CallerDep, portal: PortalDep) -> ClaimView:
    return await visible_claim(portal, caller, engagement_id)


@router.get(
    "/claims/{engagement_id}/history",
    **read(list[HistoryEntry], "claims", "The claim's audit trail", 404),
)
async def get_history(
    engagement_id: EngagementId, caller: CallerDep, portal: PortalDep
) -> list[HistoryEntry]:
    return (await visible_claim(portal, caller, engagement_id)).history


@router.put(
    "/claims/{engagement_id}/contacts",
    **claim_change("claims", "Change the partner contacts and/or the customer contact"),
)
async def update_contacts(change: ClaimChangeDep, body: UpdateContactsBody) -> ClaimView:
    """A changed contact whose survey was sent but not completed invalidates that link."""
    return await change.send(ClaimsClient.update_contacts, UpdateContacts, body)


@router.post("/claims/{engagement_id}/comments", **claim_change("claims", "Add a comment"))
async def add_comment(change: ClaimChangeDep, body: CommentBody) -> ClaimView:
    return await change.send(ClaimsClient.add_comment, AddComment, body)


@router.post(
    "/claims/{engagement_id}/submit", **claim_change("claims", "Submit the claim for review")
)
async def submit(
    change: ClaimChangeDep, body: Annotated[EmptyBody | None, Body()] = None
) -> ClaimView:
    """Needs all four proof items (409 Incomplete lists the missing ones)."""
    return await change.send(ClaimsClient.submit, Submit)


@router.post(
    "/claims/{engagement_id}/cancel",
    **claim_change("claims", "Cancel a claim started by mistake (before submission)"),
)
async def cancel(change: ClaimChangeDep, body: CancelBody) -> ClaimView:
    """Final: the partner contacts get a confirmation, and the engagement can't be claimed
    again (409 WrongState once submitted)."""
    return await change.send(ClaimsClient.cancel, Cancel, body)


@router.post(
    "/claims/{engagement_id}/info-response",
    **claim_change("claims", "Answer the program's open question"),
)
async def respond_info(change: ClaimChangeDep, body: InfoResponseBody) -> ClaimView:
    """While `info_requested`; then submit again (within the reply window)."""
    return await change.send(ClaimsClient.respond_info, RespondInfo, body)


@router.post(
    "/claims/{engagement_id}/dispute",
    **claim_change("claims", "Dispute the rejection (within the dispute window, once)"),
)
async def dispute(change: ClaimChangeDep, body: DisputeBody) -> ClaimView:
    """The review desk is mailed; a reviewer then approves or rejects for good."""
    return await change.send(ClaimsClient.dispute, Dispute, body)
