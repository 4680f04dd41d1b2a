"""Renders the pages: one autoescaped Jinja2 environment and the pages' one stylesheet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment
from jinja2 import FileSystemLoader
from jinja2 import StrictUndefined
from markupsafe import Markup

from portal.pages.survey_texts import TEXTS
from portal.pages.survey_texts import locale_from_accept_language
from portal.pages.survey_texts import pick_locale
from workflows.messages import Locale

TEMPLATES = Path(__file__).parent / "templates"


PAGE_CSS = (
    "body{font-family:system-ui,sans-serif;line-height:1.5;max-width:42rem;margin:0 auto;"
    "padding:1rem;color:#1a1a1a;background:#fff}"
    "h1{font-size:1.6rem}"
    ".language{text-align:right}"
    ".field{margin:1.25rem 0}"
    "fieldset{border:1px solid #767676;padding:.75rem 1rem}"
    "legend{font-weight:600;padding:0 .25rem}"
    "label{font-weight:600}"
    ".choice label{font-weight:400;margin:0 1rem 0 .25rem}"
    ".hint{color:#4a4a4a;display:block;margin:.25rem 0}"
    ".required{font-weight:400;color:#4a4a4a}"
    ".error{color:#b00020;font-weight:600;display:block}"
    ".errors{border:3px solid #b00020;padding:.5rem 1rem;margin:1rem 0}"
    "textarea,select{font:inherit;width:100%;box-sizing:border-box}"
    "input[type=radio]{width:1.2rem;height:1.2rem;vertical-align:middle}"
    "button{font:inherit;font-weight:600;padding:.6rem 1.2rem;background:#0b5394;color:#fff;"
    "border:0;border-radius:4px}"
    ":focus-visible{outline:3px solid #f5a623;outline-offset:2px}"
)


class SurveyPages:
    """Renders the survey pages: one Jinja2 environment, autoescaped."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(
        self, template: str, status: int, lang: Locale, title: str, **context: Any
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(
            lang=lang,
            other_lang="nl" if lang == "en" else "en",
            t=TEXTS[lang],
            title=title,
            css=Markup(PAGE_CSS),  # our own constant, hashed into the CSP
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def message(
        self, template: str, status: int, lang: Locale, title_key: str, body_key: str, **fields: str
    ) -> HTMLResponse:
        texts = TEXTS[lang]
        return self.render(
            template, status, lang, texts[title_key], message=texts[body_key].format(**fields)
        )


PAGES = SurveyPages()


def requested_locale(request: Request, *fallbacks: str | None) -> Locale:
    """The page's language: `?lang=`, then the fallbacks, then Accept-Language."""
    return pick_locale(
        request.query_params.get("lang"),
        *fallbacks,
        locale_from_accept_language(request.headers.get("accept-language")),
    )
