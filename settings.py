"""One typed settings object, read from the environment once at start-up.

A missing or malformed setting stops start-up with a message naming the
variable, instead of failing later inside an activity. The Temporal
connection follows the SDK's standard client configuration (TEMPORAL_ADDRESS,
TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TLS variables and profile files), so a
real cluster is configured exactly as for the `temporal` CLI.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from temporalio.envconfig import ClientConfig

DEFAULT_TASK_QUEUE = "workshop-claims"
MIN_SECRET_KEY_LENGTH = 32


class SettingsError(ValueError):
    """A setting is missing or malformed; the message names the variable."""


@dataclass(frozen=True)
class Settings:
    temporal_connect: dict[str, Any] = field(repr=False)
    task_queue: str
    database_url: str
    smtp_host: str
    smtp_port: int
    smtp_username: str | None
    smtp_password: str | None = field(repr=False)
    smtp_starttls: bool
    mail_from: str
    public_url: str
    secret_key: bytes = field(repr=False)

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
    return Settings(
        temporal_connect=temporal,
        task_queue=task_queue,
        database_url=database_url,
        smtp_host=_text(env, "CLAIMS_SMTP_HOST", "127.0.0.1"),
        smtp_port=_port(env, "CLAIMS_SMTP_PORT", 1025),
        smtp_username=env.get("CLAIMS_SMTP_USERNAME") or None,
        smtp_password=env.get("CLAIMS_SMTP_PASSWORD") or None,
        smtp_starttls=_flag(env, "CLAIMS_SMTP_STARTTLS"),
        mail_from=mail_from,
        public_url=_url(env, "CLAIMS_PUBLIC_URL", "http://localhost:8000"),
        secret_key=secret.encode(),
    )
