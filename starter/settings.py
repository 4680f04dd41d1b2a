"""One typed settings object, read from the environment once at start-up.

A missing or malformed setting stops start-up with a message naming the
variable, instead of failing later inside an activity. The Temporal
connection follows the SDK's standard client configuration (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS variables and profile files), so a
real cluster is configured exactly as for the `temporal` CLI.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import Literal
from typing import cast
from urllib.parse import urlsplit

from pydantic import TypeAdapter
from pydantic import ValidationError
from temporalio.envconfig import ClientConfig

from activities.mail import SmtpConfig
from starter.codec import KEY_BYTES
from starter.codec import EncryptionKey
from workflows.engagements import CatalogueError
from workflows.engagements import WorkshopCatalogue
from workflows.engagements import parse_catalogue
from workflows.messages import Name
from workflows.messages import describe_validation_error
from workflows.payments_messages import Tariff

log = logging.getLogger("claims.settings")

DEFAULT_TASK_QUEUE = "workshop-claims"
MIN_SECRET_KEY_LENGTH = 32
DEFAULT_PAYMENT_CALENDAR = "monthly"
"""The payment schedule's default: day 1 of every month at 06:00 UTC."""
MAX_MIN_DAYS_APPROVED = 3650
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*,/?LW#-]+$")
_TARIFFS: TypeAdapter[dict[Name, Tariff]] = TypeAdapter(dict[Name, Tariff])


LogFormat = Literal["text", "json"]


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    temporal_connect: dict[str, Any] = field(repr=False)
    task_queue: str
    database_url: str
    smtp: SmtpConfig
    """Where mail goes and who it is from (CLAIMS_SMTP_*, CLAIMS_MAIL_FROM)."""
    public_url: str
    secret_key: bytes = field(repr=False)
    payment_calendar: str = DEFAULT_PAYMENT_CALENDAR
    """`monthly` or a five-field cron expression (UTC): when the payment schedule runs."""
    payment_min_days_approved: int = 0
    """A claim is paid in a cycle once approved at least this many days before it."""
    catalogue: WorkshopCatalogue = field(default_factory=WorkshopCatalogue)
    """CLAIMS_WORKSHOPS: the workshop types by code, their names and what one approved claim
    of each is paid (plus the deprecated CLAIMS_TARIFFS, by workshop name)."""
    encryption_keys: tuple[EncryptionKey, ...] = field(default=(), repr=False)
    """CLAIMS_ENCRYPTION_KEYS: the first encrypts payloads, all decrypt; empty: no encryption."""
    metrics_bind: str | None = None
    """CLAIMS_METRICS_BIND (`host:port`): where the worker serves Prometheus metrics; unset:
    none."""
    review_mail: str | None = None
    """CLAIMS_REVIEW_MAIL: the review desk's address, mailed disputes and claims waiting
    for review too long; unset: no such mail."""
    log_format: LogFormat = "text"
    """CLAIMS_LOG_FORMAT: `text` (readable lines) or `json` (one JSON object a line)."""

    @property
    def temporal_address(self) -> str:
        return str(self.temporal_connect["target_host"])

    @property
    def temporal_namespace(self) -> str:
        return str(self.temporal_connect.get("namespace", "default"))


def _text(env: Mapping[str, str], name: str, default: str | None) -> str:
    value = env.get(name, "").strip() or default
    if value is None:
        raise SettingsError(f"{name} is required but not set")
    return value


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= 65535:
        raise SettingsError(f"{name} must be a port number from 1 to 65535, got {raw!r}")
    return int(raw)


def bind_setting(env: Mapping[str, str], name: str) -> str | None:
    """`host:port` to listen on, or None when unset."""
    raw = env.get(name, "").strip()
    if not raw:
        return None
    host, _, port = raw.rpartition(":")
    if not host or not (port.isascii() and port.isdigit()) or not 1 <= int(port) <= 65535:
        raise SettingsError(f"{name} must be host:port like 127.0.0.1:9464, got {raw!r}")
    return raw


def _log_format(env: Mapping[str, str]) -> LogFormat:
    raw = env.get("CLAIMS_LOG_FORMAT", "").strip().lower() or "text"
    if raw not in ("text", "json"):
        raise SettingsError(f"CLAIMS_LOG_FORMAT must be text or json, got {raw!r}")
    return cast(LogFormat, raw)


def _flag(env: Mapping[str, str], name: str) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no"):
        return False
    if raw in ("1", "true", "yes"):
        return True
    raise SettingsError(f"{name} must be true or false, got {raw!r}")


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = _text(env, name, default).rstrip("/")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(f"{name} must be an http(s) URL like https://claims.example.com")
    return value


def _payment_calendar(env: Mapping[str, str]) -> str:
    name = "CLAIMS_PAYMENT_CALENDAR"
    value = " ".join(env.get(name, "").split()) or DEFAULT_PAYMENT_CALENDAR
    if value.lower() == DEFAULT_PAYMENT_CALENDAR:
        return DEFAULT_PAYMENT_CALENDAR
    fields = value.split(" ")
    if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
        raise SettingsError(
            f"{name} must be 'monthly' or a cron expression of five fields "
            f"(minute hour day-of-month month day-of-week, UTC) like '0 6 1 * *', got {value!r}"
        )
    return value


def _min_days(env: Mapping[str, str]) -> int:
    name = "CLAIMS_PAYMENT_MIN_DAYS_APPROVED"
    raw = env.get(name, "").strip()
    if not raw:
        return 0
    if not (raw.isascii() and raw.isdigit()) or int(raw) > MAX_MIN_DAYS_APPROVED:
        raise SettingsError(
            f"{name} must be a whole number of days from 0 to {MAX_MIN_DAYS_APPROVED}, got {raw!r}"
        )
    return int(raw)


def _json_setting(env: Mapping[str, str], name: str) -> tuple[str, str]:
    """`name` (JSON text) or `name`_FILE (a JSON file), not both: (text, which one); ("", name)
    when neither is set."""
    text = env.get(name, "").strip()
    path = env.get(f"{name}_FILE", "").strip()
    if text and path:
        raise SettingsError(f"set {name} or {name}_FILE, not both")
    if not path:
        return text, name
    try:
        return Path(path).read_text(encoding="utf-8"), f"{name}_FILE"
    except (OSError, UnicodeDecodeError) as err:
        raise SettingsError(f"{name}_FILE: cannot read {path}: {err}") from None


def _tariffs(env: Mapping[str, str]) -> dict[str, Tariff]:
    """The deprecated CLAIMS_TARIFFS (or CLAIMS_TARIFFS_FILE): workshop name to tariff."""
    text, name = _json_setting(env, "CLAIMS_TARIFFS")
    if not text:
        return {}
    example = '{"Cloud adoption workshop": {"amount": "1500.00", "currency": "EUR"}}'
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise SettingsError(f"{name} is not valid JSON ({err}); expected e.g. {example}") from None
    try:
        tariffs = _TARIFFS.validate_python(raw)
    except ValidationError as err:
        raise SettingsError(
            f"{name} must map workshop names to {{amount, currency}}, e.g. {example}: "
            f"{describe_validation_error(err)}"
        ) from None
    log.warning(
        "%s is deprecated: it prices claims by free-text workshop name. Move its entries to "
        "CLAIMS_WORKSHOPS (type code to {name, name_nl, amount, currency}); until then it still "
        "prices claims that name no workshop type (docs/payments.md)",
        name,
    )
    return tariffs


def load_catalogue(env: Mapping[str, str] | None = None) -> WorkshopCatalogue:
    """CLAIMS_WORKSHOPS or CLAIMS_WORKSHOPS_FILE (type code to workshop), plus the deprecated
    CLAIMS_TARIFFS; read by the worker (payment) and the portal (engagements)."""
    env = os.environ if env is None else env
    text, name = _json_setting(env, "CLAIMS_WORKSHOPS")
    try:
        workshops = parse_catalogue(text, name) if text else {}
    except CatalogueError as err:
        raise SettingsError(str(err)) from None
    return WorkshopCatalogue(workshops, _tariffs(env))


def load_settings(
    env: Mapping[str, str] | None = None, *, require_secret_key: bool = True
) -> Settings:
    """Read every setting, or raise :class:`SettingsError` naming the first bad one.

    With `require_secret_key=False` (callers that never make or check survey
    links, like most commands of the command line) a missing CLAIMS_SECRET_KEY
    gives an empty `secret_key`; a key that is set must still be well formed.
    """
    env = os.environ if env is None else env
    try:
        temporal = dict(ClientConfig.load_client_connect_config(override_env_vars=dict(env)))
    except Exception as err:  # the SDK's own messages name the variable or file
        raise SettingsError(f"Temporal client configuration: {err}") from err
    temporal.setdefault("target_host", "localhost:7233")
    temporal.setdefault("namespace", "default")

    secret = env.get("CLAIMS_SECRET_KEY", "")
    if not secret and require_secret_key:
        raise SettingsError(
            "CLAIMS_SECRET_KEY is required but not set (it signs survey links; "
            'make one with: python -c "import secrets; print(secrets.token_urlsafe(48))")'
        )
    if secret and len(secret) < MIN_SECRET_KEY_LENGTH:
        raise SettingsError(
            f"CLAIMS_SECRET_KEY must be at least {MIN_SECRET_KEY_LENGTH} characters long"
        )

    database_url = _text(env, "CLAIMS_DATABASE_URL", "sqlite+aiosqlite:///claims.db")
    if not database_url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
        raise SettingsError(
            "CLAIMS_DATABASE_URL must start with sqlite+aiosqlite:// or postgresql+asyncpg://"
        )
    mail_from = _text(env, "CLAIMS_MAIL_FROM", "Workshop claims <claims@localhost>")
    if "@" not in mail_from:
        raise SettingsError("CLAIMS_MAIL_FROM must contain an e-mail address")
    task_queue = _text(env, "CLAIMS_TASK_QUEUE", DEFAULT_TASK_QUEUE)
    review_mail = env.get("CLAIMS_REVIEW_MAIL", "").strip() or None
    if review_mail is not None and "@" not in review_mail:
        raise SettingsError("CLAIMS_REVIEW_MAIL must be an e-mail address")
    return Settings(
        temporal_connect=temporal,
        task_queue=task_queue,
        database_url=database_url,
        smtp=SmtpConfig(
            host=_text(env, "CLAIMS_SMTP_HOST", "127.0.0.1"),
            port=_port(env, "CLAIMS_SMTP_PORT", 1025),
            mail_from=mail_from,
            username=env.get("CLAIMS_SMTP_USERNAME") or None,
            password=env.get("CLAIMS_SMTP_PASSWORD") or None,
            starttls=_flag(env, "CLAIMS_SMTP_STARTTLS"),
        ),
        public_url=_url(env, "CLAIMS_PUBLIC_URL", "http://localhost:8000"),
        secret_key=secret.encode(),
        encryption_keys=load_encryption_keys(env),
        payment_calendar=_payment_calendar(env),
        payment_min_days_approved=_min_days(env),
        catalogue=load_catalogue(env),
        metrics_bind=bind_setting(env, "CLAIMS_METRICS_BIND"),
        log_format=_log_format(env),
        review_mail=review_mail,
    )


ENCRYPTION_KEYS_VARIABLE = "CLAIMS_ENCRYPTION_KEYS"


def load_encryption_keys(env: Mapping[str, str] | None = None) -> tuple[EncryptionKey, ...]:
    """Parse CLAIMS_ENCRYPTION_KEYS: comma-separated `keyid:base64key`, 32-byte keys.

    The first key encrypts new payloads and every listed key decrypts, so a key
    is rotated by putting the new one first and keeping the old ones after it
    until no open claim needs them (docs/security.md). Unset or empty means no
    encryption. Messages name the variable and the key id, never key material.
    """
    env = os.environ if env is None else env
    raw = env.get(ENCRYPTION_KEYS_VARIABLE, "").strip()
    if not raw:
        return ()
    keys: list[EncryptionKey] = []
    for position, entry in enumerate(raw.split(","), start=1):
        key_id, separator, encoded = (part.strip() for part in entry.partition(":"))
        if not separator or not key_id or not encoded:
            raise SettingsError(
                f"{ENCRYPTION_KEYS_VARIABLE}: entry {position} must be keyid:base64key "
                "(entries separated by commas)"
            )
        try:
            key = base64.b64decode(encoded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            raise SettingsError(
                f"{ENCRYPTION_KEYS_VARIABLE}: the key of {key_id!r} is not valid base64"
            ) from None
        if len(key) != KEY_BYTES:
            raise SettingsError(
                f"{ENCRYPTION_KEYS_VARIABLE}: the key of {key_id!r} must be {KEY_BYTES} bytes "
                f"(AES-256) in base64, got {len(key)} bytes; make one with: "
                'python -c "import base64, os; print(base64.b64encode(os.urandom(32)).decode())"'
            )
        if any(existing.key_id == key_id for existing in keys):
            raise SettingsError(f"{ENCRYPTION_KEYS_VARIABLE}: key id {key_id!r} is listed twice")
        try:
            keys.append(EncryptionKey(key_id, key))
        except ValueError as err:
            raise SettingsError(f"{ENCRYPTION_KEYS_VARIABLE}: {err}") from None
    return tuple(keys)
