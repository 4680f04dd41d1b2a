"""Surveys: send one by e-mail, or open the partner survey directly."""

from __future__ import annotations

from typing import Annotated

from fastapi import Body
from fastapi.routing import APIRouter

from activities.links import SurveyLinkRef
from portal.context import PortalDep
from portal.deps import CallerDep, EngagementId
from portal.problems import CLAIM_ACTION_PROBLEMS
from portal.routes import API_PREFIX
from portal.schemas import (
    EmptyBody,
    SurveyLinkOut,
)
from workflows.messages import (
    ClaimView,
    SendSurvey,
    SurveyKind,
)
from workflows.rules import check_role

router = APIRouter(prefix=API_PREFIX)


@router.post(
    "/claims/{engagement_id}/surveys/{kind}/send",
    response_model=ClaimView,
    tags=["surveys"],
    summary="E-mail a survey (first send or re-send)",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def send_survey(
    engagement_id: EngagementId,
    kind: SurveyKind,
    caller: CallerDep,
    portal: PortalDep,
    body: Annotated[EmptyBody | None, Body()] = None,
) -> ClaimView:
    """Mails the survey link: the partner survey to every partner contact, the customer
    survey to the customer contact. A re-send carries the same link."""
    check_role("send_survey", caller.role)
    return await portal.claims.send_survey(
        engagement_id, SendSurvey(kind=kind, channel="email", actor=caller.actor)
    )


@router.post(
    "/claims/{engagement_id}/surveys/partner/link",
    response_model=SurveyLinkOut,
    tags=["surveys"],
    summary="Open the partner survey directly (no e-mail)",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def partner_survey_link(
    engagement_id: EngagementId,
    caller: CallerDep,
    portal: PortalDep,
    body: Annotated[EmptyBody | None, Body()] = None,
) -> SurveyLinkOut:
    """Issues the partner survey (`send_survey` with `channel: "direct"`, nothing mailed)
    and answers its link, the same one the e-mail would carry."""
    check_role("send_survey", caller.role)
    view = await portal.claims.send_survey(
        engagement_id, SendSurvey(kind="partner", channel="direct", actor=caller.actor)
    )
    ref = SurveyLinkRef(engagement_id, "partner", view.proof.partner_survey.link_version)
    return SurveyLinkOut(url=portal.links.url(ref))
