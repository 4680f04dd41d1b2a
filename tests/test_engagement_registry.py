"""The engagement registry on real databases (a SQLite file and PostgreSQL), the CSV import of
the command line (a real subprocess), the workshop catalogue's settings and the
`program_admin` key."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from pathlib import Path

import pytest

from activities.engagements import EngagementRegistry
from activities.engagements import InvalidEngagementCursor
from activities.store import ClaimStore
from claims_testing.data import PROGRAM_ADMIN
from claims_testing.data import WORKSHOPS
from starter.keys import main as keys_main
from starter.keys import read_entries
from starter.settings import SettingsError
from starter.settings import load_catalogue
from tests.builders import CUSTOMER_CONTACT
from tests.builders import claim_input
from tests.builders import new_engagement
from tests.helpers import run_cli
from workflows import engagement_rules
from workflows.engagements import ConsentOutcome
from workflows.engagements import EngagementFields
from workflows.messages import ClaimInputFields
from workflows.messages import StoreClaim
from workflows.rules import Refusal
from workflows.rules import open_claim
from workflows.rules import view

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def fields(
    consent_at: datetime | None = NOW - timedelta(days=1), **changes: object
) -> EngagementFields:
    values: dict[str, object] = {
        "partner": {"id": "partner-42", "name": "Contoso Consulting"},
        "customer": {"id": "customer-7", "name": "Fabrikam BV"},
        "workshop_type": "cloud-adoption",
        "consent_at": consent_at,
        "customer_contact": CUSTOMER_CONTACT.model_dump(),
        **changes,
    }
    return EngagementFields.model_validate(values)


async def test_recording_is_idempotent_and_a_claimed_engagements_facts_are_fixed(
    claim_store: ClaimStore,
) -> None:
    registry = EngagementRegistry(claim_store.engine)
    eid = new_engagement()
    outcome, created = await registry.record(eid, fields(), PROGRAM_ADMIN, NOW)
    assert outcome == "created"
    assert created.consent_status == "consented"
    assert created.consent_at == NOW - timedelta(days=1)
    assert created.recorded_by.role == "program_admin"
    # The same facts, even in another time zone, change nothing.
    later = NOW + timedelta(hours=1)
    same = fields(consent_at=(NOW - timedelta(days=1)).astimezone(timezone_plus_one()))
    assert (await registry.record(eid, same, PROGRAM_ADMIN, later))[0] == "unchanged"
    changed, updated = await registry.record(
        eid, fields(workshop_type="security"), PROGRAM_ADMIN, later
    )
    assert (changed, updated.workshop_type, updated.updated_at) == ("updated", "security", later)

    # Once a claim is in the read model, a change is refused and nothing is written.
    claim = claim_input(NOW - timedelta(days=1), engagement_id=eid)
    await claim_store.save(StoreClaim(view=view(open_claim(claim, NOW), NOW)))
    assert await registry.has_claim(eid)
    with pytest.raises(Refusal) as refused:
        await registry.record(eid, fields(), PROGRAM_ADMIN, later)
    assert refused.value.type == "WrongState"
    assert refused.value.message.startswith("workshop_type: ")
    kept = await registry.get(eid)
    assert kept is not None
    assert kept.workshop_type == "security"


def timezone_plus_one() -> timezone:
    return timezone(timedelta(hours=1))


async def test_the_list_filters_eligibility_and_pages_by_engagement_id(
    claim_store: ClaimStore,
) -> None:
    registry = EngagementRegistry(claim_store.engine)
    ids = sorted(new_engagement() for _ in range(5))
    consents = [NOW, NOW - timedelta(days=89), NOW - timedelta(days=90), None, NOW]
    for eid, consent in zip(ids, consents, strict=True):
        await registry.record(eid, fields(consent_at=consent), PROGRAM_ADMIN, NOW)
    claim = claim_input(NOW, engagement_id=ids[4])
    await claim_store.save(StoreClaim(view=view(open_claim(claim, NOW), NOW)))
    await registry.record(
        "zz-other", fields(partner={"id": "partner-99", "name": "E"}), PROGRAM_ADMIN, NOW
    )

    eligible = await registry.list(partner_id="partner-42", eligible=True, now=NOW)
    assert [r.engagement.engagement_id for r in eligible.rows] == ids[:2]
    others = await registry.list(partner_id="partner-42", eligible=False, now=NOW)
    assert [r.engagement.engagement_id for r in others.rows] == ids[2:]
    assert others.rows[-1].claim_status == "in_progress"

    seen: list[str] = []
    cursor = None
    while True:
        page = await registry.list(partner_id=None, eligible=None, now=NOW, limit=2, cursor=cursor)
        seen += [r.engagement.engagement_id for r in page.rows]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == [*ids, "zz-other"]
    with pytest.raises(InvalidEngagementCursor):
        await registry.list(partner_id=None, eligible=None, now=NOW, cursor="!!")


async def test_consent_requests_are_numbered_and_only_their_own_outcome_counts(
    claim_store: ClaimStore,
) -> None:
    registry = EngagementRegistry(claim_store.engine)
    eid = new_engagement()
    await registry.record(eid, fields(consent_at=None), PROGRAM_ADMIN, NOW)
    assert await registry.open_consent_request(eid, NOW) == 1
    assert await registry.open_consent_request(eid, NOW) is None  # one open at a time
    lapsed = ConsentOutcome(engagement_id=eid, request=1, status="lapsed")
    assert await registry.record_consent_outcome(lapsed, NOW)
    assert await registry.open_consent_request(eid, NOW) == 2
    # A late outcome of the first request changes nothing now.
    late = ConsentOutcome(engagement_id=eid, request=1, status="consented", consent_at=NOW)
    assert not await registry.record_consent_outcome(late, NOW)
    yes = ConsentOutcome(engagement_id=eid, request=2, status="consented", consent_at=NOW)
    assert await registry.record_consent_outcome(yes, NOW)
    record = await registry.get(eid)
    assert record is not None
    assert (record.consent_status, record.consent_at, record.consent_requests) == (
        "consented",
        NOW,
        2,
    )
    assert await registry.open_consent_request(eid, NOW) is None  # consented already
    # Recording the engagement again without consent_at keeps the consent it got.
    assert (await registry.record(eid, fields(consent_at=None), PROGRAM_ADMIN, NOW))[0] == (
        "unchanged"
    )


CSV_HEADER = (
    "engagement_id,partner_id,partner_name,customer_id,customer_name,workshop_type,"
    "consent_at,contact_name,contact_email,contact_locale\n"
)


async def test_the_csv_import_keeps_good_rows_reports_each_bad_one_and_is_idempotent(
    database_url: str, tmp_path: Path
) -> None:
    good = [new_engagement() for _ in range(2)]
    consent = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    party = "partner-42,Contoso,customer-7,Fabrikam BV"
    carla = "Carla,carla@customer.example,en"
    rows = [
        f"{good[0]},{party},cloud-adoption,{consent},{carla}",
        f"bad id,{party},cloud-adoption,{consent},{carla}",
        f"{new_engagement()},{party},basket-weaving,{consent},{carla}",
        f"{new_engagement()},{party},cloud-adoption,{future},{carla}",
        f"{new_engagement()},{party},cloud-adoption,{consent},Carla,not-an-address,en",
        f"{good[1]},{party},security,,Karel,karel@customer.example,nl",
    ]
    path = tmp_path / "engagements.csv"
    path.write_text(CSV_HEADER + "\n".join(rows) + "\n")
    env = {
        "PATH": os.environ["PATH"],
        "CLAIMS_DATABASE_URL": database_url,
        "CLAIMS_WORKSHOPS": json.dumps({k: w.model_dump() for k, w in WORKSHOPS.items()}),
    }

    first = await run_cli("engagements", "import", str(path), env=env)
    assert first.code == 1, first.stderr
    assert first.stdout.splitlines() == [f"line 2: {good[0]} created", f"line 7: {good[1]} created"]
    refused = [line for line in first.stderr.splitlines() if "refused" in line and "line" in line]
    assert [line.split(":")[0] for line in refused] == ["line 3", "line 4", "line 5", "line 6"]
    assert "engagement_id" in refused[0]
    assert "workshop_type" in refused[1]
    assert "consent_at" in refused[2]
    assert "future" in refused[2]
    assert "customer_contact.email" in refused[3]

    again = await run_cli("engagements", "import", str(path), env=env)
    assert again.stdout.splitlines() == [
        f"line 2: {good[0]} unchanged",
        f"line 7: {good[1]} unchanged",
    ]

    shown = await run_cli("engagements", "show", good[1], env=env)
    assert shown.code == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert (record["workshop"], record["consent_status"], record["eligible"]) == (
        "Security workshop",
        None,
        False,
    )
    listed = await run_cli("engagements", "list", "--eligible", "true", "--json", env=env)
    assert [item["engagement_id"] for item in json.loads(listed.stdout)] == [good[0]]
    table = await run_cli("engagements", "list", env=env)
    assert good[0] in table.stdout
    assert "eligible" in table.stdout
    missing = await run_cli("engagements", "show", "eng-nope", env=env)
    assert missing.code == 1
    assert "no engagement eng-nope" in missing.stderr

    bad_header = tmp_path / "bad.csv"
    bad_header.write_text("id,partner\nx,y\n")
    refused_file = await run_cli("engagements", "import", str(bad_header), env=env)
    assert refused_file.code == 1
    assert "line 1" in refused_file.stderr


# --- the workshop catalogue ------------------------------------------------------------------


def test_the_catalogue_comes_from_json_or_a_file_and_a_malformed_one_names_the_variable(
    tmp_path: Path,
) -> None:
    text = json.dumps(
        {
            "SEC-101": {
                "name": "Security workshop",
                "name_nl": "Beveiligingsworkshop",
                "amount": "1500.00",
                "currency": "EUR",
            }
        }
    )
    catalogue = load_catalogue({"CLAIMS_WORKSHOPS": text})
    assert catalogue.workshops["SEC-101"].display_name("nl") == "Beveiligingsworkshop"
    path = tmp_path / "workshops.json"
    path.write_text(text)
    assert load_catalogue({"CLAIMS_WORKSHOPS_FILE": str(path)}).workshops == catalogue.workshops
    for env, named in [
        ({"CLAIMS_WORKSHOPS": "{nope"}, "CLAIMS_WORKSHOPS"),
        (
            {"CLAIMS_WORKSHOPS": '{"SEC-101": {"name": "S", "amount": "-1", "currency": "EUR"}}'},
            "amount",
        ),
        (
            {"CLAIMS_WORKSHOPS": '{"bad code": {"name": "S", "amount": "1", "currency": "EUR"}}'},
            "bad code",
        ),
        ({"CLAIMS_WORKSHOPS_FILE": str(tmp_path / "absent.json")}, "CLAIMS_WORKSHOPS_FILE"),
        ({"CLAIMS_WORKSHOPS": text, "CLAIMS_WORKSHOPS_FILE": str(path)}, "not both"),
    ]:
        with pytest.raises(SettingsError) as err:
            load_catalogue(env)
        assert named in str(err.value)


def test_the_deprecated_tariffs_still_price_claims_without_a_type_and_warn(
    caplog: pytest.LogCaptureFixture,
) -> None:
    catalogue = load_catalogue(
        {"CLAIMS_TARIFFS": '{"Old workshop": {"amount": "10.00", "currency": "EUR"}}'}
    )
    assert "deprecated" in caplog.text
    tariff = catalogue.tariff_for(None, "Old workshop")
    assert tariff is not None
    assert tariff.amount == "10.00"
    # A claim that names its type is priced by the type only, never by a free-text name.
    assert catalogue.tariff_for("cloud-adoption", "Old workshop") is None


# --- the program_admin key ---------------------------------------------------------------------


def test_a_program_admin_key_is_made_without_a_partner_id(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "keys.json"
    args = ["create", "--user", "paula", "--role", "program_admin", "--file", str(path)]
    assert keys_main(args) == 0
    assert capsys.readouterr().out.startswith("wck_")
    [entry] = read_entries(path)
    assert (entry.role, entry.partner_id) == ("program_admin", None)
    assert keys_main([*args, "--partner-id", "partner-42"]) != 0
    assert "partner_id" in capsys.readouterr().err


# --- the rules alone ---------------------------------------------------------------------------


def test_every_registry_fact_is_a_field_the_claim_input_takes_by_the_same_name() -> None:
    """The portal spreads the registry's facts into the claim's start input by name
    (`dataclasses.asdict`): a fact with no field of that name would be refused as an extra
    field at every start, so a fact added to one must be added to the other."""
    facts = {field.name for field in dataclasses.fields(engagement_rules.ClaimFacts)}
    assert facts <= set(ClaimInputFields.model_fields)
    # ...and none of the fields the start names itself (a name twice would fail every start)
    assert facts.isdisjoint({"engagement_id", "partner_contacts", "customer_contact", "actor"})


def test_consent_moments_in_the_future_beyond_the_skew_or_before_2000_are_refused() -> None:
    engagement_rules.check_consent_at(NOW + timedelta(minutes=5), NOW)
    for moment in (NOW + timedelta(minutes=5, seconds=1), datetime(1999, 12, 31, tzinfo=UTC)):
        with pytest.raises(Refusal) as refused:
            engagement_rules.check_consent_at(moment, NOW)
        assert refused.value.type == "InvalidInput"
        assert refused.value.message.startswith("consent_at: ")


def test_the_consent_request_reminds_7_and_1_days_before_it_lapses_after_30() -> None:
    points = engagement_rules.consent_checkpoints(NOW, NOW)
    assert [(p.at - NOW, p.days_before_lapse) for p in points] == [
        (timedelta(days=23), 7),
        (timedelta(days=29), 1),
        (timedelta(days=30), 0),
    ]
    # Reminders already past are skipped (a replayed or late start).
    later = engagement_rules.consent_checkpoints(NOW, NOW + timedelta(days=25))
    assert [p.days_before_lapse for p in later] == [1, 0]
