"""The survey pages a respondent opens from the mail: the form, and its answers."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Mapping
from urllib.parse import parse_qsl
from urllib.parse import urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRouter
from python_multipart.multipart import parse_options_header

from activities.links import InvalidSurveyLink
from activities.links import SurveyLinkRef
from portal.context import Portal
from portal.context import PortalDep
from portal.pages.render import PAGES
from portal.pages.render import requested_locale
from portal.pages.survey_texts import QUESTIONS
from portal.pages.survey_texts import RATING_VALUES
from portal.pages.survey_texts import TEXTS
from portal.pages.survey_texts import pick_locale
from portal.pages.survey_texts import validate_answers
from starter.client import SurveyAnswersQueued
from starter.client import SurveyLinkExpired
from workflows.messages import ClaimView
from workflows.messages import Contact
from workflows.messages import Locale
from workflows.messages import SurveyKind
from workflows.texts import status_words

MAX_SURVEY_FORM_BYTES = 64 * 1024


log = logging.getLogger("claims.api")


def _origin(url: str) -> str:
    """The origin (scheme, host, port) of a URL; "" for a malformed one, which matches none."""
    try:
        parts = urlsplit(url.strip().lower())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:  # an unclosed IPv6 bracket, a port that is no number or out of range
        return ""
    if port is None or (parts.scheme, port) in (("http", 80), ("https", 443)):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def form_token(secret_key: bytes, token: str) -> str:
    """The survey form's anti-forgery token: HMAC of the survey token, so only our form has it."""
    return hmac.new(secret_key, b"survey-form" + token.encode(), hashlib.sha256).hexdigest()


def _gone_page(view: ClaimView, ref: SurveyLinkRef, lang: Locale) -> HTMLResponse:
    """Why a genuine link no longer works: done, replaced by a newer link, or claim closed."""
    proof = getattr(view.proof, f"{ref.kind}_survey")
    if proof.status == "completed":
        body = "gone_completed"
    elif proof.link_version != ref.link_version or proof.status == "invalidated":
        body = "gone_invalidated"
    else:
        words = status_words(view.status, lang)
        return PAGES.message(
            "survey_gone.html.j2", 410, lang, "gone_title", "gone_closed", claim_status=words
        )
    return PAGES.message("survey_gone.html.j2", 410, lang, "gone_title", body)


def _respondents(view: ClaimView, kind: SurveyKind) -> list[Contact]:
    return list(view.partner_contacts) if kind == "partner" else [view.customer_contact]


def _form_page(
    portal: Portal,
    token: str,
    kind: SurveyKind,
    view: ClaimView,
    lang: Locale,
    *,
    status: int = 200,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> HTMLResponse:
    texts = TEXTS[lang]
    intro = texts[f"intro_{kind}"].format(
        workshop=view.workshop,
        customer=view.customer.name,
        partner=view.partner.name,
        engagement_id=view.engagement_id,
    )
    return PAGES.render(
        "survey_form.html.j2",
        status,
        lang,
        texts[f"title_{kind}"],
        intro=intro,
        questions=QUESTIONS[kind],
        ratings=RATING_VALUES,
        respondents=_respondents(view, kind),
        csrf_token=form_token(portal.secret_key, token),
        form=dict(form or {}),
        errors=dict(errors or {}),
    )


router = APIRouter(include_in_schema=False)


@router.get("/surveys/{token}", response_class=HTMLResponse)
async def survey_form(token: str, request: Request, portal: PortalDep) -> HTMLResponse:
    try:
        ref, view = await portal.claims.open_survey(token)
    except InvalidSurveyLink:
        lang = requested_locale(request)
        return PAGES.message(
            "survey_not_found.html.j2", 404, lang, "not_found_title", "not_found_body"
        )
    except SurveyLinkExpired as err:
        ref = portal.links.verify(token)
        lang = requested_locale(request, _respondents(err.view, ref.kind)[0].locale)
        return _gone_page(err.view, ref, lang)
    lang = requested_locale(request, _respondents(view, ref.kind)[0].locale)
    return _form_page(portal, token, ref.kind, view, lang)


async def _read_form(request: Request) -> dict[str, str] | None:
    """The url-encoded form, or None when it is larger than a survey form can be."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_SURVEY_FORM_BYTES:
            return None
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"),
            keep_blank_values=True,
            max_num_fields=50,
        )
    except ValueError:
        return None
    return dict(pairs)


@router.post("/surveys/{token}", response_class=HTMLResponse)
async def survey_answers(token: str, request: Request, portal: PortalDep) -> HTMLResponse:
    """Check the form (origin, anti-forgery token, every answer), then send the answers
    with the `complete_survey` update, whose answer says at once whether they were
    taken: a thank-you page, or why the link no longer counts. Two round trips: the
    claim's view (respondents, language) and the update."""
    try:
        ref = portal.links.verify(token)
    except InvalidSurveyLink:
        lang = requested_locale(request)
        return PAGES.message(
            "survey_not_found.html.j2", 404, lang, "not_found_title", "not_found_body"
        )
    lang = requested_locale(request)
    origin = request.headers.get("origin")
    if origin is not None and _origin(origin) != _origin(portal.public_url):
        log.warning("survey form posted from another origin %r", origin[:200])
        return PAGES.message("survey_refused.html.j2", 403, lang, "refused_title", "refused_body")
    media_type, _ = parse_options_header(request.headers.get("content-type", ""))
    if media_type != b"application/x-www-form-urlencoded":
        return PAGES.message("survey_refused.html.j2", 415, lang, "refused_title", "refused_body")
    form = await _read_form(request)
    if form is None:
        return PAGES.message(
            "survey_refused.html.j2", 413, lang, "too_large_title", "too_large_body"
        )
    asked = form.get("lang") or request.query_params.get("lang")
    lang = pick_locale(asked, lang)
    if not hmac.compare_digest(
        form.get("csrf_token", "").encode(), form_token(portal.secret_key, token).encode()
    ):
        return PAGES.message("survey_refused.html.j2", 403, lang, "refused_title", "refused_body")

    try:
        ref, view = await portal.claims.open_survey(token)
    except InvalidSurveyLink:
        return PAGES.message(
            "survey_not_found.html.j2", 404, lang, "not_found_title", "not_found_body"
        )
    except SurveyLinkExpired as err:
        contact = _respondents(err.view, ref.kind)[0]
        return _gone_page(err.view, ref, pick_locale(asked, contact.locale))
    lang = pick_locale(asked, _respondents(view, ref.kind)[0].locale)

    check = validate_answers(ref.kind, form, lang)
    errors = dict(check.errors)
    respondents = _respondents(view, ref.kind)
    choice = form.get("respondent", "0")
    if choice not in {str(index) for index in range(len(respondents))}:
        errors["respondent"] = TEXTS[lang]["error_respondent"]
    if errors:
        return _form_page(portal, token, ref.kind, view, lang, status=422, form=form, errors=errors)

    respondent = respondents[int(choice)]
    try:
        await portal.claims.complete_survey(token, respondent.email, check.answers)
    except InvalidSurveyLink:
        return PAGES.message(
            "survey_not_found.html.j2", 404, lang, "not_found_title", "not_found_body"
        )
    except SurveyLinkExpired as err:
        return _gone_page(err.view, ref, lang)
    except SurveyAnswersQueued:
        return PAGES.message("survey_thanks.html.j2", 202, lang, "thanks_title", "received_body")
    return PAGES.message(
        "survey_thanks.html.j2", 200, lang, "thanks_title", "thanks_body", workshop=view.workshop
    )
