"""Settings: documented defaults, and a clear error naming any bad variable."""

from __future__ import annotations

import secrets

import pytest

from starter.settings import DEFAULT_TASK_QUEUE
from starter.settings import MIN_SECRET_KEY_LENGTH
from starter.settings import SettingsError
from starter.settings import load_settings


def _secret_key() -> str:
    key = secrets.token_urlsafe(30)
    assert len(key) == 40
    return key


def _minimal_env() -> dict[str, str]:
    return {"CLAIMS_SECRET_KEY": _secret_key()}


def test_a_minimal_environment_gives_the_documented_defaults() -> None:
    env = _minimal_env()

    settings = load_settings(env=env)

    assert settings.task_queue == DEFAULT_TASK_QUEUE == "workshop-claims"
    assert settings.temporal_address == "localhost:7233"
    assert settings.temporal_namespace == "default"
    assert settings.temporal_connect["target_host"] == "localhost:7233"
    assert settings.smtp.host == "127.0.0.1"
    assert settings.smtp.port == 1025
    assert settings.smtp.username is None
    assert settings.smtp.password is None
    assert settings.smtp.starttls is False
    assert settings.database_url.startswith("sqlite+aiosqlite:///")
    assert "@" in settings.smtp.mail_from
    assert settings.public_url == "http://localhost:8000"
    assert settings.secret_key == env["CLAIMS_SECRET_KEY"].encode()
    assert settings.metrics_bind is None
    assert settings.log_format == "text"


def test_temporal_address_and_namespace_come_from_the_sdk_variables() -> None:
    env = _minimal_env() | {
        "TEMPORAL_ADDRESS": "temporal.example.com:7233",
        "TEMPORAL_NAMESPACE": "claims-prod",
    }

    settings = load_settings(env=env)

    assert settings.temporal_address == "temporal.example.com:7233"
    assert settings.temporal_namespace == "claims-prod"
    assert settings.temporal_connect["namespace"] == "claims-prod"


def test_every_claims_variable_is_honoured() -> None:
    env = _minimal_env() | {
        "CLAIMS_TASK_QUEUE": "claims-q",
        "CLAIMS_DATABASE_URL": "postgresql+asyncpg://u:p@db.example.com/claims",
        "CLAIMS_SMTP_HOST": "smtp.example.com",
        "CLAIMS_SMTP_PORT": "587",
        "CLAIMS_SMTP_USERNAME": "mailer",
        "CLAIMS_SMTP_PASSWORD": "hunter2",
        "CLAIMS_SMTP_STARTTLS": "true",
        "CLAIMS_MAIL_FROM": "Claims <claims@example.com>",
        "CLAIMS_PUBLIC_URL": "https://claims.example.com/",
    }

    settings = load_settings(env=env)

    assert settings.task_queue == "claims-q"
    assert settings.database_url == "postgresql+asyncpg://u:p@db.example.com/claims"
    assert settings.smtp.host == "smtp.example.com"
    assert settings.smtp.port == 587
    assert settings.smtp.username == "mailer"
    assert settings.smtp.password == "hunter2"
    assert settings.smtp.starttls is True
    assert settings.smtp.mail_from == "Claims <claims@example.com>"
    assert settings.public_url == "https://claims.example.com"


def test_secrets_do_not_appear_in_the_settings_repr() -> None:
    env = _minimal_env() | {"CLAIMS_SMTP_PASSWORD": secrets.token_urlsafe(16)}

    text = repr(load_settings(env=env))

    assert env["CLAIMS_SECRET_KEY"] not in text
    assert env["CLAIMS_SMTP_PASSWORD"] not in text


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CLAIMS_SECRET_KEY", None),
        ("CLAIMS_SECRET_KEY", ""),
        ("CLAIMS_SECRET_KEY", "short"),
        ("CLAIMS_SECRET_KEY", "x" * (MIN_SECRET_KEY_LENGTH - 1)),
        ("CLAIMS_SMTP_PORT", "abc"),
        ("CLAIMS_SMTP_PORT", "70000"),
        ("CLAIMS_SMTP_PORT", "0"),
        ("CLAIMS_SMTP_PORT", "-25"),
        ("CLAIMS_PUBLIC_URL", "ftp://x"),
        ("CLAIMS_PUBLIC_URL", "claims.example.com"),
        ("CLAIMS_DATABASE_URL", "mysql://x"),
        ("CLAIMS_DATABASE_URL", "sqlite:///claims.db"),
        ("CLAIMS_MAIL_FROM", "claims.example.com"),
        ("CLAIMS_SMTP_STARTTLS", "maybe"),
        ("CLAIMS_METRICS_BIND", "9464"),
        ("CLAIMS_METRICS_BIND", "127.0.0.1:port"),
        ("CLAIMS_METRICS_BIND", "127.0.0.1:70000"),
        ("CLAIMS_LOG_FORMAT", "yaml"),
    ],
    ids=[
        "secret-missing",
        "secret-empty",
        "secret-too-short",
        "secret-one-short",
        "port-abc",
        "port-70000",
        "port-0",
        "port-negative",
        "public-url-ftp",
        "public-url-no-scheme",
        "database-mysql",
        "database-sync-sqlite",
        "mail-from-without-at",
        "starttls-maybe",
        "metrics-bind-no-host",
        "metrics-bind-no-port",
        "metrics-bind-port-too-big",
        "log-format-yaml",
    ],
)
def test_a_missing_or_malformed_setting_is_refused_naming_the_variable(
    variable: str, value: str | None
) -> None:
    env = _minimal_env()
    if value is None:
        env.pop(variable, None)
    else:
        env[variable] = value

    with pytest.raises(SettingsError, match=variable):
        load_settings(env=env)


def test_an_empty_environment_is_refused_for_the_missing_secret_key() -> None:
    with pytest.raises(SettingsError, match="CLAIMS_SECRET_KEY"):
        load_settings(env={})


def test_a_secret_key_of_exactly_the_minimum_length_is_accepted() -> None:
    key = secrets.token_urlsafe(MIN_SECRET_KEY_LENGTH)[:MIN_SECRET_KEY_LENGTH]

    settings = load_settings(env={"CLAIMS_SECRET_KEY": key})

    assert settings.secret_key == key.encode()


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("1", True), ("yes", True), ("TRUE", True), ("0", False), ("no", False), ("False", False)],
)
def test_smtp_starttls_accepts_the_usual_spellings_of_true_and_false(
    raw: str, expected: bool
) -> None:
    settings = load_settings(env=_minimal_env() | {"CLAIMS_SMTP_STARTTLS": raw})

    assert settings.smtp.starttls is expected


def test_a_port_written_with_a_superscript_digit_is_refused_naming_the_variable() -> None:
    with pytest.raises(SettingsError, match="CLAIMS_SMTP_PORT"):
        load_settings(env=_minimal_env() | {"CLAIMS_SMTP_PORT": "²"})


def test_metrics_bind_and_log_format_are_read() -> None:
    env = _minimal_env() | {"CLAIMS_METRICS_BIND": "0.0.0.0:9464", "CLAIMS_LOG_FORMAT": "JSON"}
    settings = load_settings(env=env)
    assert settings.metrics_bind == "0.0.0.0:9464"
    assert settings.log_format == "json"
