"""Request and response bodies of the API.

A request body is its message (workflows.messages) without `actor`: the body
classes derive from the messages' `...Fields` bases, so a field added to a
message reaches the API (and its OpenAPI document) with no second copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field

from workflows.messages import AddCommentFields
from workflows.messages import ApproveFields
from workflows.messages import CancelFields
from workflows.messages import ClaimStatus
from workflows.messages import ClaimView
from workflows.messages import ConsentMoment
from workflows.messages import Contact
from workflows.messages import DisputeFields
from workflows.messages import Identifier
from workflows.messages import Locale
from workflows.messages import Name
from workflows.messages import Party
from workflows.messages import ProofItem
from workflows.messages import RejectFields
from workflows.messages import RequestInfoFields
from workflows.messages import RespondInfoFields
from workflows.messages import UpdateContactsFields
from workflows.text import MAX_CONTACTS
from workflows.texts import status_words

# --- request and response bodies --------------------------------------------------------------


class RequestBody(BaseModel):
    """Base of request bodies: unknown fields (an `actor` among them) are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ClaimEngagementBody(RequestBody):
    """A partner's claim of a recorded engagement (`POST /api/v1/claims`).

    Partner, customer, workshop and consent come from the program's record of the
    engagement; a body may repeat them only with the record's value. The portal makes
    the workflow's start input (`ClaimInput`, which trusted callers send themselves)
    from the record and this body; the fields it shares with that input are the same."""

    engagement_id: Identifier
    partner_contacts: list[Contact] = Field(min_length=1, max_length=MAX_CONTACTS)
    customer_contact: Contact | None = Field(
        default=None, description="defaults to the engagement's customer contact"
    )
    partner: Party | None = None
    customer: Party | None = None
    workshop: Name | None = Field(
        default=None, description="the catalogue name (or type code) of the workshop"
    )
    consent_at: ConsentMoment | None = None


class EmptyBody(RequestBody):
    """No fields; `{}` or no body at all."""


class UpdateContactsBody(RequestBody, UpdateContactsFields):
    pass


class CommentBody(RequestBody, AddCommentFields):
    pass


class RequestInfoBody(RequestBody, RequestInfoFields):
    pass


class ApproveBody(RequestBody, ApproveFields):
    pass


class RejectBody(RequestBody, RejectFields):
    pass


class CancelBody(RequestBody, CancelFields):
    pass


class InfoResponseBody(RequestBody, RespondInfoFields):
    pass


class DisputeBody(RequestBody, DisputeFields):
    pass


class SurveyLinkOut(BaseModel):
    url: str = Field(description="the partner survey's link, the same one its e-mail carries")


class ClaimSummary(BaseModel):
    """A claim in a list: the read model's latest copy (it may trail the live view briefly)."""

    engagement_id: str
    partner: Party
    customer: Party
    workshop: str
    status: ClaimStatus
    status_reason: str | None
    status_words: dict[Locale, str] = Field(
        default_factory=dict, description="how the status reads, in English and Dutch"
    )
    consent_at: datetime
    deadline_at: datetime
    missing: list[ProofItem]
    created_at: datetime
    updated_at: datetime
    submitted_at: datetime | None
    decided_at: datetime | None
    paid_at: datetime | None


class ClaimList(BaseModel):
    items: list[ClaimSummary]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )


def summary_of(row: Mapping[str, Any]) -> ClaimSummary:
    """A read-model row as a list entry: the view's fields, the row's timestamps."""
    view = ClaimView.model_validate(row["view"])
    fields = set(ClaimSummary.model_fields) - {"created_at", "updated_at"}
    return ClaimSummary.model_validate(
        {
            **view.model_dump(include=fields),
            "status_words": {locale: status_words(view.status, locale) for locale in ("en", "nl")},
            "created_at": row["created_at"],
            "updated_at": row["updated_at"],
        }
    )
