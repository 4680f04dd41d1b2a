"""Surveys: send one by e-mail, or open the partner survey directly."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from fastapi.routing import APIRouter

from activities.links import SurveyLinkRef
from portal.context import PortalDep
from portal.deps import CallerDep
from portal.deps import EngagementId
from portal.deps import UpdateId
from portal.deps import caller_message
from portal.privacy import as_seen_by
from portal.problems import SURVEY_SEND_PROBLEMS
from portal.problems import claim_change
from portal.routes import API_PREFIX
from portal.schemas import EmptyBody
from portal.schemas import SurveyLinkOut
from workflows.messages import ClaimView
from workflows.messages import SendSurvey
from workflows.messages import SurveyKind

router = APIRouter(prefix=API_PREFIX)


@router.post(
    "/claims/{engagement_id}/surveys/{kind}/send",
    **{
        **claim_change("surveys", "E-mail a survey (first send or re-send)"),
        "responses": SURVEY_SEND_PROBLEMS,
    },
)
async def send_survey(
    engagement_id: EngagementId,
    kind: SurveyKind,
    caller: CallerDep,
    portal: PortalDep,
    update_id: UpdateId,
    body: Annotated[EmptyBody | None, Body()] = None,
) -> ClaimView:
    """Mails the survey link: the partner survey to every partner contact, the customer
    survey to the customer contact. A re-send carries the same link, at most once per
    10 minutes (429 TooManyRequests with Retry-After); after a contact change (a new
    link) it is never held back."""
    msg = caller_message("send_survey", caller, SendSurvey, kind=kind, channel="email")
    view = await portal.claims.send_survey(engagement_id, msg, update_id=update_id)
    return as_seen_by(caller, view)


@router.post(
    "/claims/{engagement_id}/surveys/partner/link",
    **{
        **claim_change("surveys", "Open the partner survey directly (no e-mail)"),
        "response_model": SurveyLinkOut,
    },
)
async def partner_survey_link(
    engagement_id: EngagementId,
    caller: CallerDep,
    portal: PortalDep,
    update_id: UpdateId,
    body: Annotated[EmptyBody | None, Body()] = None,
) -> SurveyLinkOut:
    """Issues the partner survey (`send_survey` with `channel: "direct"`, nothing mailed)
    and answers its link, the same one the e-mail would carry."""
    msg = caller_message("send_survey", caller, SendSurvey, kind="partner", channel="direct")
    view = await portal.claims.send_survey(engagement_id, msg, update_id=update_id)
    ref = SurveyLinkRef(engagement_id, "partner", view.proof.partner_survey.link_version)
    return SurveyLinkOut(url=portal.links.url(ref))
