"""The program's side of a claim's facts: the workshop catalogue and the engagement record.

A partner used to type the partner, customer, workshop name and consent date
of its own claim; now the program records them (role `program_admin`, or a
CSV import) and the portal takes them from this record, so a partner can't
move its own deadline, claim another partner's engagement or misspell a
workshop out of its payment. The rules about them are in
`workflows/engagement_rules.py`; the table in `activities/engagements.py`.

Like `workflows.messages`, this module imports pydantic only: it is safe in
the workflow sandbox and in any client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import Field
from pydantic import TypeAdapter
from pydantic import ValidationError

from workflows.messages import Actor
from workflows.messages import Amount
from workflows.messages import ClaimStatus
from workflows.messages import ConsentMoment
from workflows.messages import Contact
from workflows.messages import Identifier
from workflows.messages import Inbound
from workflows.messages import Locale
from workflows.messages import Name
from workflows.messages import Outbound
from workflows.messages import Party
from workflows.messages import describe_validation_error
from workflows.payments_messages import Currency
from workflows.payments_messages import Tariff

ConsentStatus = Literal["pending", "consented", "declined", "lapsed"]
"""Where the customer's consent stands: asked by signed link and not answered yet, given,
refused, or not answered within the request's 30 days. Null: recorded without asking."""

ConsentDecision = Literal["consent", "decline"]


# --- the workshop catalogue --------------------------------------------------------------


class Workshop(BaseModel):
    """One entry of the catalogue: what a workshop type is called and what it pays."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name
    name_nl: Name | None = None
    amount: Amount
    currency: Currency

    def display_name(self, locale: Locale) -> str:
        return self.name_nl if locale == "nl" and self.name_nl else self.name

    @property
    def tariff(self) -> Tariff:
        return Tariff(amount=self.amount, currency=self.currency)


_CATALOGUE: TypeAdapter[dict[Identifier, Workshop]] = TypeAdapter(dict[Identifier, Workshop])

CATALOGUE_EXAMPLE = (
    '{"SEC-101": {"name": "Security workshop", "name_nl": "Beveiligingsworkshop", '
    '"amount": "1500.00", "currency": "EUR"}}'
)


class CatalogueError(ValueError):
    """The catalogue's JSON is malformed; the message says where."""


def parse_catalogue(text: str, source: str) -> dict[str, Workshop]:
    """The catalogue in `text` (JSON: type code to workshop), or CatalogueError naming
    `source` (the variable or file) and the bad entry."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise CatalogueError(
            f"{source} is not valid JSON ({err}); expected e.g. {CATALOGUE_EXAMPLE}"
        ) from None
    try:
        return _CATALOGUE.validate_python(raw)
    except ValidationError as err:
        raise CatalogueError(
            f"{source} must map workshop type codes to {{name, name_nl, amount, currency}}, "
            f"e.g. {CATALOGUE_EXAMPLE}: {describe_validation_error(err)}"
        ) from None


class WorkshopCatalogue:
    """The workshop types the program pays for, by code (CLAIMS_WORKSHOPS).

    `legacy_tariffs` are the deprecated CLAIMS_TARIFFS (workshop name to tariff):
    they still price claims that name no workshop type, until they are removed."""

    def __init__(
        self,
        workshops: Mapping[str, Workshop] | None = None,
        legacy_tariffs: Mapping[str, Tariff] | None = None,
    ) -> None:
        self.workshops: dict[str, Workshop] = dict(workshops or {})
        self.legacy_tariffs: dict[str, Tariff] = dict(legacy_tariffs or {})

    def get(self, code: str) -> Workshop | None:
        return self.workshops.get(code)

    def __contains__(self, code: object) -> bool:
        return code in self.workshops

    def tariff_for(self, workshop_type: str | None, workshop: str) -> Tariff | None:
        """What one claim pays: by its type code when it has one (never by a free-text name
        then), else by a catalogue entry or a legacy tariff of exactly its name."""
        if workshop_type is not None:
            entry = self.workshops.get(workshop_type)
            return entry.tariff if entry is not None else None
        for entry in self.workshops.values():
            if entry.name == workshop:
                return entry.tariff
        return self.legacy_tariffs.get(workshop)


Pricing = WorkshopCatalogue | Mapping[str, Tariff]
"""The workshop catalogue, or (tests, the deprecated CLAIMS_TARIFFS) tariffs by workshop name."""


def tariff_of(pricing: Pricing, workshop_type: str | None, workshop: str) -> Tariff | None:
    """What one claim is paid: by its workshop type code when it names one."""
    if isinstance(pricing, WorkshopCatalogue):
        return pricing.tariff_for(workshop_type, workshop)
    return None if workshop_type is not None else pricing.get(workshop)


# --- the engagement record ---------------------------------------------------------------


class Customer(Party):
    name: Name


class PartnerParty(Party):
    name: Name


class CustomerContact(Contact):
    name: Name


class EngagementFields(Inbound):
    """What the program records of an engagement (`PUT /api/v1/engagements/{id}`).

    `consent_at` may be left out: the customer is then asked by signed link
    (`POST /api/v1/engagements/{id}/consent-request`) and the moment they
    consent is recorded."""

    partner: PartnerParty
    customer: Customer
    workshop_type: Identifier = Field(description="a code of the workshop catalogue")
    consent_at: ConsentMoment | None = None
    customer_contact: CustomerContact


class Engagement(Outbound):
    """An engagement as the registry keeps it."""

    engagement_id: str
    partner: Party
    customer: Party
    workshop_type: str
    consent_at: datetime | None
    customer_contact: Contact
    consent_status: ConsentStatus | None = None
    consent_requests: int = 0
    """How many consent requests were made (the current one is the last)."""
    recorded_by: Actor
    recorded_at: datetime
    updated_at: datetime


class EngagementItem(BaseModel):
    """An engagement in the list: its facts, its deadline and its claim's status."""

    engagement_id: str
    partner: Party
    customer: Party
    workshop_type: str
    workshop: str | None = Field(description="the workshop type's name in the catalogue")
    consent_at: datetime | None
    consent_status: ConsentStatus | None
    claim_deadline: datetime | None = Field(description="90 days after consent; null without")
    days_left: int | None = Field(description="whole days until the deadline, 0 once passed")
    claim_status: ClaimStatus | None = Field(description="null while unclaimed")
    eligible: bool = Field(description="consented, unclaimed and the deadline not passed")


class EngagementDetail(EngagementItem):
    """One engagement: its list entry plus the contact asked for consent and who recorded it."""

    customer_contact: Contact
    consent_requests: int
    recorded_by: Actor
    recorded_at: datetime
    updated_at: datetime


class EngagementList(BaseModel):
    items: list[EngagementItem]
    next_cursor: str | None = Field(
        description="pass as `cursor` for the next page; null on the last page"
    )


# --- the consent request (workflows/consent.py) ------------------------------------------


class ConsentRequestInput(Outbound):
    """Start input of one consent request: whom to ask, about what."""

    engagement_id: str
    request: int = Field(ge=1, description="the engagement's consent request number")
    partner_name: str
    customer_name: str
    workshop: str
    workshop_nl: str
    contact: Contact
    requested_by: Actor
    requested_at: datetime


class ConsentAnswer(Inbound):
    """The customer's answer on the consent page."""

    decision: ConsentDecision


class ConsentState(Outbound):
    """What a consent request knows: its status and when it was answered."""

    status: ConsentStatus = "pending"
    answered_at: datetime | None = None
    lapses_at: datetime
    reminders_sent: int = 0


class ConsentMail(Outbound):
    """One consent mail (the request or a reminder), with its stable key."""

    key: str
    kind: Literal["consent_request", "consent_reminder"]
    request: ConsentRequestInput
    lapses_at: datetime
    days_left: int | None = None


class ConsentOutcome(Outbound):
    """What the registry records when a request ends (or is answered)."""

    engagement_id: str
    request: int
    status: ConsentStatus
    consent_at: datetime | None = None
