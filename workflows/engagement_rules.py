"""The engagement rules, in plain Python: who records an engagement, what makes one valid,
when it is eligible for a claim, what a partner's claim may say of it, and the
timeline of a consent request.

Nothing here knows about Temporal, HTTP or the database: the portal, the
command line, the registry and the consent workflow ask these functions and
apply what they say. Time is always passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from workflows.engagements import ConsentDecision
from workflows.engagements import ConsentState
from workflows.engagements import ConsentStatus
from workflows.engagements import Engagement
from workflows.engagements import EngagementDetail
from workflows.engagements import EngagementFields
from workflows.engagements import WorkshopCatalogue
from workflows.messages import IDENTIFIER_PATTERN
from workflows.messages import Actor
from workflows.messages import ClaimStatus
from workflows.messages import Role
from workflows.rules import PARTNER_ROLES
from workflows.rules import Refusal
from workflows.rules import days_left
from workflows.rules import deadline_after
from workflows.rules import deadline_passed
from workflows.rules import sees_claim
from workflows.text import EARLIEST_CONSENT

# --- the numbers ---------------------------------------------------------------------------

CONSENT_CLOCK_SKEW = timedelta(minutes=5)
"""A consent moment may lie this far in the future (clocks differ a little), no further
(how old it may be: workflows.text.EARLIEST_CONSENT)."""

CONSENT_REQUEST_OPEN = timedelta(days=30)
"""A consent request waits this long for the customer's answer, then lapses."""

CONSENT_REMINDER_DAYS_BEFORE_LAPSE: tuple[int, ...] = (7, 1)
"""The customer contact is reminded this many days before an unanswered request lapses."""

IDENTIFIER = re.compile(IDENTIFIER_PATTERN)
"""What an engagement id looks like."""

PROGRAM_ROLES = frozenset({"program_admin"})
"""Roles that record engagements; they act for no partner."""

ENGAGEMENT_FACTS: tuple[str, ...] = (
    "partner",
    "customer",
    "workshop_type",
    "consent_at",
    "customer_contact",
)
"""The facts of an engagement, in the order a refusal names them."""


# --- the consent moment ----------------------------------------------------------------------


def check_consent_at(consent_at: datetime, now: datetime, field: str = "consent_at") -> None:
    """A consent moment is in the past (give or take the clock skew) and not impossibly old.

    The workflow asks it of every start, so a trusted caller can't move a deadline
    into the future either."""
    if consent_at > now + CONSENT_CLOCK_SKEW:
        raise Refusal(
            "InvalidInput",
            f"{field}: {consent_at.isoformat()} lies in the future (more than "
            f"{int(CONSENT_CLOCK_SKEW.total_seconds() // 60)} minutes after {now.isoformat()}); "
            "consent is recorded when the customer gave it",
        )
    if consent_at < EARLIEST_CONSENT:
        raise Refusal(
            "InvalidInput",
            f"{field}: {consent_at.isoformat()} is impossibly old "
            f"(before {EARLIEST_CONSENT.date().isoformat()})",
        )


# --- recording an engagement ----------------------------------------------------------------


def check_record_role(role: Role) -> None:
    """Only the program's administrators record engagements."""
    if role not in PROGRAM_ROLES:
        raise Refusal(
            "NotAllowed",
            f"recording an engagement is done by the program's administrators "
            f"(role 'program_admin'), not by the role '{role}'",
        )


def check_engagement(fields: EngagementFields, catalogue: WorkshopCatalogue, now: datetime) -> None:
    """An engagement's facts are valid: a known workshop type, a plausible consent moment."""
    if fields.workshop_type not in catalogue:
        known = ", ".join(sorted(catalogue.workshops)) or "none configured"
        raise Refusal(
            "InvalidInput",
            f"workshop_type: {fields.workshop_type!r} is not in the workshop catalogue "
            f"(known: {known})",
        )
    if fields.consent_at is not None:
        check_consent_at(fields.consent_at, now)


def facts_of(engagement: Engagement | EngagementFields) -> dict[str, Any]:
    """An engagement's facts as comparable JSON values (moments in UTC)."""
    data = engagement.model_dump(mode="json", include=set(ENGAGEMENT_FACTS))
    consent_at = engagement.consent_at
    data["consent_at"] = None if consent_at is None else consent_at.astimezone(UTC).isoformat()
    return data


def changed_facts(existing: Engagement, fields: EngagementFields) -> list[str]:
    """The facts that `fields` would change, in ENGAGEMENT_FACTS order.

    A consent moment recorded by a consent request is kept when the new record
    leaves `consent_at` out: leaving it out is not a change."""
    old, new = facts_of(existing), facts_of(fields)
    if new["consent_at"] is None:
        new["consent_at"] = old["consent_at"]
    return [name for name in ENGAGEMENT_FACTS if old[name] != new[name]]


def check_change(engagement_id: str, changed: list[str], claimed: bool) -> None:
    """A claimed engagement's facts are fixed: its claim runs on them."""
    if changed and claimed:
        raise Refusal(
            "WrongState",
            f"{', '.join(changed)}: engagement {engagement_id} already has a claim, "
            "so its facts can no longer change",
        )


# --- who sees what ------------------------------------------------------------------------


def engagement_not_found(engagement_id: str) -> Refusal:
    """The one answer for an unknown engagement and for another partner's."""
    return Refusal("NotFound", f"there is no engagement {engagement_id}")


def check_sees_engagement(
    actor: Actor, engagement: Engagement | None, engagement_id: str
) -> Engagement:
    """The engagement, if the actor may see it: partner keys see their own partner's
    engagements, reviewers and program admins all; otherwise NotFound, as for none."""
    if engagement is None or not sees_claim(actor, engagement.partner.id):
        raise engagement_not_found(engagement_id)
    return engagement


# --- eligibility ----------------------------------------------------------------------------


def claim_deadline(engagement: Engagement) -> datetime | None:
    return None if engagement.consent_at is None else deadline_after(engagement.consent_at)


def is_eligible(engagement: Engagement, claim_status: ClaimStatus | None, now: datetime) -> bool:
    """A partner may claim it: the customer consented, no claim yet, the deadline ahead."""
    deadline = claim_deadline(engagement)
    return claim_status is None and deadline is not None and now < deadline


def days_to_deadline(engagement: Engagement, now: datetime) -> int | None:
    deadline = claim_deadline(engagement)
    return None if deadline is None else days_left(deadline, now)


def detail_of(
    engagement: Engagement,
    claim_status: ClaimStatus | None,
    catalogue: WorkshopCatalogue,
    now: datetime,
) -> EngagementDetail:
    """An engagement as the portal and the command line show it: its facts, its workshop's
    name, its deadline and days left, its claim's status and whether it is eligible."""
    workshop = catalogue.get(engagement.workshop_type)
    return EngagementDetail.model_validate(
        {
            **engagement.model_dump(),
            "workshop": workshop.name if workshop else None,
            "claim_deadline": claim_deadline(engagement),
            "days_left": days_to_deadline(engagement, now),
            "claim_status": claim_status,
            "eligible": is_eligible(engagement, claim_status, now),
        }
    )


# --- a partner's claim of an engagement -----------------------------------------------------


@dataclass(frozen=True)
class ClaimFacts:
    """The facts a partner's claim takes from the registry, as the workflow's input names them."""

    partner: dict[str, Any]
    customer: dict[str, Any]
    workshop: str
    workshop_type: str
    consent_at: datetime


def claim_facts(engagement: Engagement, catalogue: WorkshopCatalogue) -> ClaimFacts:
    """The registry's facts for a claim of `engagement`; a claim can't start without consent
    or for a workshop type the catalogue no longer has."""
    if engagement.consent_at is None:
        status = engagement.consent_status or "not asked"
        raise Refusal(
            "WrongState",
            f"engagement {engagement.engagement_id} has no customer consent "
            f"(consent: {status}), so it can't be claimed",
        )
    workshop = catalogue.get(engagement.workshop_type)
    if workshop is None:
        raise Refusal(
            "WrongState",
            f"workshop_type: {engagement.workshop_type!r} of engagement "
            f"{engagement.engagement_id} is no longer in the workshop catalogue",
        )
    return ClaimFacts(
        partner=engagement.partner.model_dump(),
        customer=engagement.customer.model_dump(),
        workshop=workshop.name,
        workshop_type=engagement.workshop_type,
        consent_at=engagement.consent_at,
    )


def check_repeated_facts(facts: ClaimFacts, body: Mapping[str, Any]) -> None:
    """A body may repeat `partner`, `customer`, `workshop` or `consent_at`, but only with the
    registry's value: anything else is refused, naming the field."""
    for name in ("partner", "customer", "workshop", "consent_at"):
        if body.get(name) is None:
            continue
        given = body[name]
        expected = getattr(facts, name)
        same = (
            given.astimezone(UTC) == expected.astimezone(UTC)
            if isinstance(given, datetime)
            else given in (expected, facts.workshop_type)
            if name == "workshop"
            else given == expected
        )
        if not same:
            raise Refusal(
                "InvalidInput",
                f"{name}: differs from the program's record of the engagement; "
                "leave it out (it is taken from the record)",
            )


def check_claimable(engagement_id: str, facts: ClaimFacts, now: datetime) -> None:
    """An engagement whose 90 days have passed can't be claimed any more."""
    deadline = deadline_after(facts.consent_at)
    if now >= deadline:
        refusal = deadline_passed(deadline)
        raise Refusal(
            "DeadlinePassed",
            f"engagement {engagement_id}: {refusal.message.removeprefix('the claim ')}",
        )


# --- asking the customer for consent ------------------------------------------------------


def check_request_consent(actor: Actor, engagement: Engagement, request_open: bool) -> None:
    """The program's administrators or the engagement's own partner ask; only an engagement
    without consent, and without a request still open, can be asked. (`request_open`: its
    latest request's workflow exists; a `pending` request whose workflow never started,
    say Temporal was down, may be asked again.)"""
    if actor.role not in PROGRAM_ROLES and actor.role not in PARTNER_ROLES:
        raise Refusal(
            "NotAllowed",
            f"asking for consent is done by the program's administrators or the engagement's "
            f"partner, not by the role '{actor.role}'",
        )
    if engagement.consent_at is not None:
        raise Refusal(
            "WrongState",
            f"engagement {engagement.engagement_id}: the customer already consented",
        )
    if engagement.consent_status == "pending" and request_open:
        raise Refusal(
            "WrongState",
            f"engagement {engagement.engagement_id}: a consent request is already open",
        )


@dataclass(frozen=True)
class ConsentCheckpoint:
    at: datetime
    days_before_lapse: int
    """0 is the lapse itself."""


def consent_checkpoints(requested_at: datetime, now: datetime) -> list[ConsentCheckpoint]:
    """The reminders still ahead, then the lapse, of a request made at `requested_at`."""
    lapses_at = requested_at + CONSENT_REQUEST_OPEN
    ahead = [
        ConsentCheckpoint(lapses_at - timedelta(days=days), days)
        for days in CONSENT_REMINDER_DAYS_BEFORE_LAPSE
        if lapses_at - timedelta(days=days) > now
    ]
    return [*ahead, ConsentCheckpoint(lapses_at, 0)]


def consent_status_after(decision: ConsentDecision) -> ConsentStatus:
    return "consented" if decision == "consent" else "declined"


def check_answer(state: ConsentState, now: datetime) -> None:
    """A request is answered once, while open."""
    if state.status == "lapsed" or (state.status == "pending" and now >= state.lapses_at):
        raise Refusal("DeadlinePassed", "this consent request lapsed without an answer")
    if state.status != "pending":
        raise Refusal("WrongState", f"this consent request was already answered ({state.status})")


def answer(state: ConsentState, decision: ConsentDecision, now: datetime) -> None:
    state.status = consent_status_after(decision)
    state.answered_at = now


def lapse(state: ConsentState) -> None:
    if state.status == "pending":
        state.status = "lapsed"
