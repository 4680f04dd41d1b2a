"""How the command line prints claims for people: a table, a checklist, a history."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime

from starter.client import ClaimSummary
from workflows.messages import ClaimStatus
from workflows.messages import ClaimView
from workflows.operator_text import mail_waiting_text
from workflows.rules import days_left
from workflows.texts import ITEM_LABELS
from workflows.texts import status_words


def _day(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d") if moment else "-"


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def claims_table(claims: list[ClaimSummary], now: datetime) -> str:
    """Claims as an aligned table; days left only for claims still in progress."""
    header = (
        "ENGAGEMENT",
        "STATUS",
        "PARTNER",
        "CUSTOMER",
        "DEADLINE",
        "DAYS LEFT",
        "MISSING",
        "SINCE",
    )
    rows = [header]
    for claim in claims:
        left = (
            str(days_left(claim.deadline, now))
            if claim.deadline and claim.status == "in_progress"
            else "-"
        )
        rows.append(
            (
                claim.engagement_id,
                claim.status or "?",
                claim.partner_id or "?",
                claim.customer_id or "?",
                _day(claim.deadline),
                left,
                ",".join(claim.missing) or "-",
                _since(claim.status_since, now),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    lines.append(f"{len(claims)} claim{'' if len(claims) == 1 else 's'}")
    return "\n".join(lines)


def _status(status: ClaimStatus) -> str:
    """The status, and its words where they say more than its name."""
    words = status_words(status)
    return status if words == status.replace("_", " ") else f"{status}, {words}"


def _since(moment: datetime | None, now: datetime) -> str:
    """When the claim entered its status, and how many whole days ago."""
    if moment is None:
        return "-"
    return f"{_day(moment)} ({(now - moment).days}d)"


def claims_json(claims: list[ClaimSummary]) -> str:
    return json.dumps([asdict(c) for c in claims], default=str, indent=2)


def claim_text(view: ClaimView, now: datetime) -> str:
    """One claim for an operator: status, deadline, proof checklist, history."""
    lines = [
        f"Claim {view.engagement_id}: {view.workshop}",
        f"  partner  {view.partner.name} ({view.partner.id})",
        f"  customer {view.customer.name} ({view.customer.id})",
        f"Status: {_status(view.status)}"
        + (f" ({view.status_reason})" if view.status_reason else ""),
    ]
    if view.mail_waiting is not None:
        lines.append(f"Mail: {mail_waiting_text(view.mail_waiting)}")
    if view.reply_until is not None:
        lines.append(f"Reply window: until {_stamp(view.reply_until)}")
    if view.dispute_until is not None:
        lines.append(f"Dispute window: until {_stamp(view.dispute_until)}")
    if view.status == "in_progress":
        days = days_left(view.deadline_at, now)
        lines.append(f"Deadline: {_stamp(view.deadline_at)} ({days} days left)")
    else:
        lines.append(f"Deadline: {_stamp(view.deadline_at)} (no longer applies)")
    lines.append("Proof:")
    for item, label in ITEM_LABELS["en"].items():
        proof = getattr(view.proof, item)
        done = item not in view.missing
        extra = ""
        if item.endswith("_survey"):
            extra = f" ({proof.status}, sent {proof.sent_count}x, link v{proof.link_version})"
        elif proof.document is not None:
            extra = f" ({proof.document.filename})"
        lines.append(f"  [{'x' if done else ' '}] {label}{extra}")
    lines.append(f"Allowed now: {', '.join(view.allowed_actions) or _nothing_allowed(view)}")
    lines.append("History:")
    for entry in view.history:
        who = f"{entry.actor.user} ({entry.actor.role})" if entry.actor else "system"
        lines.append(f"  {_stamp(entry.at)}  {entry.event:<28} {who}{_detail(entry.detail)}")
    return "\n".join(lines)


NOTHING_ALLOWED: dict[str, str] = {
    "approved": "nothing (approved: paid in the next payment cycle)",
    "in_progress": "nothing (the deadline has passed; the claim is being closed)",
}
"""Why no action is open, for the statuses where that is not the claim's end."""

DETAIL_WIDTH = 60


def _nothing_allowed(view: ClaimView) -> str:
    return NOTHING_ALLOWED.get(view.status, "nothing (the claim is over)")


def _detail(detail: dict[str, object]) -> str:
    """A history entry's details on its line: the plain values, long texts cut short
    (the whole entry is in `show --json`)."""
    shown = []
    for key, value in detail.items():
        if isinstance(value, dict | list) or value is None:
            continue
        text = " ".join(str(value).split())
        if len(text) > DETAIL_WIDTH:
            text = text[: DETAIL_WIDTH - 1] + "…"
        shown.append(f"{key}={text}")
    return "  " + " ".join(shown) if shown else ""
