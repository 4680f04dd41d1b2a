"""Limits at the door: who may send a body, and how large, decided before it is read.

FastAPI reads and parses a JSON body before any dependency runs, so the key
check in :mod:`portal.deps` alone comes too late: a multi-GB body without a
key would be held in memory first. This middleware runs before the app:

- an API request (path under ``/api/``) without a valid bearer key is
  answered 401 at once, before a byte of its body is read;
- a key over its request rate (:class:`RateLimit`, `CLAIMS_API_RATE_LIMIT` requests a
  minute) is answered 429 (`TooManyRequests`, with `Retry-After`);
- a declared `Content-Length` over the limit is answered 413
  (`PayloadTooLarge`) at once; a body sent without one is counted while it
  streams and refused at the first byte over the limit, so nothing larger is
  ever buffered.

The limit is :data:`MAX_JSON_BODY_BYTES` for every body except multipart
uploads, which get the document limit plus the form's overhead (the blob
store counts the file itself again, exactly, while streaming it to disk).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING
from typing import Any

from fastapi import Request
from starlette.exceptions import HTTPException
from starlette.types import Message
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send

from portal.auth import Caller
from portal.blobs import MAX_FORM_OVERHEAD
from portal.problems import ProblemError
from portal.problems import problem_response
from portal.routes import API_PREFIX
from portal.security import HttpMiddleware
from starter.settings import SettingsError
from workflows.messages import MAX_DOCUMENT_BYTES

if TYPE_CHECKING:
    from portal.context import Portal

MAX_JSON_BODY_BYTES = 64 * 1024
"""The largest body of a JSON request (and of a survey form post)."""
MAX_UPLOAD_BODY_BYTES = MAX_DOCUMENT_BYTES + MAX_FORM_OVERHEAD
"""The largest multipart body: a 25 MiB document and its form around it."""

CALLER_STATE = "caller"
"""Where the middleware leaves the caller it found, so the dependency doesn't look again."""

_CHALLENGE = 'Bearer realm="workshop-claims"'

RATE_LIMIT_VARIABLE = "CLAIMS_API_RATE_LIMIT"
DEFAULT_RATE_LIMIT = 600
"""Requests a minute per API key, unless CLAIMS_API_RATE_LIMIT says otherwise."""


class RateLimit:
    """Requests a minute per API key holder, as a token bucket: a burst of up to a minute's
    worth, then one request per 60/`per_minute` seconds. One bucket per key holder, so
    memory is bounded by the keys file, not by what callers send."""

    def __init__(self, per_minute: int) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}  # holder -> (tokens, when)

    def take(self, holder: str, now: float | None = None) -> float:
        """Take one request from `holder`'s bucket: 0.0 if allowed, else the seconds until
        the next one would be."""
        now = time.monotonic() if now is None else now
        rate = self.per_minute / 60.0
        tokens, when = self._buckets.get(holder, (float(self.per_minute), now))
        tokens = min(float(self.per_minute), tokens + (now - when) * rate)
        if tokens >= 1.0:
            self._buckets[holder] = (tokens - 1.0, now)
            return 0.0
        self._buckets[holder] = (tokens, now)
        return (1.0 - tokens) / rate


def rate_limit_from_env(env: Mapping[str, str]) -> RateLimit | None:
    """CLAIMS_API_RATE_LIMIT: requests a minute per API key (default 600); 0 turns it off."""
    raw = env.get(RATE_LIMIT_VARIABLE, "").strip()
    if not raw:
        return RateLimit(DEFAULT_RATE_LIMIT)
    if not (raw.isascii() and raw.isdigit()):
        raise SettingsError(
            f"{RATE_LIMIT_VARIABLE} must be a whole number of requests a minute, got {raw!r}"
        )
    return RateLimit(int(raw)) if int(raw) > 0 else None


class BodyTooLarge(HTTPException):
    """A body over its limit: 413 `PayloadTooLarge`. An HTTPException, because FastAPI lets
    only those through unchanged when reading a body fails (anything else becomes a 400)."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, too_large_detail(limit))


def too_large_detail(limit: int) -> str:
    return f"the request body is larger than {limit} bytes"


def authenticate(portal: Portal, authorization: str | None) -> Caller:
    """The caller an `Authorization` header names, or the 401 problem saying why there is none.

    One place for both the middleware (before the body) and the dependency."""
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise ProblemError(
            401,
            "Unauthorized",
            "give an API key as 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": _CHALLENGE},
        )
    caller = portal.keys.lookup(key.strip())
    if caller is None:
        raise ProblemError(
            401,
            "Unauthorized",
            "the API key is not valid",
            headers={"WWW-Authenticate": f'{_CHALLENGE}, error="invalid_token"'},
        )
    return caller


def body_limit(scope: Scope) -> int:
    """The largest body this request may carry (multipart uploads get the document limit)."""
    content_type = _header(scope, b"content-type") or ""
    if content_type.lower().startswith("multipart/form-data"):
        return MAX_UPLOAD_BODY_BYTES
    return MAX_JSON_BODY_BYTES


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key.lower() == name:
            return bytes(value).decode("latin-1")
    return None


def _declared_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    if raw is None:
        return None
    try:
        return int(raw.strip())
    except ValueError:
        return None


def _check_rate(rate_limit: RateLimit, caller: Caller) -> None:
    wait = rate_limit.take(caller.user)
    if wait > 0:
        raise ProblemError(
            429,
            "TooManyRequests",
            f"this API key is limited to {rate_limit.per_minute} requests a minute; "
            "try again later",
            headers={"Retry-After": str(max(1, math.ceil(wait)))},
        )


async def _answer(scope: Scope, receive: Receive, send: Send, problem: ProblemError) -> None:
    response = problem_response(
        Request(scope), problem.status, problem.title, problem.detail, headers=problem.headers
    )
    await response(scope, receive, send)


class RequestLimits(HttpMiddleware):
    """The key, its rate and the body size, checked before the app reads anything."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not str(scope["path"]).startswith(API_PREFIX + "/"):
            await self.app(scope, receive, send)  # the survey pages keep their own limits
            return
        try:
            self._admit(scope)
        except ProblemError as refused:
            await _answer(scope, receive, send, refused)
            return
        limit = body_limit(scope)
        received = 0

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        await self.app(scope, counted_receive, send)

    def _admit(self, scope: Scope) -> None:
        """Refuse what can be refused from the head alone: no key, or a declared size too big."""
        portal: Any = getattr(scope["app"].state, "portal", None)
        if portal is not None:
            caller = authenticate(portal, _header(scope, b"authorization"))
            scope.setdefault("state", {})[CALLER_STATE] = caller
            rate_limit: RateLimit | None = getattr(scope["app"].state, "rate_limit", None)
            if rate_limit is not None:
                _check_rate(rate_limit, caller)
        declared = _declared_length(scope)
        limit = body_limit(scope)
        if declared is not None and declared > limit:
            raise ProblemError(413, "PayloadTooLarge", too_large_detail(limit))
