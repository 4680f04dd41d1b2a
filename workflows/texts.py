"""The words people read about a claim, each written once, in English and Dutch.

Status words and proof-item labels appear in refusals, mails, the Temporal
UI's details, the command line and the portal; they are all taken from here,
so a change of wording is one edit. Plain Python (no Temporal import): the
workflow, activities and callers all read it.
"""

from __future__ import annotations

from workflows.messages import ClaimStatus
from workflows.messages import Locale
from workflows.messages import ProofItem

STATUS_WORDS: dict[Locale, dict[ClaimStatus, str]] = {
    "en": {
        "in_progress": "in progress",
        "submitted": "submitted and waiting for review",
        "info_requested": "waiting for the partner's answer to a question",
        "approved": "approved and waiting for payment",
        "paid": "paid",
        "rejected": "rejected",
        "rejected_final": "rejected for good",
        "disputed": "disputed and waiting for review",
        "expired": "expired without an answer to the program's question",
        "cancelled": "cancelled",
        "auto_rejected": "rejected automatically",
        "terminated": "ended by an operator (terminated)",
    },
    "nl": {
        "in_progress": "in behandeling",
        "submitted": "ingediend en wacht op beoordeling",
        "info_requested": "wacht op het antwoord van de partner op een vraag",
        "approved": "goedgekeurd en wacht op betaling",
        "paid": "betaald",
        "rejected": "afgewezen",
        "rejected_final": "definitief afgewezen",
        "disputed": "betwist en wacht op beoordeling",
        "expired": "verlopen zonder antwoord op de vraag van het programma",
        "cancelled": "geannuleerd",
        "auto_rejected": "automatisch afgewezen",
        "terminated": "beëindigd door een beheerder",
    },
}
"""How a status reads in a sentence ("the claim is ...")."""

ENDED_FROM_OUTSIDE: dict[str, str] = {
    "TERMINATED": "terminated by an operator in Temporal",
    "TIMED_OUT": "its workflow timed out in Temporal",
}
"""Why a claim is `terminated`, by the Temporal execution status that ended it (the SDK's
WorkflowExecutionStatus name): the claim's own code never ran to say so."""

ITEM_LABELS: dict[Locale, dict[ProofItem, str]] = {
    "en": {
        "results_and_recommendations": "results-and-recommendations document",
        "partner_survey": "partner survey",
        "customer_survey": "customer survey",
        "invoice": "invoice",
    },
    "nl": {
        "results_and_recommendations": "document met resultaten en aanbevelingen",
        "partner_survey": "partnerenquête",
        "customer_survey": "klantenquête",
        "invoice": "factuur",
    },
}
"""The four proof items as people name them."""


def status_words(status: ClaimStatus, locale: Locale = "en") -> str:
    return STATUS_WORDS[locale][status]


def item_label(item: ProofItem, locale: Locale = "en") -> str:
    return ITEM_LABELS[locale][item]


def action_words(action: str) -> str:
    """An action's name as words: `attach_document` -> "attach document"."""
    return action.replace("_", " ")
