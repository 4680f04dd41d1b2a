"""Errors as RFC 9457 problem documents: one mapping of refusal type to HTTP status."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from collections.abc import Mapping
from typing import Any
from typing import Literal

from fastapi import Request
from fastapi import Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from pydantic import Field

from workflows.messages import ClaimView
from workflows.messages import ProofItem
from workflows.rules import SUBMISSION_WINDOW_DAYS

PROBLEM_JSON = "application/problem+json"
PROBLEM_TYPE_PREFIX = "urn:workshop-claims:problem:"


REFUSAL_STATUS: Mapping[str, int] = {
    "InvalidInput": 422,
    "NotAllowed": 403,
    "WrongState": 409,
    "Incomplete": 409,
    "ContactLocked": 409,
    "SurveyCompleted": 409,
    "DeadlinePassed": 410,
    "NotFound": 404,
    "TooManyRequests": 429,
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
    missing: list[ProofItem | Literal["info_response"]] | None = Field(
        default=None,
        description="Incomplete: the proof items still missing, in order, or "
        "`info_response` when the program's open question has no answer yet",
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
    metrics = getattr(request.app.state, "metrics", None)
    if metrics is not None:
        metrics.problems.labels(title).inc()
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


def validation_problems(err: RequestValidationError) -> list[FieldProblem]:
    return [
        FieldProblem(field=_field_name(tuple(p.get("loc", ()))), message=_validation_message(p))
        for p in err.errors()
    ]


_PROBLEM_DESCRIPTIONS: Mapping[int, str] = {
    401: "no API key, or one that is not valid",
    403: "NotAllowed: the caller's role may not do this",
    404: "NotFound: no such claim (or not one the caller may see)",
    409: "WrongState, Incomplete, ContactLocked or SurveyCompleted",
    410: f"DeadlinePassed: the claim's {SUBMISSION_WINDOW_DAYS} days ran out",
    413: "PayloadTooLarge: the body is over 64 KiB (uploads: DocumentTooLarge, over 25 MiB; "
    "StorageQuotaExceeded, over the claim's 100 MiB)",
    415: "UnsupportedDocumentType: the file's content is not an allowed type",
    422: "InvalidInput: the request or the message is malformed; the detail names the field",
    429: "TooManyRequests: too many requests (a survey re-sent within 10 minutes, or the "
    "key's rate limit); try again after `Retry-After` seconds",
    503: "Unavailable: Temporal is unreachable or busy, or the claim did not answer in time; "
    "try again after `Retry-After` seconds (a change: with the same `Idempotency-Key`)",
}


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries for the problem responses an operation can give."""
    return {
        code: {"model": Problem, "description": _PROBLEM_DESCRIPTIONS[code]}
        for code in sorted({401, 422, 503, *codes})
    }


CLAIM_ACTION_PROBLEMS = problems(403, 404, 409, 410, 413)
SURVEY_SEND_PROBLEMS = problems(403, 404, 409, 410, 413, 429)


def read(model: Any, tag: str, summary: str, *codes: int) -> dict[str, Any]:
    """The route options of a read: it answers `model`, or a problem."""
    return {
        "response_model": model,
        "tags": [tag],
        "summary": summary,
        "responses": problems(*codes),
    }


@contextlib.contextmanager
def checked_cursor(invalid: type[Exception]) -> Iterator[None]:
    """A page's cursor the listing did not make (it raises `invalid`) answers 422."""
    try:
        yield
    except invalid as err:
        raise ProblemError(422, "InvalidInput", f"cursor: {err}") from None


def created_or_found(
    model: type[BaseModel], tag: str, summary: str, found: str, *codes: int
) -> dict[str, Any]:
    """The route options of a call that creates something (201) or answers what was there
    already (200, described as `found`), or a problem."""
    return {
        "status_code": 201,
        "response_model": model,
        "tags": [tag],
        "summary": summary,
        "responses": {200: {"model": model, "description": found}, **problems(*codes)},
    }


def file_download(
    response_class: type[Response], tag: str, summary: str, what: str, media: str, *codes: int
) -> dict[str, Any]:
    """The route options of a call that answers a file of the `media` type (described as
    `what`; a text type is a string, any other binary), or a problem."""
    schema = {"type": "string"}
    if not media.startswith("text/"):
        schema["format"] = "binary"
    return {
        "response_class": response_class,
        "tags": [tag],
        "summary": summary,
        "responses": {
            200: {"description": what, "content": {media: {"schema": schema}}},
            **problems(*codes),
        },
    }


def claim_change(tag: str, summary: str) -> dict[str, Any]:
    """The route options of a change to a claim: it answers the claim view (without its
    growing lists), or a problem."""
    return {
        "response_model": ClaimView,
        "tags": [tag],
        "summary": summary,
        "response_description": "the claim view after the change, with `history`, `comments` "
        "and `questions` left empty (GET the claim for them)",
        "responses": CLAIM_ACTION_PROBLEMS,
    }
