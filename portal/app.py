"""The portal's HTTP door: a JSON API for portal backends and the survey pages for respondents.

Run it beside the worker with ``uvicorn portal.app:app``. It reads the
worker's environment (:func:`starter.settings.load_settings`: Temporal connection,
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
- who is calling (bearer API keys, :mod:`portal.auth`): the caller's
  identity becomes the `actor` of every message, and a body can't name one;
- who may see what: partner roles see their own partner's claims only
  (another partner's claim answers 404 exactly like an unknown one),
  reviewers see every claim and may only review;
- documents: uploads streamed into the blob store (:mod:`portal.blobs`)
  before `attach_document` names them;
- errors as RFC 9457 problem documents whose `title` is the refusal type.

Where things are: `portal.app` wires the app (lifespan, middleware, error
handlers, routers); `portal.context` is what a request runs on;
`portal.problems` the problem documents and the one mapping of refusal type
to HTTP status; `portal.deps` the caller (key -> caller -> role, tenancy);
`portal.schemas` the request and response bodies; `portal.routes.*` one
module per resource (claims, documents, surveys, review, export, engagements);
`portal.pages` the survey and consent pages and their templates; `portal.security` the
security headers; `portal.blobs` the document store; `portal.auth` the keys.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from collections.abc import Awaitable
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any
from typing import cast

from fastapi import FastAPI
from fastapi import Request
from fastapi import Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.client import WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError

from activities.store import ClaimStore
from portal.auth import ApiKeys
from portal.blobs import BlobStore
from portal.blobs import UploadRefused
from portal.context import Portal
from portal.context import from_env
from portal.context import metrics_bind_from_env
from portal.context import portal_from_env
from portal.context import wall_clock
from portal.limits import DEFAULT_RATE_LIMIT
from portal.limits import RateLimit
from portal.limits import RequestLimits
from portal.limits import rate_limit_from_env
from portal.metrics import PortalMetrics
from portal.metrics import RequestMetrics
from portal.pages import consent as consent_pages
from portal.pages import surveys as survey_pages
from portal.pages.render import PAGES
from portal.pages.render import requested_locale
from portal.problems import HTTP_TITLES
from portal.problems import PROBLEM_JSON
from portal.problems import REFUSAL_STATUS
from portal.problems import FieldProblem
from portal.problems import ProblemError
from portal.problems import problem_response
from portal.problems import validation_problems
from portal.routes import claims as claim_routes
from portal.routes import documents
from portal.routes import engagements
from portal.routes import export
from portal.routes import review
from portal.routes import surveys as survey_routes
from portal.security import SecurityHeaders
from portal.security import ServerErrors
from starter.client import TRANSIENT_RPC_STATUSES
from starter.client import ClaimNotFound
from starter.client import ClaimRefused
from starter.client import ClaimsClient
from starter.settings import load_catalogue
from workflows.engagements import WorkshopCatalogue
from workflows.rules import Refusal

API_VERSION = "1.0.0"

RETRY_AFTER_SECONDS = 5
"""What a 503 tells the caller to wait before trying again."""


log = logging.getLogger("claims.api")


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
        """A refusal of the claim's rules: asked here (rules.Refusal) or by the claim."""
        err = cast(ClaimRefused | Refusal, exc)
        extra: dict[str, Any] = {}
        headers: dict[str, str] = {}
        if err.type == "Incomplete":
            extra["missing"] = [str(item) for item in err.details]
        if err.type == "TooManyRequests" and err.details:
            headers["Retry-After"] = str(err.details[0])  # the seconds to wait
        return problem_response(
            request,
            REFUSAL_STATUS.get(err.type, 422),
            err.type,
            err.message,
            headers=headers,
            **extra,
        )

    async def on_not_found(request: Request, exc: Exception) -> Response:
        return problem_response(
            request, 404, "NotFound", f"there is no claim for engagement {exc.args[0]}"
        )

    async def on_upload_refused(request: Request, exc: Exception) -> Response:
        err = cast(UploadRefused, exc)
        return problem_response(request, err.status, err.title, err.message)

    async def on_invalid_request(request: Request, exc: Exception) -> Response:
        fields = validation_problems(cast(RequestValidationError, exc))
        detail = "; ".join(f"{p.field}: {p.message}" for p in fields) or "the request is invalid"
        return problem_response(request, 422, "InvalidInput", detail, errors=fields)

    async def on_http_error(request: Request, exc: Exception) -> Response:
        err = cast(StarletteHTTPException, exc)
        if request.url.path.startswith("/surveys"):
            lang = requested_locale(request)
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
        """Temporal busy, unreachable or too slow (a worker that doesn't answer in time):
        503 with Retry-After. Any other RPC error is the catch-all's 500."""
        if isinstance(exc, RPCError) and exc.status not in TRANSIENT_RPC_STATUSES:
            raise exc
        log.error("Temporal unavailable: %s: %s", type(exc).__name__, exc)
        return problem_response(
            request,
            503,
            "Unavailable",
            "the claims service is unavailable; try again",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(ClaimRefused, on_refused)
    app.add_exception_handler(Refusal, on_refused)
    app.add_exception_handler(ClaimNotFound, on_not_found)
    app.add_exception_handler(UploadRefused, on_upload_refused)
    app.add_exception_handler(RequestValidationError, on_invalid_request)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RPCError, on_temporal_error)
    app.add_exception_handler(WorkflowUpdateRPCTimeoutOrCancelledError, on_temporal_error)


def create_app(
    *,
    claims: ClaimsClient | None = None,
    store: ClaimStore | None = None,
    keys: ApiKeys | None = None,
    blob_dir: Path | None = None,
    secret_key: bytes | None = None,
    public_url: str | None = None,
    metrics: PortalMetrics | None = None,
    rate_limit: RateLimit | None = None,
    catalogue: WorkshopCatalogue | None = None,
    clock: Callable[[], Awaitable[datetime]] | None = None,
) -> FastAPI:
    """The ASGI app. Give every part (tests) or none (then the lifespan reads the environment).

    `metrics` (a test's own registry, or a new one) counts every request; from the
    environment, CLAIMS_PORTAL_METRICS_BIND serves them on a bind of their own.
    `rate_limit` is the per-key request rate (default 600 a minute; from the environment,
    CLAIMS_API_RATE_LIMIT; `app.state.rate_limit = None` turns it off)."""
    metrics = metrics or PortalMetrics()
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
            catalogue=catalogue if catalogue is not None else load_catalogue(),
            clock=clock or wall_clock,
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
        app.state.rate_limit = from_env(rate_limit_from_env)
        bind = metrics_bind_from_env()
        server = metrics.serve(bind) if bind else None
        if bind:
            log.info("portal metrics served at http://%s/metrics", bind)
        try:
            async with portal_from_env() as portal:
                app.state.portal = portal
                yield
        finally:
            if server is not None:
                server.shutdown()

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
    app.state.rate_limit = rate_limit or RateLimit(DEFAULT_RATE_LIMIT)
    app.state.metrics = metrics
    app.add_middleware(RequestLimits)  # innermost: its refusals get the headers too
    app.add_middleware(ServerErrors)
    app.add_middleware(SecurityHeaders)
    app.add_middleware(RequestMetrics, metrics=metrics, router=app.router)
    _install_error_handlers(app)
    app.include_router(export.router)  # before claims: /claims/export.csv is not a claim id
    app.include_router(claim_routes.router)
    app.include_router(documents.router)
    app.include_router(survey_routes.router)
    app.include_router(review.router)
    app.include_router(engagements.router)
    app.include_router(survey_pages.router)
    app.include_router(consent_pages.router)
    return app


app = create_app()
"""`uvicorn portal.app:app`: configured from the environment at start-up."""
