"""Demo engagements and keys for the local stack (`./scripts/run --demo`).

The demo claims (devstack/demo.py) are recorded in the engagement registry
as the program would have, a few more engagements wait to be claimed (some
eligible, one with a consent request pending for the customer), and a
program key and a partner key are made and printed, so a newcomer can list
what Contoso may claim, claim it, and record engagements of their own.

Like the claims, this is idempotent: an engagement already recorded is left
as it is (its consent moment was "days ago" when it was first seeded), and a
consent request is asked once. The keys are new on every run (only their
hashes are kept, so an old key can't be shown again); the previous demo keys
are revoked.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client

from activities.engagements import EngagementRegistry
from activities.store import ClaimStore
from devstack.demo import CONTOSO
from devstack.demo import DEMO_CLAIMS
from devstack.demo import DEMO_WORKSHOPS
from devstack.demo import NORTHWIND
from devstack.demo import customer_contact
from devstack.demo import type_of
from starter.consent import start_consent_request
from starter.keys import create_key
from starter.keys import read_entries
from starter.keys import write_entries
from workflows.engagements import EngagementFields
from workflows.engagements import WorkshopCatalogue
from workflows.messages import Actor
from workflows.messages import Party

DEMO_CATALOGUE_JSON = json.dumps({code: w.model_dump() for code, w in DEMO_WORKSHOPS.items()})

PROGRAM = Actor(user="demo-program@program.example", role="program_admin")
PARTNER_KEY_USER = "demo-partner@contoso.example"


@dataclass(frozen=True)
class DemoEngagement:
    engagement_id: str
    partner: Party
    customer: Party
    workshop_type: str
    consent_days_ago: int | None
    """None: the customer is asked by a consent request."""
    label: str


WAITING: tuple[DemoEngagement, ...] = tuple(
    DemoEngagement(eid, partner, Party(id=customer_id, name=customer), kind, days, label)
    for eid, partner, customer_id, customer, kind, days, label in (
        ("DEMO-2001", CONTOSO, "C-601", "Trey Research", "cloud-adoption", 5, "eligible"),
        ("DEMO-2002", CONTOSO, "C-602", "Lucerne Publishing", "ai-readiness", 75, "eligible"),
        ("DEMO-2003", NORTHWIND, "C-603", "Margie's Travel", "analytics-day", 12, "eligible"),
        ("DEMO-2004", CONTOSO, "C-604", "Fourth Coffee", "security-review", None, "consent asked"),
        ("DEMO-2005", CONTOSO, "C-605", "Blue Yonder", "data-discovery", 120, "90 days passed"),
    )
)
"""Engagements not claimed yet: what the eligible list shows."""


def _fields(
    partner: Party, customer: Party, workshop_type: str, consent: datetime | None
) -> EngagementFields:
    return EngagementFields.model_validate(
        {
            "partner": partner.model_dump(),
            "customer": customer.model_dump(),
            "workshop_type": workshop_type,
            "consent_at": consent,
            "customer_contact": customer_contact(customer).model_dump(),
        }
    )


async def seed_engagements(
    store: ClaimStore,
    client: Client,
    task_queue: str,
    report: Callable[[str], None],
) -> None:
    """Record the demo claims' engagements and the waiting ones; ask the pending consent."""
    registry = EngagementRegistry(store.engine)
    catalogue = WorkshopCatalogue(DEMO_WORKSHOPS)
    now = datetime.now(UTC)
    wanted = [
        (
            d.engagement_id,
            _fields(d.partner, d.customer, type_of(d.workshop), None),
            d.consent_days_ago,
            f"claimed: {d.label}",
        )
        for d in DEMO_CLAIMS
    ] + [
        (
            w.engagement_id,
            _fields(w.partner, w.customer, w.workshop_type, None),
            w.consent_days_ago,
            w.label,
        )
        for w in WAITING
    ]
    for engagement_id, fields, days_ago, label in wanted:
        existing = await registry.get(engagement_id)
        if existing is None:
            consent = None if days_ago is None else now - timedelta(days=days_ago)
            fields = fields.model_copy(update={"consent_at": consent})
            _, existing = await registry.record(engagement_id, fields, PROGRAM, now)
            outcome = "recorded"
        else:
            outcome = "already there"
        if existing.consent_at is None and existing.consent_status is None:
            request = await registry.open_consent_request(engagement_id, now)
            if request is not None:
                await start_consent_request(
                    client,
                    task_queue,
                    existing,
                    request,
                    catalogue.get(existing.workshop_type),
                    PROGRAM,
                    now,
                )
                outcome += "; consent request mailed"
        report(f"      engagement {engagement_id}  {existing.partner.name:<19} {label} ({outcome})")


@dataclass(frozen=True)
class DemoKeys:
    program: str
    partner: str


def demo_keys(keys_file: Path) -> DemoKeys:
    """A fresh program key and Contoso partner key (the previous demo keys revoked)."""
    users = {PROGRAM.user, PARTNER_KEY_USER}
    write_entries(keys_file, [e for e in read_entries(keys_file) if e.user not in users])
    return DemoKeys(
        program=create_key(keys_file, PROGRAM.user, "program_admin", None),
        partner=create_key(keys_file, PARTNER_KEY_USER, "incentives_admin", CONTOSO.id),
    )


def keys_text(keys: DemoKeys, api_url: str) -> list[str]:
    """How to try the keys, for the stack's progress lines."""
    return [
        f"      program key (program_admin): {keys.program}",
        f"      partner key (Contoso, {CONTOSO.id}): {keys.partner}",
        f"      try: curl -H 'Authorization: Bearer {keys.partner}' "
        f"'{api_url}/api/v1/engagements?eligible=true'",
    ]
