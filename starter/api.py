"""The portal's HTTP door: a JSON API for portal backends and the survey pages for respondents.

Run it beside the worker with ``uvicorn starter.api:app``. It reads the
worker's environment (:func:`settings.load_settings`: Temporal connection,
task queue, database, public URL, secret key) plus `CLAIMS_API_KEYS_FILE`
(default .data/api-keys.json) and `CLAIMS_BLOB_DIR` (default .data/blobs).
Tests build the same app with :func:`create_app` around their own
ClaimsClient, store, keys and blob folder.

Why FastAPI: the contract is already a set of pydantic models
(`workflows.messages`), and FastAPI validates request bodies with exactly
those models and generates the OpenAPI document from them, so the API, its
documentation (`openapi.json`, kept in the repository) and the workflow
contract can't drift apart. Underneath it is Starlette, which gives the
survey pages (Jinja2, plain HTML forms), streaming uploads and ASGI
middleware without a second framework.

What the API adds to the workflows, and nothing more:
- who is calling (bearer API keys, :mod:`starter.auth`): the caller's
  identity becomes the `actor` of every message, and a body can't name one;
- who may see what: partner roles see their own partner's claims only
  (another partner's claim answers 404 exactly like an unknown one),
  reviewers see every claim and may only review;
- documents: uploads streamed into the blob store (:mod:`starter.blobs`)
  before `attach_document` names them;
- errors as RFC 9457 problem documents whose `title` is the refusal type.
"""

from __future__ import annotations

import asyncio
import base64
import csv
import hashlib
import hmac
import io
import logging
import os
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, cast, get_args
from urllib.parse import parse_qsl, urlsplit

from fastapi import Body, Depends, FastAPI, Query, Request, Response, Security
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, StreamingResponse
from fastapi.routing import APIRouter
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from python_multipart.multipart import parse_options_header
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from temporalio.service import RPCError, RPCStatusCode

from activities.links import InvalidSurveyLink, SurveyLinkRef, SurveyLinks
from activities.store import ClaimStore, InvalidCursor
from settings import SettingsError, load_settings
from starter.auth import ApiKeyFile, ApiKeys, Caller
from starter.blobs import (
    DEFAULT_BLOB_DIR,
    BlobStore,
    UploadRefused,
    receive_multipart_upload,
)
from starter.client import (
    ClaimAlreadyFinished,
    ClaimNotFound,
    ClaimRefused,
    ClaimsClient,
    SurveyLinkExpired,
)
from starter.keys import DEFAULT_KEYS_FILE
from starter.surveys import (
    QUESTIONS,
    RATING_VALUES,
    TEXTS,
    locale_from_accept_language,
    pick_locale,
    validate_answers,
)
from workflows.messages import (
    IDENTIFIER_PATTERN,
    AddComment,
    Approve,
    AttachDocument,
    ClaimInput,
    ClaimStatus,
    ClaimView,
    Contact,
    Document,
    DocumentKind,
    HistoryEntry,
    Identifier,
    Locale,
    LongText,
    Name,
    Party,
    ProofItem,
    Reject,
    RequestInfo,
    SendSurvey,
    Submit,
    SurveyKind,
    UpdateContacts,
)
from workflows.rules import ACTIONS, PARTNER_ROLES, REVIEWER_ROLES

log = logging.getLogger("claims.api")

API_PREFIX = "/api/v1"
API_VERSION = "1.0.0"
SURVEY_POLL_SECONDS = 10.0
"""How long a survey POST waits for the claim to record the answers before answering."""
MAX_SURVEY_FORM_BYTES = 64 * 1024
PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:workshop-claims:problem:"
TEMPLATES = Path(__file__).parent / "templates"


# --- what the app runs on ------------------------------------------------------------------


@dataclass(frozen=True)
class Portal:
    """Everything a request needs; made once per app (from the environment, or by a test)."""

    claims: ClaimsClient
    store: ClaimStore
    keys: ApiKeys
    blobs: BlobStore
    secret_key: bytes
    public_url: str

    @property
    def links(self) -> SurveyLinks:
        return self.claims.links


@asynccontextmanager
async def portal_from_env(env: Mapping[str, str] | None = None) -> AsyncIterator[Portal]:
    """Build the portal from the environment (the worker's settings plus the API's two)."""
    from worker import connect  # the worker's one way to connect, with the claims converter

    env = os.environ if env is None else env
    try:
        settings = load_settings(env)
    except SettingsError as err:
        log.error("configuration error: %s", err)
        raise RuntimeError(f"configuration error: {err}") from None
    keys_file = Path(env.get("CLAIMS_API_KEYS_FILE", "").strip() or DEFAULT_KEYS_FILE)
    blob_dir = Path(env.get("CLAIMS_BLOB_DIR", "").strip() or DEFAULT_BLOB_DIR)
    await asyncio.to_thread(blob_dir.mkdir, parents=True, exist_ok=True)
    store = ClaimStore.from_url(settings.database_url)
    try:
        await store.migrate()
        client = await connect(settings)
        links = SurveyLinks(settings.secret_key, settings.public_url)
        yield Portal(
            claims=ClaimsClient(client, task_queue=settings.task_queue, links=links),
            store=store,
            keys=ApiKeyFile(keys_file),
            blobs=BlobStore(blob_dir),
            secret_key=settings.secret_key,
            public_url=settings.public_url,
        )
    finally:
        await store.close()


def _portal(request: Request) -> Portal:
    return cast(Portal, request.app.state.portal)


PortalDep = Annotated[Portal, Depends(_portal)]


# --- problems (RFC 9457) ---------------------------------------------------------------------

REFUSAL_STATUS: Mapping[str, int] = {
    "InvalidInput": 422,
    "NotAllowed": 403,
    "WrongState": 409,
    "Incomplete": 409,
    "ContactLocked": 409,
    "SurveyCompleted": 409,
    "DeadlinePassed": 410,
}
"""The HTTP status of each refusal type of the workflow."""

HTTP_TITLES: Mapping[int, str] = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "NotAllowed",
    404: "NotFound",
    405: "MethodNotAllowed",
    406: "NotAcceptable",
    413: "PayloadTooLarge",
    415: "UnsupportedMediaType",
    422: "InvalidInput",
    500: "InternalError",
    503: "Unavailable",
}


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """An error, as RFC 9457 problem details; `title` is the refusal type."""

    type: str = Field(description="URI naming the kind of problem")
    title: str = Field(
        description="the refusal type (InvalidInput, NotAllowed, WrongState, Incomplete, "
        "ContactLocked, SurveyCompleted, DeadlinePassed) or NotFound, Unauthorized, "
        "DocumentTooLarge, UnsupportedDocumentType, ..."
    )
    status: int
    detail: str = Field(description="what was wrong, in words a portal can show")
    instance: str | None = None
    missing: list[ProofItem] | None = Field(
        default=None, description="Incomplete: the proof items still missing, in order"
    )
    errors: list[FieldProblem] | None = Field(
        default=None, description="InvalidInput from request validation: one entry per field"
    )


class ProblemError(Exception):
    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        *,
        headers: Mapping[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = extra


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    *,
    headers: Mapping[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = Problem(
        type=PROBLEM_TYPE_PREFIX + title,
        title=title,
        status=status,
        detail=detail,
        instance=request.url.path,
        **extra,
    )
    return JSONResponse(
        body.model_dump(mode="json", exclude_none=True),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=dict(headers or {}),
    )


def not_found(engagement_id: str) -> ProblemError:
    """The one answer for an unknown claim and for a claim the caller may not see."""
    return ProblemError(404, "NotFound", f"there is no claim for engagement {engagement_id}")


def _field_name(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


def _validation_message(problem: Mapping[str, Any]) -> str:
    loc = tuple(problem.get("loc", ()))
    kind = problem.get("type", "")
    if kind == "extra_forbidden":
        if loc and loc[-1] == "actor":
            return "is not accepted: the actor is the holder of the API key"
        return "is not a known field"
    if kind == "missing":
        return "is required"
    if kind == "json_invalid":
        return "is not valid JSON"
    message = str(problem.get("msg", "is not valid"))
    return message.removeprefix("Value error, ")


def _validation_problems(err: RequestValidationError) -> list[FieldProblem]:
    return [
        FieldProblem(field=_field_name(tuple(p.get("loc", ()))), message=_validation_message(p))
        for p in err.errors()
    ]


# --- who is calling --------------------------------------------------------------------------

bearer = HTTPBearer(
    auto_error=False,
    description="An API key made with `python -m starter.keys create`, as "
    "`Authorization: Bearer <key>`.",
)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="workshop-claims"'}


async def current_caller(
    portal: PortalDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None:
        raise ProblemError(
            401,
            "Unauthorized",
            "give an API key as 'Authorization: Bearer <key>'",
            headers=_CHALLENGE,
        )
    caller = portal.keys.lookup(credentials.credentials)
    if caller is None:
        raise ProblemError(
            401,
            "Unauthorized",
            "the API key is not valid",
            headers={"WWW-Authenticate": 'Bearer realm="workshop-claims", error="invalid_token"'},
        )
    return caller


CallerDep = Annotated[Caller, Security(current_caller)]


def require_role(caller: Caller, action: str) -> None:
    """Partner actions are for partner roles, review actions for reviewers (403 otherwise)."""
    side = ACTIONS[action].side if action in ACTIONS else "partner"
    words = action.replace("_", " ")
    if side == "partner" and caller.role not in PARTNER_ROLES:
        raise ProblemError(
            403,
            "NotAllowed",
            f"{words} is done by the partner's incentives administrators or users, "
            f"not by the role '{caller.role}'",
        )
    if side == "reviewer" and caller.role not in REVIEWER_ROLES:
        raise ProblemError(
            403,
            "NotAllowed",
            f"{words} is done by the program's reviewers, not by the role '{caller.role}'",
        )


async def visible_claim(portal: Portal, caller: Caller, engagement_id: str) -> ClaimView:
    """The live view of a claim the caller may see; 404 alike for unknown and not theirs."""
    try:
        view = await portal.claims.get_claim(engagement_id)
    except ClaimNotFound:
        raise not_found(engagement_id) from None
    if not caller.sees_partner(view.partner.id):
        raise not_found(engagement_id)
    return view


# --- request and response bodies --------------------------------------------------------------


class RequestBody(BaseModel):
    """Base of request bodies: unknown fields (an `actor` among them) are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class StartClaimBody(RequestBody):
    """The workflow's start input without `actor` (the caller is the actor)."""

    engagement_id: Identifier
    partner: Party
    customer: Party
    workshop: Name
    consent_at: AwareDatetime
    partner_contacts: list[Contact] = Field(min_length=1, max_length=10)
    customer_contact: Contact


class EmptyBody(RequestBody):
    """No fields; `{}` or no body at all."""


class UpdateContactsBody(RequestBody):
    partner_contacts: list[Contact] | None = Field(default=None, min_length=1, max_length=10)
    customer_contact: Contact | None = None


class CommentBody(RequestBody):
    text: LongText


class RequestInfoBody(RequestBody):
    question: LongText


class ApproveBody(RequestBody):
    note: LongText | None = None


class RejectBody(RequestBody):
    reason: LongText


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
    view = ClaimView.model_validate(row["view"])
    return ClaimSummary(
        engagement_id=view.engagement_id,
        partner=view.partner,
        customer=view.customer,
        workshop=view.workshop,
        status=view.status,
        status_reason=view.status_reason,
        consent_at=view.consent_at,
        deadline_at=view.deadline_at,
        missing=view.missing,
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        submitted_at=view.submitted_at,
        decided_at=view.decided_at,
        paid_at=view.paid_at,
    )


EngagementId = Annotated[
    str,
    PathParam(pattern=IDENTIFIER_PATTERN, description="the claim's engagement id"),
]

_PROBLEM_DESCRIPTIONS: Mapping[int, str] = {
    401: "no API key, or one that is not valid",
    403: "NotAllowed: the caller's role may not do this",
    404: "NotFound: no such claim (or not one the caller may see)",
    409: "WrongState, Incomplete, ContactLocked or SurveyCompleted",
    410: "DeadlinePassed: the claim's 90 days ran out",
    413: "DocumentTooLarge: the file is over 25 MiB",
    415: "UnsupportedDocumentType: the file's content is not an allowed type",
    422: "InvalidInput: the request or the message is malformed; the detail names the field",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses an operation can give."""
    return {
        code: {"model": Problem, "description": _PROBLEM_DESCRIPTIONS[code]}
        for code in sorted({401, 422, *codes})
    }


CLAIM_ACTION_PROBLEMS = problems(403, 404, 409, 410)


# --- the API routes ----------------------------------------------------------------------------

router = APIRouter(prefix=API_PREFIX)


@router.post(
    "/claims",
    status_code=201,
    response_model=ClaimView,
    tags=["claims"],
    summary="Start a claim",
    responses={
        200: {"model": ClaimView, "description": "the engagement already had this running claim"},
        **problems(403, 409),
    },
)
async def start_claim(
    body: StartClaimBody, caller: CallerDep, portal: PortalDep, response: Response
) -> ClaimView:
    """Start the engagement's claim (201), or return the claim already running for it (200).

    A partner starts claims only for its own `partner.id`; a finished claim's
    engagement can't be claimed again (409)."""
    require_role(caller, "start")
    if caller.partner_id != body.partner.id:
        raise ProblemError(
            403,
            "NotAllowed",
            f"partner.id: your API key acts for partner {caller.partner_id}, "
            f"not for {body.partner.id}",
        )
    claim_input = ClaimInput.model_validate({**body.model_dump(), "actor": caller.actor})
    taken = ProblemError(
        409, "WrongState", f"engagement {body.engagement_id} is already claimed by another partner"
    )
    try:
        started = await portal.claims.start_claim(claim_input)
    except ClaimAlreadyFinished as err:
        if err.view is not None and not caller.sees_partner(err.view.partner.id):
            raise taken from None
        raise ProblemError(409, "WrongState", str(err)) from None
    if not caller.sees_partner(started.view.partner.id):
        raise taken
    response.status_code = 201 if started.created else 200
    return started.view


@router.get(
    "/claims",
    response_model=ClaimList,
    tags=["claims"],
    summary="List the caller's claims",
    responses=problems(),
)
async def list_claims(
    caller: CallerDep,
    portal: PortalDep,
    status: Annotated[ClaimStatus | None, Query()] = None,
    deadline_before: Annotated[
        AwareDatetime | None, Query(description="only claims whose deadline is before this")
    ] = None,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> ClaimList:
    """The caller's claims from the read model, newest first, a page at a time.

    Partner roles get their partner's claims, reviewers every claim."""
    try:
        page = await portal.store.list_claims(
            partner_id=caller.partner_id,
            status=status,
            deadline_before=deadline_before,
            customer_id=customer_id,
            limit=limit,
            cursor=cursor,
        )
    except InvalidCursor as err:
        raise ProblemError(422, "InvalidInput", f"cursor: {err}") from None
    return ClaimList(items=[summary_of(row) for row in page.rows], next_cursor=page.next_cursor)


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
    values: list[object] = [
        summary.engagement_id,
        summary.partner.id,
        summary.partner.name,
        summary.customer.id,
        summary.customer.name,
        summary.workshop,
        summary.status,
        summary.status_reason,
        summary.consent_at,
        summary.deadline_at,
        summary.created_at,
        summary.updated_at,
        summary.submitted_at,
        summary.decided_at,
        summary.paid_at,
        " ".join(summary.missing),
    ]
    return [_csv_cell(value) for value in values]


@router.get(
    "/claims/export.csv",
    response_class=StreamingResponse,
    tags=["claims"],
    summary="Export the caller's claims as CSV",
    responses={
        200: {
            "description": "one line per claim, newest first, with a header line",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **problems(),
    },
)
async def export_claims(
    caller: CallerDep,
    portal: PortalDep,
    status: Annotated[ClaimStatus | None, Query()] = None,
    deadline_before: Annotated[AwareDatetime | None, Query()] = None,
    customer_id: Annotated[str | None, Query(pattern=IDENTIFIER_PATTERN)] = None,
) -> StreamingResponse:
    """Every claim the caller may see (with the same filters as the list), as CSV."""

    async def lines() -> AsyncIterator[str]:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow(CSV_COLUMNS)
        cursor: str | None = None
        while True:
            page = await portal.store.list_claims(
                partner_id=caller.partner_id,
                status=status,
                deadline_before=deadline_before,
                customer_id=customer_id,
                limit=100,
                cursor=cursor,
            )
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


@router.get(
    "/claims/{engagement_id}",
    response_model=ClaimView,
    tags=["claims"],
    summary="The claim view (live)",
    responses=problems(404),
)
async def get_claim(engagement_id: EngagementId, caller: CallerDep, portal: PortalDep) -> ClaimView:
    return await visible_claim(portal, caller, engagement_id)


@router.get(
    "/claims/{engagement_id}/history",
    response_model=list[HistoryEntry],
    tags=["claims"],
    summary="The claim's audit trail",
    responses=problems(404),
)
async def get_history(
    engagement_id: EngagementId, caller: CallerDep, portal: PortalDep
) -> list[HistoryEntry]:
    return (await visible_claim(portal, caller, engagement_id)).history


_UPLOAD_SCHEMA = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["kind", "file"],
                    "properties": {
                        "kind": {"type": "string", "enum": list(get_args(DocumentKind))},
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": "PDF, Office document, image or e-mail; 25 MiB at most",
                        },
                    },
                    "additionalProperties": False,
                }
            }
        },
    }
}


def _refuse_unless_allowed(view: ClaimView, action: str) -> None:
    """Refuse before a costly step (an upload) what the claim would refuse anyway."""
    if action in view.allowed_actions:
        return
    if view.status == "auto_rejected" or view.status == "in_progress":
        raise ProblemError(
            410,
            "DeadlinePassed",
            f"the claim was not submitted by its deadline {view.deadline_at.isoformat()} "
            "(90 days after customer consent) and can no longer change",
        )
    raise ProblemError(
        409,
        "WrongState",
        f"{action.replace('_', ' ')} is not possible while the claim is "
        f"{view.status.replace('_', ' ')}",
    )


@router.post(
    "/claims/{engagement_id}/documents",
    response_model=ClaimView,
    tags=["documents"],
    summary="Upload a proof document and attach it",
    openapi_extra=_UPLOAD_SCHEMA,
    responses={**CLAIM_ACTION_PROBLEMS, **problems(413, 415)},
)
async def upload_document(
    engagement_id: EngagementId, request: Request, caller: CallerDep, portal: PortalDep
) -> ClaimView:
    """Multipart `kind` and `file`: the file is streamed to the blob store, checked by its
    content (PDF, Office, image, e-mail; 25 MiB at most), then attached to the claim
    (`attach_document`, the sniffed content type as `content_type`)."""
    require_role(caller, "attach_document")
    view = await visible_claim(portal, caller, engagement_id)
    _refuse_unless_allowed(view, "attach_document")
    upload = await receive_multipart_upload(
        portal.blobs,
        request.headers.get("content-type", ""),
        request.stream(),
        choices={"kind": frozenset(get_args(DocumentKind))},
    )
    blob = upload.blob
    document = Document(
        filename=blob.filename,
        content_type=blob.content_type,
        size_bytes=blob.size_bytes,
        sha256=blob.sha256,
        uri=blob.uri,
    )
    kind = cast(DocumentKind, upload.fields["kind"])
    return await portal.claims.attach_document(
        engagement_id, AttachDocument(kind=kind, document=document, actor=caller.actor)
    )


@router.get(
    "/claims/{engagement_id}/documents/{kind}",
    response_class=Response,
    tags=["documents"],
    summary="Download the current document of a kind",
    responses={
        200: {
            "description": "the file, with the content type it was accepted as",
            "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
        },
        **problems(404),
    },
)
async def download_document(
    engagement_id: EngagementId, kind: DocumentKind, caller: CallerDep, portal: PortalDep
) -> Response:
    view = await visible_claim(portal, caller, engagement_id)
    document = getattr(view.proof, kind).document
    if document is None:
        raise ProblemError(
            404, "NotFound", f"no {kind.replace('_', ' ')} document is attached to this claim"
        )
    path = portal.blobs.find(document.sha256)
    if path is None:
        log.error("blob %s of claim %s is missing from the store", document.sha256, engagement_id)
        raise ProblemError(404, "NotFound", "the stored file is missing; upload it again")
    return FileResponse(
        path,
        media_type=document.content_type,
        filename=document.filename,
        content_disposition_type="attachment",
    )


@router.post(
    "/claims/{engagement_id}/surveys/{kind}/send",
    response_model=ClaimView,
    tags=["surveys"],
    summary="E-mail a survey (first send or re-send)",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def send_survey(
    engagement_id: EngagementId,
    kind: SurveyKind,
    caller: CallerDep,
    portal: PortalDep,
    body: Annotated[EmptyBody | None, Body()] = None,
) -> ClaimView:
    """Mails the survey link: the partner survey to every partner contact, the customer
    survey to the customer contact. A re-send carries the same link."""
    require_role(caller, "send_survey")
    await visible_claim(portal, caller, engagement_id)
    return await portal.claims.send_survey(
        engagement_id, SendSurvey(kind=kind, channel="email", actor=caller.actor)
    )


@router.post(
    "/claims/{engagement_id}/surveys/partner/link",
    response_model=SurveyLinkOut,
    tags=["surveys"],
    summary="Open the partner survey directly (no e-mail)",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def partner_survey_link(
    engagement_id: EngagementId,
    caller: CallerDep,
    portal: PortalDep,
    body: Annotated[EmptyBody | None, Body()] = None,
) -> SurveyLinkOut:
    """Issues the partner survey (`send_survey` with `channel: "direct"`, nothing mailed)
    and answers its link, the same one the e-mail would carry."""
    require_role(caller, "send_survey")
    await visible_claim(portal, caller, engagement_id)
    view = await portal.claims.send_survey(
        engagement_id, SendSurvey(kind="partner", channel="direct", actor=caller.actor)
    )
    ref = SurveyLinkRef(engagement_id, "partner", view.proof.partner_survey.link_version)
    return SurveyLinkOut(url=portal.links.url(ref))


@router.put(
    "/claims/{engagement_id}/contacts",
    response_model=ClaimView,
    tags=["claims"],
    summary="Change the partner contacts and/or the customer contact",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def update_contacts(
    engagement_id: EngagementId, body: UpdateContactsBody, caller: CallerDep, portal: PortalDep
) -> ClaimView:
    """A changed contact whose survey was sent but not completed invalidates that link."""
    require_role(caller, "update_contacts")
    await visible_claim(portal, caller, engagement_id)
    msg = UpdateContacts.model_validate({**body.model_dump(), "actor": caller.actor})
    return await portal.claims.update_contacts(engagement_id, msg)


@router.post(
    "/claims/{engagement_id}/comments",
    response_model=ClaimView,
    tags=["claims"],
    summary="Add a comment",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def add_comment(
    engagement_id: EngagementId, body: CommentBody, caller: CallerDep, portal: PortalDep
) -> ClaimView:
    require_role(caller, "add_comment")
    await visible_claim(portal, caller, engagement_id)
    return await portal.claims.add_comment(
        engagement_id, AddComment(text=body.text, actor=caller.actor)
    )


@router.post(
    "/claims/{engagement_id}/submit",
    response_model=ClaimView,
    tags=["claims"],
    summary="Submit the claim for review",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def submit(
    engagement_id: EngagementId,
    caller: CallerDep,
    portal: PortalDep,
    body: Annotated[EmptyBody | None, Body()] = None,
) -> ClaimView:
    """Needs all four proof items (409 Incomplete lists the missing ones)."""
    require_role(caller, "submit")
    await visible_claim(portal, caller, engagement_id)
    return await portal.claims.submit(engagement_id, Submit(actor=caller.actor))


@router.post(
    "/claims/{engagement_id}/review/request-info",
    response_model=ClaimView,
    tags=["review"],
    summary="Ask the partner a question (reviewer)",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def request_info(
    engagement_id: EngagementId, body: RequestInfoBody, caller: CallerDep, portal: PortalDep
) -> ClaimView:
    require_role(caller, "request_info")
    await visible_claim(portal, caller, engagement_id)
    return await portal.claims.request_info(
        engagement_id, RequestInfo(question=body.question, actor=caller.actor)
    )


@router.post(
    "/claims/{engagement_id}/review/approve",
    response_model=ClaimView,
    tags=["review"],
    summary="Approve the claim (reviewer)",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def approve(
    engagement_id: EngagementId,
    caller: CallerDep,
    portal: PortalDep,
    body: Annotated[ApproveBody | None, Body()] = None,
) -> ClaimView:
    require_role(caller, "approve")
    await visible_claim(portal, caller, engagement_id)
    note = body.note if body is not None else None
    return await portal.claims.approve(engagement_id, Approve(note=note, actor=caller.actor))


@router.post(
    "/claims/{engagement_id}/review/reject",
    response_model=ClaimView,
    tags=["review"],
    summary="Reject the claim (reviewer)",
    responses=CLAIM_ACTION_PROBLEMS,
)
async def reject(
    engagement_id: EngagementId, body: RejectBody, caller: CallerDep, portal: PortalDep
) -> ClaimView:
    require_role(caller, "reject")
    await visible_claim(portal, caller, engagement_id)
    return await portal.claims.reject(engagement_id, Reject(reason=body.reason, actor=caller.actor))


# --- survey pages ------------------------------------------------------------------------------

PAGE_CSS = (
    "body{font-family:system-ui,sans-serif;line-height:1.5;max-width:42rem;margin:0 auto;"
    "padding:1rem;color:#1a1a1a;background:#fff}"
    "h1{font-size:1.6rem}"
    ".language{text-align:right}"
    ".field{margin:1.25rem 0}"
    "fieldset{border:1px solid #767676;padding:.75rem 1rem}"
    "legend{font-weight:600;padding:0 .25rem}"
    "label{font-weight:600}"
    ".choice label{font-weight:400;margin:0 1rem 0 .25rem}"
    ".hint{color:#4a4a4a;display:block;margin:.25rem 0}"
    ".required{font-weight:400;color:#4a4a4a}"
    ".error{color:#b00020;font-weight:600;display:block}"
    ".errors{border:3px solid #b00020;padding:.5rem 1rem;margin:1rem 0}"
    "textarea,select{font:inherit;width:100%;box-sizing:border-box}"
    "input[type=radio]{width:1.2rem;height:1.2rem;vertical-align:middle}"
    "button{font:inherit;font-weight:600;padding:.6rem 1.2rem;background:#0b5394;color:#fff;"
    "border:0;border-radius:4px}"
    ":focus-visible{outline:3px solid #f5a623;outline-offset:2px}"
)
_CSS_HASH = base64.b64encode(hashlib.sha256(PAGE_CSS.encode()).digest()).decode()
CONTENT_SECURITY_POLICY = (
    f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS: tuple[tuple[bytes, bytes], ...] = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"same-origin"),
    (b"x-content-type-options", b"nosniff"),
    (b"cache-control", b"no-store"),
)


class SecurityHeaders:
    """Adds the security headers to every response (pages, JSON and downloads alike)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _origin(url: str) -> str:
    parts = urlsplit(url.strip().lower())
    host = parts.hostname or ""
    port = parts.port
    if port is None or (parts.scheme, port) in (("http", 80), ("https", 443)):
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


class SurveyPages:
    """Renders the survey pages: one Jinja2 environment, autoescaped."""

    def __init__(self) -> None:
        self.env = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    def render(
        self, template: str, status: int, lang: Locale, title: str, **context: Any
    ) -> HTMLResponse:
        html = self.env.get_template(template).render(
            lang=lang,
            other_lang="nl" if lang == "en" else "en",
            t=TEXTS[lang],
            title=title,
            css=Markup(PAGE_CSS),  # our own constant, hashed into the CSP
            **context,
        )
        return HTMLResponse(html, status_code=status)

    def message(
        self, template: str, status: int, lang: Locale, title_key: str, body_key: str, **fields: str
    ) -> HTMLResponse:
        texts = TEXTS[lang]
        return self.render(
            template, status, lang, texts[title_key], message=texts[body_key].format(**fields)
        )


PAGES = SurveyPages()


def form_token(secret_key: bytes, token: str) -> str:
    """The survey form's anti-forgery token: HMAC of the survey token, so only our form has it."""
    return hmac.new(secret_key, b"survey-form" + token.encode(), hashlib.sha256).hexdigest()


def _requested_locale(request: Request, *fallbacks: str | None) -> Locale:
    return pick_locale(
        request.query_params.get("lang"),
        *fallbacks,
        locale_from_accept_language(request.headers.get("accept-language")),
    )


def _gone_page(view: ClaimView, ref: SurveyLinkRef, lang: Locale) -> HTMLResponse:
    """Why a genuine link no longer works: done, replaced by a newer link, or claim closed."""
    proof = getattr(view.proof, f"{ref.kind}_survey")
    if proof.status == "completed":
        body = "gone_completed"
    elif proof.link_version != ref.link_version or proof.status == "invalidated":
        body = "gone_invalidated"
    else:
        body = "gone_closed"
    return PAGES.message("survey_gone.html.j2", 410, lang, "gone_title", body)


def _respondents(view: ClaimView, kind: SurveyKind) -> list[Contact]:
    return list(view.partner_contacts) if kind == "partner" else [view.customer_contact]


def _form_page(
    portal: Portal,
    token: str,
    kind: SurveyKind,
    view: ClaimView,
    lang: Locale,
    *,
    status: int = 200,
    form: Mapping[str, str] | None = None,
    errors: Mapping[str, str] | None = None,
) -> HTMLResponse:
    texts = TEXTS[lang]
    intro = texts[f"intro_{kind}"].format(
        workshop=view.workshop,
        customer=view.customer.name,
        partner=view.partner.name,
        engagement_id=view.engagement_id,
    )
    return PAGES.render(
        "survey_form.html.j2",
        status,
        lang,
        texts[f"title_{kind}"],
        intro=intro,
        questions=QUESTIONS[kind],
        ratings=RATING_VALUES,
        respondents=_respondents(view, kind),
        csrf_token=form_token(portal.secret_key, token),
        form=dict(form or {}),
        errors=dict(errors or {}),
    )


pages = APIRouter(include_in_schema=False)


@pages.get("/surveys/{token}", response_class=HTMLResponse)
async def survey_form(token: str, request: Request, portal: PortalDep) -> HTMLResponse:
    try:
        ref, view = await portal.claims.open_survey(token)
    except InvalidSurveyLink:
        lang = _requested_locale(request)
        return PAGES.message(
            "survey_not_found.html.j2", 404, lang, "not_found_title", "not_found_body"
        )
    except SurveyLinkExpired as err:
        ref = portal.links.verify(token)
        lang = _requested_locale(request, _respondents(err.view, ref.kind)[0].locale)
        return _gone_page(err.view, ref, lang)
    lang = _requested_locale(request, _respondents(view, ref.kind)[0].locale)
    return _form_page(portal, token, ref.kind, view, lang)


async def _read_form(request: Request) -> dict[str, str] | None:
    """The url-encoded form, or None when it is larger than a survey form can be."""
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > MAX_SURVEY_FORM_BYTES:
            return None
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "replace"),
            keep_blank_values=True,
            max_num_fields=50,
        )
    except ValueError:
        return None
    return dict(pairs)


@pages.post("/surveys/{token}", response_class=HTMLResponse)
async def survey_answers(token: str, request: Request, portal: PortalDep) -> HTMLResponse:
    """Check the form (origin, anti-forgery token, every answer), send `survey_completed`,
    and thank the respondent once the claim has recorded the answers."""
    try:
        ref = portal.links.verify(token)
    except InvalidSurveyLink:
        lang = _requested_locale(request)
        return PAGES.message(
            "survey_not_found.html.j2", 404, lang, "not_found_title", "not_found_body"
        )
    lang = _requested_locale(request)
    origin = request.headers.get("origin")
    if origin is not None and _origin(origin) != _origin(portal.public_url):
        log.warning("survey form posted from another origin %r", origin[:200])
        return PAGES.message("survey_refused.html.j2", 403, lang, "refused_title", "refused_body")
    media_type, _ = parse_options_header(request.headers.get("content-type", ""))
    if media_type != b"application/x-www-form-urlencoded":
        return PAGES.message("survey_refused.html.j2", 415, lang, "refused_title", "refused_body")
    form = await _read_form(request)
    if form is None:
        return PAGES.message(
            "survey_refused.html.j2", 413, lang, "too_large_title", "too_large_body"
        )
    asked = form.get("lang") or request.query_params.get("lang")
    lang = pick_locale(asked, lang)
    if not hmac.compare_digest(
        form.get("csrf_token", "").encode(), form_token(portal.secret_key, token).encode()
    ):
        return PAGES.message("survey_refused.html.j2", 403, lang, "refused_title", "refused_body")

    try:
        ref, view = await portal.claims.open_survey(token)
    except InvalidSurveyLink:
        return PAGES.message(
            "survey_not_found.html.j2", 404, lang, "not_found_title", "not_found_body"
        )
    except SurveyLinkExpired as err:
        contact = _respondents(err.view, ref.kind)[0]
        return _gone_page(err.view, ref, pick_locale(asked, contact.locale))
    lang = pick_locale(asked, _respondents(view, ref.kind)[0].locale)

    check = validate_answers(ref.kind, form, lang)
    errors = dict(check.errors)
    respondents = _respondents(view, ref.kind)
    choice = form.get("respondent", "0")
    if choice not in {str(index) for index in range(len(respondents))}:
        errors["respondent"] = TEXTS[lang]["error_respondent"]
    if errors:
        return _form_page(portal, token, ref.kind, view, lang, status=422, form=form, errors=errors)

    seen = len(view.history)
    respondent = respondents[int(choice)]
    try:
        await portal.claims.complete_survey(token, respondent.email, check.answers)
    except InvalidSurveyLink:
        return PAGES.message(
            "survey_not_found.html.j2", 404, lang, "not_found_title", "not_found_body"
        )
    except SurveyLinkExpired as err:
        return _gone_page(err.view, ref, lang)
    outcome = await _wait_for_completion(portal.claims, ref, seen)
    if outcome == "ignored":
        return _gone_page(await portal.claims.get_claim(ref.engagement_id), ref, lang)
    body = "thanks_body" if outcome == "completed" else "received_body"
    return PAGES.message(
        "survey_thanks.html.j2",
        200 if outcome == "completed" else 202,
        lang,
        "thanks_title",
        body,
        workshop=view.workshop,
    )


async def _wait_for_completion(
    claims: ClaimsClient, ref: SurveyLinkRef, seen: int
) -> Literal["completed", "ignored", "pending"]:
    """Poll the claim until it recorded our answers (or ignored them), briefly."""
    deadline = time.monotonic() + SURVEY_POLL_SECONDS
    while True:
        view = await claims.get_claim(ref.engagement_id)
        for entry in view.history[seen:]:
            if entry.detail.get("kind") != ref.kind:
                continue
            if entry.event == "survey_completed":
                return "completed"
            if entry.event == "survey_completion_ignored":
                return "ignored"
        if time.monotonic() > deadline:
            return "pending"
        await asyncio.sleep(0.05)


# --- the app -----------------------------------------------------------------------------------


class PortalApp(FastAPI):
    """FastAPI with error responses documented as application/problem+json."""

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            schema = super().openapi()
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    for code, response in operation.get("responses", {}).items():
                        content = response.get("content", {})
                        if code[:1] in ("4", "5") and "application/json" in content:
                            content[PROBLEM_JSON] = content.pop("application/json")
            self.openapi_schema = schema
        return self.openapi_schema


def _install_error_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> Response:
        err = cast(ProblemError, exc)
        return problem_response(
            request, err.status, err.title, err.detail, headers=err.headers, **err.extra
        )

    async def on_refused(request: Request, exc: Exception) -> Response:
        err = cast(ClaimRefused, exc)
        extra: dict[str, Any] = {}
        if err.type == "Incomplete":
            extra["missing"] = [str(item) for item in err.details]
        return problem_response(
            request, REFUSAL_STATUS.get(err.type, 422), err.type, err.message, **extra
        )

    async def on_not_found(request: Request, exc: Exception) -> Response:
        return problem_response(
            request, 404, "NotFound", f"there is no claim for engagement {exc.args[0]}"
        )

    async def on_upload_refused(request: Request, exc: Exception) -> Response:
        err = cast(UploadRefused, exc)
        return problem_response(request, err.status, err.title, err.message)

    async def on_invalid_request(request: Request, exc: Exception) -> Response:
        fields = _validation_problems(cast(RequestValidationError, exc))
        detail = "; ".join(f"{p.field}: {p.message}" for p in fields) or "the request is invalid"
        return problem_response(request, 422, "InvalidInput", detail, errors=fields)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        err = cast(StarletteHTTPException, exc)
        if request.url.path.startswith("/surveys"):
            lang = _requested_locale(request)
            return PAGES.message(
                "survey_not_found.html.j2",
                err.status_code,
                lang,
                "not_found_title",
                "not_found_body",
            )
        if err.status_code == 400:
            # FastAPI's answer to a body it can't even decode (e.g. not UTF-8): bad input.
            return problem_response(
                request,
                422,
                "InvalidInput",
                "body: could not be read as JSON",
                errors=[FieldProblem(field="body", message="could not be read as JSON")],
            )
        title = HTTP_TITLES.get(err.status_code, f"HTTP{err.status_code}")
        detail = {404: "there is no such resource", 405: "this method is not allowed here"}.get(
            err.status_code, str(err.detail)
        )
        return problem_response(request, err.status_code, title, detail, headers=err.headers)

    async def on_temporal_error(request: Request, exc: Exception) -> Response:
        err = cast(RPCError, exc)
        if err.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
            log.error("Temporal unavailable: %s", err)
            return problem_response(
                request, 503, "Unavailable", "the claims service is unavailable; try again"
            )
        raise err

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(ClaimRefused, on_refused)
    app.add_exception_handler(ClaimNotFound, on_not_found)
    app.add_exception_handler(UploadRefused, on_upload_refused)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RPCError, on_temporal_error)


def create_app(
    *,
    claims: ClaimsClient | None = None,
    store: ClaimStore | None = None,
    keys: ApiKeys | None = None,
    blob_dir: Path | None = None,
    secret_key: bytes | None = None,
    public_url: str | None = None,
) -> FastAPI:
    """The ASGI app. Give every part (tests) or none (then the lifespan reads the environment)."""
    injected: Portal | None = None
    if (
        claims is not None
        and store is not None
        and keys is not None
        and blob_dir is not None
        and secret_key is not None
        and public_url is not None
    ):
        injected = Portal(
            claims=claims,
            store=store,
            keys=keys,
            blobs=BlobStore(blob_dir),
            secret_key=secret_key,
            public_url=public_url.rstrip("/"),
        )
    elif any(part is not None for part in (claims, store, keys, blob_dir, secret_key, public_url)):
        raise TypeError(
            "create_app: give claims, store, keys, blob_dir, secret_key and public_url, or none"
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if injected is not None:
            yield
            return
        async with portal_from_env() as portal:
            app.state.portal = portal
            yield

    app = PortalApp(
        title="Workshop claims portal API",
        version=API_VERSION,
        description=(
            "Portal backends drive workshop claims (one Temporal workflow per claim) "
            "with bearer API keys. Errors are RFC 9457 problem documents whose `title` is "
            "the refusal type. See docs/api.md."
        ),
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        separate_input_output_schemas=False,
        generate_unique_id_function=lambda route: route.name,
    )
    if injected is not None:
        app.state.portal = injected
    app.add_middleware(SecurityHeaders)
    _install_error_handlers(app)
    app.include_router(router)
    app.include_router(pages)
    return app


app = create_app()
"""`uvicorn starter.api:app`: configured from the environment at start-up."""
