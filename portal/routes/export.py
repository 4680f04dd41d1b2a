"""The caller's claims as CSV, for spreadsheets."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import datetime

from fastapi.responses import StreamingResponse
from fastapi.routing import APIRouter

from portal.context import PortalDep
from portal.deps import CallerDep
from portal.filters import ClaimFiltersDep
from portal.problems import file_download
from portal.routes import API_PREFIX
from portal.schemas import ClaimSummary
from portal.schemas import summary_of

router = APIRouter(prefix=API_PREFIX)


CSV_COLUMNS = (
    "engagement_id",
    "partner_id",
    "partner_name",
    "customer_id",
    "customer_name",
    "workshop",
    "status",
    "status_reason",
    "consent_at",
    "deadline_at",
    "created_at",
    "updated_at",
    "submitted_at",
    "decided_at",
    "paid_at",
    "missing",
)


def _csv_cell(value: object) -> str:
    """A cell as text; text a spreadsheet would run as a formula is quoted with a leading '."""
    if value is None:
        return ""
    text = value.isoformat() if isinstance(value, datetime) else str(value)
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + text
    return text


def _csv_row(summary: ClaimSummary) -> list[str]:
    """The summary's cells in CSV_COLUMNS order (parties flattened, missing items joined)."""
    cells: dict[str, object] = {
        **summary.model_dump(),
        "partner_id": summary.partner.id,
        "partner_name": summary.partner.name,
        "customer_id": summary.customer.id,
        "customer_name": summary.customer.name,
        "missing": " ".join(summary.missing),
    }
    return [_csv_cell(cells[column]) for column in CSV_COLUMNS]


@router.get(
    "/claims/export.csv",
    **file_download(
        StreamingResponse,
        "claims",
        "Export the caller's claims as CSV",
        "one line per claim, newest first, with a header line",
        "text/csv",
    ),
)
async def export_claims(
    caller: CallerDep, portal: PortalDep, filters: ClaimFiltersDep
) -> StreamingResponse:
    """Every claim the caller may see (with the same filters as the list), as CSV."""

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        cursor: str | None = None
        while True:
            page = await filters.page(portal, caller, 100, cursor)
            for row in page.rows:
                writer.writerow(_csv_row(summary_of(row)))
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    return StreamingResponse(
        lines(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="claims.csv"'},
    )
