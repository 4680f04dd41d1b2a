"""The consent page a customer contact opens from the consent request's mail (en and nl).

GET shows who asks consent for which workshop, with "I consent" and "I decline";
POST (same origin, anti-forgery token) sends the answer to the request's
workflow, whose answer says at once whether it was taken. The link discipline
is the survey links': signed, deterministic, never in workflow history.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRouter

from activities.consent_links import InvalidConsentLink
from activities.mail import format_date
from portal.context import Portal
from portal.context import PortalDep
from portal.pages.render import PAGES
from portal.pages.render import requested_locale
from portal.pages.survey_texts import pick_locale
from portal.pages.surveys import _origin
from portal.pages.surveys import _read_form
from starter.client import ClaimRefused
from starter.consent import answer_consent
from starter.consent import consent_state
from workflows.engagements import ConsentDecision
from workflows.engagements import ConsentState
from workflows.engagements import Engagement
from workflows.messages import Locale

CONSENT_TEXTS: Mapping[Locale, Mapping[str, str]] = {
    "en": {
        "title": "Your consent",
        "intro": "{partner} asks your consent to claim the workshop \u201c{workshop}\u201d "
        "for {customer} from the partner program.",
        "explain": "With your consent the partner may claim the workshop within 90 days. "
        "Without it, it can't.",
        "consent": "I consent",
        "decline": "I decline",
        "lapses": "This request is open until {lapses}.",
        "thanks_consented": "Thank you: your consent is recorded.",
        "thanks_declined": "Thank you: your answer is recorded; the workshop will not be claimed.",
        "gone_title": "This request is closed",
        "gone_consented": "Consent was already given through this link.",
        "gone_declined": "Consent was already declined through this link.",
        "gone_lapsed": "This request lapsed without an answer. Ask the partner for a new one.",
        "not_found_title": "Link not valid",
        "not_found": "This consent link is not valid. Use the link from the e-mail as it is.",
        "refused_title": "Not accepted",
        "refused": "The answer could not be checked. Open the link from the e-mail and try again.",
    },
    "nl": {
        "title": "Uw toestemming",
        "intro": "{partner} vraagt uw toestemming om de workshop \u201c{workshop}\u201d voor "
        "{customer} bij het partnerprogramma in te dienen.",
        "explain": "Met uw toestemming mag de partner de workshop binnen 90 dagen indienen. "
        "Zonder toestemming niet.",
        "consent": "Ik geef toestemming",
        "decline": "Ik weiger",
        "lapses": "Dit verzoek staat open tot {lapses}.",
        "thanks_consented": "Dank u: uw toestemming is vastgelegd.",
        "thanks_declined": "Dank u: uw antwoord is vastgelegd; de workshop wordt niet ingediend.",
        "gone_title": "Dit verzoek is gesloten",
        "gone_consented": "Via deze link is al toestemming gegeven.",
        "gone_declined": "Via deze link is toestemming al geweigerd.",
        "gone_lapsed": "Dit verzoek is verlopen zonder antwoord. Vraag de partner om een nieuw.",
        "not_found_title": "Link niet geldig",
        "not_found": "Deze toestemmingslink is niet geldig. Gebruik de link uit de e-mail.",
        "refused_title": "Niet geaccepteerd",
        "refused": "Het antwoord kon niet worden gecontroleerd. Open de link uit de e-mail "
        "opnieuw.",
    },
}

router = APIRouter(include_in_schema=False)


def consent_form_token(secret_key: bytes, token: str) -> str:
    """The consent form's anti-forgery token: only our form has it."""
    return hmac.new(secret_key, b"consent-form" + token.encode(), hashlib.sha256).hexdigest()


def _message(status: int, lang: Locale, title_key: str, body_key: str) -> HTMLResponse:
    texts = CONSENT_TEXTS[lang]
    return PAGES.render(
        "survey_thanks.html.j2", status, lang, texts[title_key], message=texts[body_key]
    )


async def _open(portal: Portal, token: str) -> tuple[Engagement, int, ConsentState] | None:
    """The engagement and request a genuine token names, and where it stands; None if not."""
    try:
        ref = portal.consent_links.verify(token)
    except InvalidConsentLink:
        return None
    engagement = await portal.engagements.get(ref.engagement_id)
    state = await consent_state(portal.claims.client, ref.engagement_id, ref.request)
    if engagement is None or state is None:
        return None
    return engagement, ref.request, state


def _closed(state: ConsentState, lang: Locale) -> HTMLResponse:
    status = "lapsed" if state.status == "pending" else state.status
    return _message(410, lang, "gone_title", f"gone_{status}")


@router.get("/consent/{token}", response_class=HTMLResponse)
async def consent_form(token: str, request: Request, portal: PortalDep) -> HTMLResponse:
    opened = await _open(portal, token)
    if opened is None:
        return _message(404, requested_locale(request), "not_found_title", "not_found")
    engagement, _, state = opened
    lang = requested_locale(request, engagement.customer_contact.locale)
    if state.status != "pending" or await portal.clock() >= state.lapses_at:
        return _closed(state, lang)
    texts = CONSENT_TEXTS[lang]
    workshop = portal.catalogue.get(engagement.workshop_type)
    fields = {
        "partner": engagement.partner.name,
        "customer": engagement.customer.name,
        "workshop": workshop.display_name(lang) if workshop else engagement.workshop_type,
        "lapses": format_date(state.lapses_at, lang),
    }
    return PAGES.render(
        "consent_form.html.j2",
        200,
        lang,
        texts["title"],
        c={key: value.format(**fields) for key, value in texts.items()},
        csrf_token=consent_form_token(portal.secret_key, token),
    )


@router.post("/consent/{token}", response_class=HTMLResponse)
async def consent_answer(token: str, request: Request, portal: PortalDep) -> HTMLResponse:
    lang = requested_locale(request)
    origin = request.headers.get("origin")
    if origin is not None and _origin(origin) != _origin(portal.public_url):
        return _message(403, lang, "refused_title", "refused")
    form = await _read_form(request)
    if form is None:
        return _message(413, lang, "refused_title", "refused")
    lang = pick_locale(form.get("lang"), lang)
    if not hmac.compare_digest(
        form.get("csrf_token", "").encode(), consent_form_token(portal.secret_key, token).encode()
    ):
        return _message(403, lang, "refused_title", "refused")
    decision = form.get("decision")
    if decision not in ("consent", "decline"):
        return _message(422, lang, "refused_title", "refused")
    opened = await _open(portal, token)
    if opened is None:
        return _message(404, lang, "not_found_title", "not_found")
    engagement, number, state = opened
    lang = pick_locale(
        form.get("lang"), request.query_params.get("lang"), engagement.customer_contact.locale
    )
    chosen: ConsentDecision = "consent" if decision == "consent" else "decline"
    try:
        state = await answer_consent(portal.claims.client, engagement.engagement_id, number, chosen)
    except ClaimRefused:
        latest = await consent_state(portal.claims.client, engagement.engagement_id, number)
        return _closed(latest or state, lang)
    return _message(200, lang, "title", f"thanks_{state.status}")
