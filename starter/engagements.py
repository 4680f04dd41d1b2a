"""`python -m starter engagements ...`: the program's engagement registry from a shell.

    python -m starter engagements import engagements.csv   # idempotent; bad rows reported
    python -m starter engagements list [--partner P-42] [--eligible true|false] [--json]
    python -m starter engagements show eng-42

The CSV has a header row with these columns (any order; extra columns are an error):
engagement_id, partner_id, partner_name, customer_id, customer_name, workshop_type,
consent_at (ISO 8601 with a UTC offset, e.g. 2026-11-20T09:30:00+01:00; empty when the
customer is to be asked by consent request), contact_name, contact_email, contact_locale
(en or nl; empty is en). Every row is checked by the same rules as
`PUT /api/v1/engagements/{id}`: good rows are recorded (again: unchanged), every bad row
is reported with its line and reason, and the exit status is 1 when any row was refused.
These commands read and write CLAIMS_DATABASE_URL only (a claim "exists" for them when
the read model has it) and never connect to Temporal.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from activities.engagements import EngagementRegistry
from activities.engagements import InvalidEngagementCursor
from activities.store import ClaimStore
from starter.settings import Settings
from workflows import engagement_rules
from workflows.engagements import EngagementFields
from workflows.engagements import EngagementItem
from workflows.messages import Actor
from workflows.messages import describe_validation_error
from workflows.rules import Refusal

CSV_COLUMNS: tuple[str, ...] = (
    "engagement_id",
    "partner_id",
    "partner_name",
    "customer_id",
    "customer_name",
    "workshop_type",
    "consent_at",
    "contact_name",
    "contact_email",
    "contact_locale",
)


class EngagementsError(Exception):
    """The command could not do what was asked (unreadable file, unknown engagement)."""


@dataclass(frozen=True)
class ImportReport:
    recorded: list[tuple[int, str, str]]
    """(line, engagement id, created / unchanged / updated) of every good row."""
    refused: list[tuple[int, str]]
    """(line, reason) of every bad row."""


def add_engagement_commands(commands: Any) -> None:
    """Add `engagements ...` to the command line's subcommands."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "engagements",
        help="the engagement registry: import a CSV, list, show",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="engagements_command", required=True, metavar="ACTION")
    importing = sub.add_parser("import", help="record the engagements of a CSV file")
    importing.add_argument("csv_file", metavar="FILE.csv", type=Path)
    importing.add_argument(
        "--user", default="engagements-import", help="who records them (default: %(default)s)"
    )
    listing = sub.add_parser("list", help="list engagements by id")
    listing.add_argument("--partner", metavar="PARTNER_ID")
    listing.add_argument("--eligible", choices=("true", "false"))
    listing.add_argument("--limit", type=int, default=100, help="at most this many (default 100)")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    show = sub.add_parser("show", help="one engagement, as JSON")
    show.add_argument("engagement", metavar="ENGAGEMENT")


def _rows(text: str) -> Iterator[tuple[int, dict[str, str]]]:
    reader = csv.DictReader(io.StringIO(text))
    header = tuple(reader.fieldnames or ())
    unknown = [name for name in header if name not in CSV_COLUMNS]
    missing = [name for name in CSV_COLUMNS if name not in header and name != "contact_locale"]
    if unknown or missing:
        raise EngagementsError(
            f"line 1: the header must name the columns {', '.join(CSV_COLUMNS)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + (f"; missing: {', '.join(missing)}" if missing else "")
        )
    for row in reader:
        yield reader.line_num, {k: (v or "").strip() for k, v in row.items() if k is not None}


def fields_of(row: dict[str, str]) -> EngagementFields:
    """A CSV row as the facts of an engagement; ValidationError names the bad field."""
    return EngagementFields.model_validate(
        {
            "partner": {"id": row["partner_id"], "name": row["partner_name"]},
            "customer": {"id": row["customer_id"], "name": row["customer_name"]},
            "workshop_type": row["workshop_type"],
            "consent_at": row["consent_at"] or None,
            "customer_contact": {
                "name": row["contact_name"],
                "email": row["contact_email"],
                "locale": row.get("contact_locale") or "en",
            },
        }
    )


async def import_csv(
    registry: EngagementRegistry, settings: Settings, text: str, user: str, now: datetime
) -> ImportReport:
    """Record every good row; report every bad one with its line and reason."""
    actor = Actor(user=user, role="program_admin")
    recorded: list[tuple[int, str, str]] = []
    refused: list[tuple[int, str]] = []
    for line, row in _rows(text):
        engagement_id = row.get("engagement_id", "")
        try:
            fields = fields_of(row)
            if not engagement_rules.IDENTIFIER.fullmatch(engagement_id):
                raise Refusal(
                    "InvalidInput", "engagement_id: must be 1-64 letters, digits, '.', '_' or '-'"
                )
            engagement_rules.check_engagement(fields, settings.catalogue, now)
            outcome, _ = await registry.record(engagement_id, fields, actor, now)
        except ValidationError as err:
            refused.append((line, describe_validation_error(err)))
        except Refusal as refusal:
            refused.append((line, refusal.message))
        else:
            recorded.append((line, engagement_id, outcome))
    return ImportReport(recorded=recorded, refused=refused)


def _table(items: list[EngagementItem]) -> str:
    rows = [("ENGAGEMENT", "PARTNER", "WORKSHOP", "CONSENT", "DAYS LEFT", "CLAIM")]
    for item in items:
        rows.append(
            (
                item.engagement_id,
                item.partner.id,
                (item.workshop or item.workshop_type)[:26],
                item.consent_status or "-",
                "-" if item.days_left is None else str(item.days_left),
                item.claim_status or ("eligible" if item.eligible else "-"),
            )
        )
    return "\n".join(f"{a:<20} {b:<14} {c:<26} {d:<10} {e:>9}  {f}" for a, b, c, d, e, f in rows)


async def run_engagement_command(args: argparse.Namespace, settings: Settings) -> int:
    """Carry out `engagements <action>`; returns the exit status."""
    store = ClaimStore.from_url(settings.database_url)
    registry = EngagementRegistry(store.engine)
    now = datetime.now(UTC)
    try:
        await store.migrate()
        action: str = args.engagements_command
        if action == "import":
            try:
                text = await asyncio.to_thread(Path(args.csv_file).read_text, "utf-8-sig")
            except (OSError, UnicodeDecodeError) as err:
                raise EngagementsError(f"cannot read {args.csv_file}: {err}") from None
            report = await import_csv(registry, settings, text, args.user, now)
            for line, engagement_id, outcome in report.recorded:
                print(f"line {line}: {engagement_id} {outcome}")
            for line, reason in report.refused:
                print(f"line {line}: refused: {reason}", file=sys.stderr)
            counts = {
                o: sum(1 for r in report.recorded if r[2] == o)
                for o in ("created", "unchanged", "updated")
            }
            print(
                f"{len(report.recorded)} recorded ({counts['created']} created, "
                f"{counts['unchanged']} unchanged, {counts['updated']} updated), "
                f"{len(report.refused)} refused",
                file=sys.stderr,
            )
            return 1 if report.refused else 0
        if action == "show":
            engagement = await registry.get(args.engagement)
            if engagement is None:
                raise EngagementsError(f"there is no engagement {args.engagement}")
            statuses = await registry.claim_statuses([engagement.engagement_id])
            detail = engagement_rules.detail_of(
                engagement, statuses.get(engagement.engagement_id), settings.catalogue, now
            )
            print(detail.model_dump_json(indent=2))
            return 0
        eligible = None if args.eligible is None else args.eligible == "true"
        try:
            page = await registry.list(
                partner_id=args.partner, eligible=eligible, now=now, limit=max(1, args.limit)
            )
        except InvalidEngagementCursor as err:  # pragma: no cover - no cursor given here
            raise EngagementsError(str(err)) from None
        items = page.items(settings.catalogue, now)
        if args.json:
            print("[" + ",\n".join(item.model_dump_json() for item in items) + "]")
        else:
            print(_table(items))
        return 0
    finally:
        await store.close()
