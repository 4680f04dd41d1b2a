"""The survey questions and the words of the survey pages, in English and Dutch.

The partner survey asks the partner how the workshop went; the customer
survey asks the customer. Each question has a stable id (the key of its
answer in `survey_completed`, so reports can rely on it), a label in each
language and a type: a rating from 1 to 5, or a free text with a maximum
length. :func:`validate_answers` checks a submitted form against the
questions and gives either the answers for `survey_completed` or one message
per wrong answer, in the respondent's language.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from workflows.messages import Locale
from workflows.messages import SurveyKind

LOCALES: tuple[Locale, ...] = ("en", "nl")
RATING_VALUES = (1, 2, 3, 4, 5)
RATING_CHOICES = frozenset(str(value) for value in RATING_VALUES)


@dataclass(frozen=True)
class SurveyQuestion:
    id: str
    type: Literal["rating", "text"]
    label: Mapping[Locale, str]
    required: bool = True
    max_length: int = 2000

    def text(self, locale: Locale) -> str:
        return self.label[locale]


QUESTIONS: Mapping[SurveyKind, tuple[SurveyQuestion, ...]] = {
    "partner": (
        SurveyQuestion(
            "overall",
            "rating",
            {
                "en": "How satisfied are you with how the workshop went?",
                "nl": "Hoe tevreden bent u over het verloop van de workshop?",
            },
        ),
        SurveyQuestion(
            "customer_engagement",
            "rating",
            {
                "en": "How engaged was the customer during the workshop?",
                "nl": "Hoe betrokken was de klant tijdens de workshop?",
            },
        ),
        SurveyQuestion(
            "program_support",
            "rating",
            {
                "en": "How well did the incentive program support you?",
                "nl": "Hoe goed heeft het incentiveprogramma u ondersteund?",
            },
        ),
        SurveyQuestion(
            "outcomes",
            "text",
            {
                "en": "What were the main outcomes and the next steps agreed with the customer?",
                "nl": "Wat waren de belangrijkste resultaten en de met de klant afgesproken "
                "vervolgstappen?",
            },
        ),
        SurveyQuestion(
            "comments",
            "text",
            {
                "en": "Anything else you want the program to know? (optional)",
                "nl": "Wilt u het programma nog iets laten weten? (optioneel)",
            },
            required=False,
        ),
    ),
    "customer": (
        SurveyQuestion(
            "overall",
            "rating",
            {
                "en": "How satisfied are you with the workshop overall?",
                "nl": "Hoe tevreden bent u over de workshop als geheel?",
            },
        ),
        SurveyQuestion(
            "relevance",
            "rating",
            {
                "en": "How relevant was the workshop to your organisation's goals?",
                "nl": "Hoe relevant was de workshop voor de doelen van uw organisatie?",
            },
        ),
        SurveyQuestion(
            "partner_expertise",
            "rating",
            {
                "en": "How would you rate the partner's expertise?",
                "nl": "Hoe beoordeelt u de deskundigheid van de partner?",
            },
        ),
        SurveyQuestion(
            "recommend",
            "rating",
            {
                "en": "How likely are you to recommend this partner to others?",
                "nl": "Hoe waarschijnlijk is het dat u deze partner bij anderen aanbeveelt?",
            },
        ),
        SurveyQuestion(
            "comments",
            "text",
            {
                "en": "Anything else you want to tell us? (optional)",
                "nl": "Wilt u ons nog iets laten weten? (optioneel)",
            },
            required=False,
        ),
    ),
}

TEXTS: Mapping[Locale, Mapping[str, str]] = {
    "en": {
        "language_name": "English",
        "switch_to": "Nederlands",
        "title_partner": "Partner survey",
        "title_customer": "Customer survey",
        "intro_partner": "Workshop “{workshop}” for {customer} (claim {engagement_id}). "
        "Please tell the program how the workshop went.",
        "intro_customer": "{partner} delivered the workshop “{workshop}” for {customer}. "
        "Please tell us how it went.",
        "scale": "1 = very poor, 5 = excellent",
        "respondent": "Who is answering?",
        "required": "required",
        "submit": "Send my answers",
        "errors_title": "Please correct the following:",
        "error_rating": "choose a rating from 1 to 5",
        "error_required": "this answer is required",
        "error_too_long": "at most {max_length} characters",
        "error_respondent": "choose who is answering",
        "characters": "at most {max_length} characters",
        "thanks_title": "Thank you",
        "received_body": "Your answers were received and will be recorded shortly.",
        "thanks_body": "Your answers for the workshop “{workshop}” have been recorded.",
        "gone_title": "This survey link no longer works",
        "gone_completed": "This survey has already been completed. Thank you!",
        "gone_invalidated": "This link is no longer valid because the contact details "
        "changed. Ask for the survey to be sent again; the new e-mail has a new link.",
        "gone_closed": "This claim is {claim_status} and no longer takes survey answers.",
        "not_found_title": "Survey not found",
        "not_found_body": "This survey link is not valid. Check that you copied the whole "
        "link from the e-mail.",
        "refused_title": "Your answers could not be accepted",
        "refused_body": "The form could not be verified. Open the survey link from the "
        "e-mail again and send your answers from there.",
        "too_large_title": "Too much text",
        "too_large_body": "The form was too large to accept. Please shorten your answers.",
    },
    "nl": {
        "language_name": "Nederlands",
        "switch_to": "English",
        "title_partner": "Partnerenquête",
        "title_customer": "Klantenquête",
        "intro_partner": "Workshop “{workshop}” bij {customer} (claim {engagement_id}). "
        "Laat het programma weten hoe de workshop verliep.",
        "intro_customer": "{partner} heeft voor {customer} de workshop “{workshop}” gegeven. "
        "Laat ons weten hoe het was.",
        "scale": "1 = zeer slecht, 5 = uitstekend",
        "respondent": "Wie vult de enquête in?",
        "required": "verplicht",
        "submit": "Verstuur mijn antwoorden",
        "errors_title": "Verbeter het volgende:",
        "error_rating": "kies een waardering van 1 tot en met 5",
        "error_required": "dit antwoord is verplicht",
        "error_too_long": "maximaal {max_length} tekens",
        "error_respondent": "kies wie de enquête invult",
        "characters": "maximaal {max_length} tekens",
        "thanks_title": "Dank u wel",
        "received_body": "Uw antwoorden zijn ontvangen en worden zo dadelijk vastgelegd.",
        "thanks_body": "Uw antwoorden voor de workshop “{workshop}” zijn vastgelegd.",
        "gone_title": "Deze enquêtelink werkt niet meer",
        "gone_completed": "Deze enquête is al ingevuld. Dank u wel!",
        "gone_invalidated": "Deze link is niet meer geldig omdat de contactgegevens zijn "
        "gewijzigd. Vraag om de enquête opnieuw te versturen; de nieuwe e-mail bevat een "
        "nieuwe link.",
        "gone_closed": "Deze claim is {claim_status} en neemt geen enquêteantwoorden meer aan.",
        "not_found_title": "Enquête niet gevonden",
        "not_found_body": "Deze enquêtelink is niet geldig. Controleer of u de hele link uit "
        "de e-mail hebt gekopieerd.",
        "refused_title": "Uw antwoorden konden niet worden aangenomen",
        "refused_body": "Het formulier kon niet worden gecontroleerd. Open de enquêtelink uit "
        "de e-mail opnieuw en verstuur uw antwoorden vandaar.",
        "too_large_title": "Te veel tekst",
        "too_large_body": "Het formulier was te groot. Maak uw antwoorden korter.",
    },
}


def pick_locale(*candidates: str | None) -> Locale:
    """The first candidate that is a supported language; English otherwise."""
    for candidate in candidates:
        if candidate == "en":
            return "en"
        if candidate == "nl":
            return "nl"
    return "en"


def locale_from_accept_language(header: str | None) -> Locale | None:
    """The first of en/nl named in an Accept-Language header (order of appearance)."""
    for item in (header or "").split(","):
        tag = item.split(";", 1)[0].strip().lower()
        primary = tag.split("-", 1)[0]
        if primary in ("en", "nl"):
            return pick_locale(primary)
    return None


@dataclass(frozen=True)
class AnswerCheck:
    """The outcome of checking a form: the answers when valid, else messages per field."""

    answers: dict[str, str | int]
    errors: dict[str, str]

    @property
    def ok(self) -> bool:
        return not self.errors


def validate_answers(kind: SurveyKind, form: Mapping[str, str], locale: Locale) -> AnswerCheck:
    """Check every question's answer; unknown form fields are ignored."""
    texts = TEXTS[locale]
    answers: dict[str, str | int] = {}
    errors: dict[str, str] = {}
    for question in QUESTIONS[kind]:
        raw = form.get(question.id, "")
        if question.type == "rating":
            value = raw.strip()
            if value in RATING_CHOICES:
                answers[question.id] = int(value)
            elif value or question.required:
                errors[question.id] = texts["error_rating"]
            continue
        value = raw.replace("\r\n", "\n").strip()
        if not value:
            if question.required:
                errors[question.id] = texts["error_required"]
        elif len(value) > question.max_length:
            errors[question.id] = texts["error_too_long"].format(max_length=question.max_length)
        else:
            answers[question.id] = value
    return AnswerCheck(answers=answers, errors=errors)
