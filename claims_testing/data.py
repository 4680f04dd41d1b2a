"""Test data: valid messages with unique engagements, changed per test by keyword.

Everything here is made up: the contacts are on example domains."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from workflows.engagements import Workshop
from workflows.messages import Actor
from workflows.messages import AttachDocument
from workflows.messages import ClaimInput
from workflows.messages import Contact
from workflows.messages import Document
from workflows.messages import DocumentKind
from workflows.messages import Party

REVIEW_MAIL = "review-desk@program.example"
"""The review desk the test kit's activities mail (CLAIMS_REVIEW_MAIL)."""
WORKSHOPS = {
    "cloud-adoption": Workshop(
        name="Cloud adoption workshop",
        name_nl="Cloud-adoptieworkshop",
        amount="1500.00",
        currency="EUR",
    ),
    "security": Workshop(
        name="Security workshop", name_nl="Beveiligingsworkshop", amount="2000.00", currency="EUR"
    ),
}
"""The workshop catalogue of the tests (CLAIMS_WORKSHOPS); `claim_input` names the first."""

PROGRAM_ADMIN = Actor(user="paula.program@program.example", role="program_admin")

MAIL_FROM = "Workshop claims <claims@claims.test>"
PUBLIC_URL = "http://claims.test"
"""Survey links in captured mails start with this (no server answers there)."""

PARTNER_ADMIN = Actor(user="anna.admin@partner.example", role="incentives_admin")
PARTNER_USER = Actor(user="piet.user@partner.example", role="incentives_user")
REVIEWER = Actor(user="rita.reviewer@program.example", role="reviewer")

PARTNER_CONTACTS = [
    Contact(name="Anna Admin", email="anna@partner.example", locale="en"),
    Contact(name="Joost de Vries", email="joost@partner.example", locale="nl"),
]
CUSTOMER_CONTACT = Contact(name="Carla Customer", email="carla@customer.example", locale="en")


def new_engagement() -> str:
    return f"eng-{uuid.uuid4().hex[:12]}"


def claim_input(consent_at: datetime, **changes: Any) -> ClaimInput:
    fields: dict[str, Any] = {
        "engagement_id": new_engagement(),
        "partner": Party(id="partner-42", name="Contoso Consulting"),
        "customer": Party(id="customer-7", name="Fabrikam BV"),
        "workshop": "Cloud adoption workshop",
        "consent_at": consent_at,
        "partner_contacts": PARTNER_CONTACTS,
        "customer_contact": CUSTOMER_CONTACT,
        "actor": PARTNER_ADMIN,
    }
    fields.update(changes)
    return ClaimInput(**fields)


def document(kind: DocumentKind, name: str = "proof") -> Document:
    content = f"{kind}:{name}".encode()
    return Document(
        filename=f"{name}.pdf",
        content_type="application/pdf",
        size_bytes=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        uri=f"file:///blobs/{hashlib.sha256(content).hexdigest()}",
    )


def attach(kind: DocumentKind, name: str = "proof", actor: Actor = PARTNER_ADMIN) -> AttachDocument:
    return AttachDocument(kind=kind, document=document(kind, name), actor=actor)
