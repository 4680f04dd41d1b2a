"""The codec server: lets the Temporal UI and CLI show claims' encrypted payloads to operators.

With CLAIMS_ENCRYPTION_KEYS set, everything a claim stores in Temporal is
encrypted (starter/codec.py), so the UI shows ciphertext. The UI and the
`temporal` CLI can send payloads to a *codec server* to be decoded; this is
ours. It speaks the Temporal codec server protocol: ``POST /encode`` and
``POST /decode`` (also under a namespace segment, ``/{namespace}/decode``, for
endpoint templating), each taking and returning ``{"payloads": [...]}``, the
protobuf JSON form of ``temporal.api.common.v1.Payloads`` (metadata values and
data in base64); a body that isn't that, or a payload that can't be decrypted,
is a 400.

Only operators may use it: a request must carry ``Authorization: Bearer
<token>`` where the token's SHA-256 is listed in the JSON file named by
CLAIMS_CODEC_OPERATOR_TOKENS_FILE (``[{"token_sha256": "...", "operator":
"name"}]``). No credentials: 401; a token nobody was given: 403; neither gets
any payload back. The Temporal UI can send a bearer header only when it has a
login of its own, so a browser may instead sign in once at ``/login`` with the
token and use the session cookie it gets (see `Sessions`). Every use is
logged with the operator's name and the number of payloads (never their
content). Browsers may call it only from the UI origins in
CLAIMS_CODEC_CORS_ORIGINS (default: the dev server's UI,
``http://127.0.0.1:8233`` and ``http://localhost:8233``); a request from any
other origin is refused outright, not just left unreadable by CORS.

Run: ``python -m uvicorn codec_server.app:app --host 127.0.0.1 --port 8081``
(configuration is read at start-up; a bad setting stops it with a message
naming the variable). Make an operator token:
``python -m codec_server new-token "Olga Operator"``.

References used: Temporal docs "Codec Server"
(docs.temporal.io/codec-server) and "Codecs and Encryption"
(docs.temporal.io/production-deployment/data-encryption); the protocol note
in temporalio/samples-go ``codec-server/protocol.md`` (Payloads as protobuf
JSON, 400 on bad input or decoder error, the ``X-Namespace`` header, only the
last path segment matters); temporalio/samples-python ``encryption/
codec_server.py`` (CORS preflight for the UI origin); the Temporal proxy's
codec server page (both localhost and 127.0.0.1 UI origins); temporalio/ui
``src/lib/services/data-encoder.ts`` (the UI posts to ``<endpoint>/decode``
with ``X-Namespace``, sends a bearer token only with its own login and an
https endpoint, else cookies with ``credentials: "include"``). See
docs/security.md for setup.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import ipaddress
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs
from urllib.parse import urlsplit

from google.protobuf import json_format
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.responses import JSONResponse
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp
from starlette.types import Receive
from starlette.types import Scope
from starlette.types import Send
from temporalio.api.common.v1 import Payload
from temporalio.api.common.v1 import Payloads

from starter.codec import EncryptionCodec
from starter.codec import PayloadDecryptionError
from starter.settings import ENCRYPTION_KEYS_VARIABLE
from starter.settings import SettingsError
from starter.settings import load_encryption_keys

log = logging.getLogger("claims.codec_server")

CORS_ORIGINS_VARIABLE = "CLAIMS_CODEC_CORS_ORIGINS"
TOKENS_FILE_VARIABLE = "CLAIMS_CODEC_OPERATOR_TOKENS_FILE"
TRUSTED_PROXIES_VARIABLE = "CLAIMS_CODEC_TRUSTED_PROXIES"
DEFAULT_CORS_ORIGINS = ("http://127.0.0.1:8233", "http://localhost:8233")
"""The dev server's UI: the browser's origin is whichever of the two was typed."""

MAX_BODY_BYTES = 16 * 1024 * 1024
"""Far above what the UI sends at once (one event's payloads), far below a memory problem."""

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
_NAMESPACE = re.compile(r"^[A-Za-z0-9._-]{1,255}$")


def loggable_namespace(value: str | None) -> str:
    """A namespace as a log line may show it: a Temporal namespace name, else a mark that
    there was something else (the path and the header are the caller's; a line break in
    them would forge log lines)."""
    if not value:
        return "-"
    return value if _NAMESPACE.fullmatch(value) else "(not a namespace name)"


Codec = Callable[[Sequence[Payload]], Awaitable[list[Payload]]]


def token_sha256(token: str) -> str:
    """What the tokens file keeps of a token: tokens are random, so a plain hash suffices."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Operator:
    """Someone allowed to read claims' payloads through the UI or CLI."""

    name: str
    token_sha256: str = field(repr=False)


class OperatorTokens:
    """The operators, found by the hash of the token they present.

    Made `from_file`, they follow the file: a changed file is read again at the next
    request, so removing an operator's entry ends their access (and their sessions) at
    once, no restart. A file that can no longer be read, or is no longer valid, refuses
    everyone until it is fixed (logged): never the old list, which may be the one an
    administrator was taking someone off."""

    def __init__(self, operators: Sequence[Operator], source: Path | None = None) -> None:
        self._operators = tuple(operators)
        self._source = source
        self._stamp = _file_stamp(source) if source is not None else None

    def __len__(self) -> int:
        self._refresh()
        return len(self._operators)

    def _refresh(self) -> None:
        if self._source is None:
            return
        stamp = _file_stamp(self._source)
        if stamp == self._stamp:
            return
        self._stamp = stamp
        try:
            self._operators = tuple(_read_operators(self._source))
        except SettingsError as err:
            log.error("operator tokens refused until the file is fixed: %s", err)
            self._operators = ()
        else:
            log.info("operator tokens read again: %d operators", len(self._operators))

    def find(self, token: str) -> Operator | None:
        """The token's operator, comparing every entry in constant time."""
        return self.find_by_digest(token_sha256(token))

    def find_by_digest(self, digest: str) -> Operator | None:
        self._refresh()
        found = None
        for operator in self._operators:
            if hmac.compare_digest(operator.token_sha256, digest):
                found = operator
        return found

    @classmethod
    def from_file(cls, path: Path) -> OperatorTokens:
        """Read ``[{"token_sha256": ..., "operator": ...}]`` and follow the file's changes;
        errors name the variable."""
        return cls(_read_operators(path), source=path)


def _file_stamp(path: Path) -> tuple[int, int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _read_operators(path: Path) -> list[Operator]:
    """The operators a tokens file lists, or `SettingsError` naming the variable."""
    where = f"{TOKENS_FILE_VARIABLE} ({path})"
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except OSError as err:
        raise SettingsError(f"{where}: can't read it: {err.strerror}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SettingsError(f"{where}: not valid JSON: {err}") from None
    if not isinstance(entries, list):
        raise SettingsError(f'{where}: must be a JSON list of {{"token_sha256", "operator"}}')
    operators = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or set(entry) != {"token_sha256", "operator"}:
            raise SettingsError(
                f'{where}: entry {index} must have exactly "token_sha256" and "operator"'
            )
        digest, name = entry["token_sha256"], entry["operator"]
        if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
            raise SettingsError(
                f"{where}: entry {index}: token_sha256 must be 64 lowercase hex digits"
            )
        if not isinstance(name, str) or not name.strip():
            raise SettingsError(f"{where}: entry {index}: operator must be a name")
        operators.append(Operator(name=name.strip(), token_sha256=digest))
    if not operators:
        raise SettingsError(f"{where}: lists no operator, so nobody could decode")
    return operators


@dataclass(frozen=True)
class CodecServerConfig:
    codec: EncryptionCodec
    operators: OperatorTokens
    cors_origins: frozenset[str]
    trusted_proxies: frozenset[str] = frozenset()
    """Addresses of TLS-terminating proxies whose `X-Forwarded-Proto` is believed."""


def load_config(env: Mapping[str, str] | None = None) -> CodecServerConfig:
    """The codec server's settings from the environment, or `SettingsError` naming the variable."""
    env = os.environ if env is None else env
    keys = load_encryption_keys(env)
    if not keys:
        raise SettingsError(
            f"{ENCRYPTION_KEYS_VARIABLE} is required by the codec server (the same keys as "
            "the workers)"
        )
    tokens_file = env.get(TOKENS_FILE_VARIABLE, "").strip()
    if not tokens_file:
        raise SettingsError(
            f"{TOKENS_FILE_VARIABLE} is required: the JSON file of operators allowed to decode"
        )
    return CodecServerConfig(
        codec=EncryptionCodec(keys),
        operators=OperatorTokens.from_file(Path(tokens_file)),
        cors_origins=_origins(env),
        trusted_proxies=_proxies(env),
    )


def _proxies(env: Mapping[str, str]) -> frozenset[str]:
    raw = env.get(TRUSTED_PROXIES_VARIABLE, "").strip()
    proxies = set()
    for address in (part.strip() for part in raw.split(",") if part.strip()):
        try:
            proxies.add(str(ipaddress.ip_address(address)))
        except ValueError:
            raise SettingsError(
                f"{TRUSTED_PROXIES_VARIABLE}: {address!r} is not an IP address (the proxies "
                "that terminate TLS in front of the codec server, comma-separated)"
            ) from None
    return frozenset(proxies)


def _origins(env: Mapping[str, str]) -> frozenset[str]:
    raw = env.get(CORS_ORIGINS_VARIABLE, "").strip()
    if not raw:
        return frozenset(DEFAULT_CORS_ORIGINS)
    origins = set()
    for origin in (part.strip().rstrip("/") for part in raw.split(",")):
        parts = urlsplit(origin)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.path:
            raise SettingsError(
                f"{CORS_ORIGINS_VARIABLE}: {origin!r} is not an origin like "
                "https://temporal-ui.example.com (scheme, host and port only; no wildcards)"
            )
        origins.add(origin)
    return frozenset(origins)


# --- browser sessions -----------------------------------------------------------------------

SESSION_COOKIE = "claims_codec_session"
SESSION_LIFETIME = timedelta(hours=8)


class Sessions:
    """Signed, expiring operator sessions kept in an HttpOnly cookie, for the Temporal UI.

    The UI sends an ``Authorization`` header to a codec server only when the UI
    itself has an OIDC login ("pass access token"); otherwise all it can send is
    cookies ("include cross-origin credentials" in its codec settings). So an
    operator signs in once at ``/login`` with their token and gets a cookie
    naming them, valid for `SESSION_LIFETIME`, signed with a key made when the
    server starts (a restart ends every session). Removing an operator's entry
    from the tokens file (and restarting) ends their sessions too.
    """

    def __init__(
        self,
        operators: OperatorTokens,
        lifetime: timedelta = SESSION_LIFETIME,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._operators = operators
        self._lifetime = lifetime
        self._clock = clock
        self._key = secrets.token_bytes(32)

    def _mac(self, body: str) -> str:
        return hmac.new(self._key, body.encode(), hashlib.sha256).hexdigest()

    def issue(self, operator: Operator) -> tuple[str, datetime]:
        """The cookie value for `operator`, and when it expires."""
        expires = int(self._clock() + self._lifetime.total_seconds())
        body = f"{expires}.{operator.token_sha256}"
        return f"{body}.{self._mac(body)}", datetime.fromtimestamp(expires, UTC)

    def operator(self, value: str) -> Operator | None:
        """The operator of a genuine, unexpired session cookie."""
        expires, _, rest = value.partition(".")
        digest, _, mac = rest.partition(".")
        if not (expires.isdigit() and hmac.compare_digest(mac, self._mac(f"{expires}.{digest}"))):
            return None
        if int(expires) <= self._clock():
            return None
        return self._operators.find_by_digest(digest)


_LOGIN_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; form-action 'self'; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}

_LOGIN_FORM = """<!doctype html>
<html lang="en"><meta charset="utf-8"><title>Claims codec server: operator sign-in</title>
<h1>Operator sign-in</h1>
<p>{message}</p>
<form method="post" action="login">
<label>Operator token <input type="password" name="token" autocomplete="off" required></label>
<button type="submit">Sign in</button>
</form>
<p>Then, in the Temporal UI's codec server settings, turn on
<em>Include cross-origin credentials</em>. Open the UI on the same host name as this page
(both 127.0.0.1, or both localhost), or the browser won't send the session.</p>
</html>
"""


# --- the HTTP side -------------------------------------------------------------------------


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status, headers=dict(headers or {}))


def create_app(config: CodecServerConfig, sessions: Sessions | None = None) -> Starlette:
    """The codec server for these keys, operators and UI origins."""
    sessions = sessions or Sessions(config.operators)

    def cors_headers(origin: str | None) -> dict[str, str]:
        if origin is None:
            return {}
        return {
            "Access-Control-Allow-Origin": origin,
            "Access-Control-Allow-Credentials": "true",
            "Vary": "Origin",
        }

    def authenticate(request: Request, cors: Mapping[str, str]) -> Operator | Response:
        """A bearer token (CLI, scripts, a UI with its own login), else a session cookie."""
        header = request.headers.get("authorization")
        cookie = request.cookies.get(SESSION_COOKIE)
        if header is None and cookie is not None:
            # A cookie travels by itself: accept it only from a browser page of an allowed
            # origin (checked before this), never from a request that names no origin.
            operator = sessions.operator(cookie) if "origin" in request.headers else None
            if operator is not None:
                return operator
        scheme, _, token = (header or "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return _error(
                401,
                "an operator token is required: Authorization: Bearer <token>, "
                "or sign in at /login (session cookie)",
                {**cors, "WWW-Authenticate": 'Bearer realm="claims codec"'},
            )
        operator = config.operators.find(token)
        if operator is None:
            return _error(403, "this token is not an operator's", cors)
        return operator

    async def read_body(request: Request) -> bytes | None:
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
            return None
        body = bytearray()
        async for chunk in request.stream():
            body.extend(chunk)
            if len(body) > MAX_BODY_BYTES:
                return None
        return bytes(body)

    async def handle(request: Request, operation: str, codec: Codec) -> Response:
        origin = request.headers.get("origin")
        if origin is not None and origin not in config.cors_origins:
            return _error(403, f"origin {origin} may not use this codec server")
        cors = cors_headers(origin)
        if request.method == "OPTIONS":
            return Response(
                status_code=204,
                headers={
                    **cors,
                    "Access-Control-Allow-Methods": "POST, OPTIONS",
                    "Access-Control-Allow-Headers": "authorization, content-type, x-namespace",
                    "Access-Control-Max-Age": "600",
                },
            )
        who = authenticate(request, cors)
        if isinstance(who, Response):
            log.warning(
                "%s refused (%s) from %s",
                operation,
                who.status_code,
                request.client.host if request.client else "?",
            )
            return who
        try:
            body = await read_body(request)
        except ClientDisconnect:
            return _error(400, "request body incomplete", cors)
        if body is None:
            return _error(413, f"request body over {MAX_BODY_BYTES} bytes", cors)
        try:
            payloads = json_format.Parse(body, Payloads())
        except (json_format.ParseError, UnicodeDecodeError):
            return _error(400, 'body must be {"payloads": [...]} (Payloads as protobuf JSON)', cors)
        try:
            result = Payloads(payloads=await codec(list(payloads.payloads)))
        except PayloadDecryptionError as err:
            return _error(400, str(err), cors)
        namespace = request.path_params.get("namespace") or request.headers.get("x-namespace")
        log.info(
            "%s of %d payloads for operator %s (namespace %s)",
            operation,
            len(result.payloads),
            who.name,
            loggable_namespace(namespace),
        )
        return Response(
            json_format.MessageToJson(result, preserving_proto_field_name=True, indent=None),
            media_type="application/json",
            headers={**cors, "Cache-Control": "no-store"},
        )

    async def encode(request: Request) -> Response:
        return await handle(request, "encode", config.codec.encode)

    async def decode(request: Request) -> Response:
        return await handle(request, "decode", config.codec.decode)

    async def login_page(request: Request) -> Response:
        message = "Sign in with your operator token to let the Temporal UI decode claims."
        return HTMLResponse(_LOGIN_FORM.format(message=message), headers=_LOGIN_HEADERS)

    def over_https(request: Request) -> bool:
        """The browser's connection is TLS: to us, or to a trusted proxy that says so."""
        if request.url.scheme == "https":
            return True
        client = request.client.host if request.client else ""
        forwarded = request.headers.get("x-forwarded-proto", "").split(",")[-1].strip()
        return client in config.trusted_proxies and forwarded.lower() == "https"

    def foreign_origin(request: Request) -> Response | None:
        """A sign-in or sign-out posted from a page that is neither ours nor the UI's
        (login CSRF): refused. No Origin at all is a non-browser client."""
        origin = request.headers.get("origin")
        if origin is None:
            return None
        scheme = "https" if over_https(request) else request.url.scheme
        own = f"{scheme}://{request.headers.get('host', '')}"
        if origin == own or origin in config.cors_origins:
            return None
        log.warning("sign-in or sign-out refused from origin %r", origin[:100])
        page = _LOGIN_FORM.format(message="Sign in from this page, not from another site.")
        return HTMLResponse(page, status_code=403, headers=_LOGIN_HEADERS)

    async def login(request: Request) -> Response:
        refused = foreign_origin(request)
        if refused is not None:
            return refused
        body = b""
        async for chunk in request.stream():
            body += chunk
            if len(body) > 4096:
                return HTMLResponse("request too large", status_code=413, headers=_LOGIN_HEADERS)
        token = parse_qs(body.decode("utf-8", errors="replace")).get("token", [""])[0].strip()
        operator = config.operators.find(token) if token else None
        if operator is None:
            log.warning("sign-in refused from %s", request.client.host if request.client else "?")
            page = _LOGIN_FORM.format(message="That is not an operator's token.")
            return HTMLResponse(page, status_code=403, headers=_LOGIN_HEADERS)
        value, expires = sessions.issue(operator)
        log.info("operator %s signed in until %s", operator.name, expires.isoformat())
        response = HTMLResponse(
            f"<!doctype html><title>Signed in</title><p>Signed in as "
            f"{html.escape(operator.name)} until {expires:%Y-%m-%d %H:%M} UTC. "
            "You can close this tab.</p>",
            headers=_LOGIN_HEADERS,
        )
        response.set_cookie(
            SESSION_COOKIE,
            value,
            max_age=int((expires - datetime.now(UTC)).total_seconds()),
            path="/",
            secure=over_https(request),
            httponly=True,
            samesite="strict",
        )
        return response

    async def logout(request: Request) -> Response:
        refused = foreign_origin(request)
        if refused is not None:
            return refused
        response = HTMLResponse("<!doctype html><p>Signed out.</p>", headers=_LOGIN_HEADERS)
        response.delete_cookie(
            SESSION_COOKIE, path="/", secure=over_https(request), httponly=True, samesite="strict"
        )
        return response

    methods = ["POST", "OPTIONS"]
    return Starlette(
        routes=[
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/encode", encode, methods=methods),
            Route("/decode", decode, methods=methods),
            Route("/{namespace}/encode", encode, methods=methods),
            Route("/{namespace}/decode", decode, methods=methods),
        ]
    )


class _ConfiguredAtStartup:
    """The ASGI app that uvicorn imports: configured from the environment when it starts.

    Reading the environment at start-up rather than at import lets tests import
    this module freely, and lets a configuration error stop the server through
    the ASGI lifespan protocol with a message naming the variable.
    """

    def __init__(self) -> None:
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._app is None:
            try:
                config = load_config()
            except SettingsError as err:
                if scope["type"] == "lifespan":
                    await receive()  # lifespan.startup
                    await send({"type": "lifespan.startup.failed", "message": str(err)})
                    return
                raise
            self._app = create_app(config)
            # uvicorn configures only its own loggers; the audit lines below must show.
            logging.basicConfig(
                level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
            )
            log.info(
                "codec server ready: %d operators, key ids %s (encrypting with %s), origins %s",
                len(config.operators),
                ", ".join(config.codec.key_ids),
                config.codec.encrypting_key_id,
                ", ".join(sorted(config.cors_origins)),
            )
        await self._app(scope, receive, send)


app = _ConfiguredAtStartup()
