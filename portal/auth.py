"""API keys: who is calling the portal API, in which role, for which partner.

`CLAIMS_API_KEYS_FILE` is a JSON list of ``{key_sha256, user, role,
partner_id}``: only the SHA-256 of each key is kept, never the key itself
(``python -m starter.keys create`` makes one and prints it once). Partner
roles carry the partner id they act for; reviewers carry none.

A bearer key is looked up by its SHA-256, compared with every entry in
constant time (no early exit), so the time an answer takes says nothing about
which keys exist. The file is read again when it changes, so a key made or
revoked while the API runs counts at once; a file that can't be read or
parsed refuses every key (fail closed) and says why in the log.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated
from typing import Self

from pydantic import BaseModel
from pydantic import ConfigDict
from pydantic import StringConstraints
from pydantic import TypeAdapter
from pydantic import model_validator

from workflows.messages import Actor
from workflows.messages import Identifier
from workflows.messages import Name
from workflows.messages import Role
from workflows.rules import PARTNER_ROLES
from workflows.rules import sees_claim

log = logging.getLogger("claims.api.auth")

KeyDigest = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")]


class ApiKeysError(ValueError):
    """The keys file is malformed; the message says where."""


class ApiKeyEntry(BaseModel):
    """One line of the keys file: the hash of a key and who holds it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key_sha256: KeyDigest
    user: Name
    role: Role
    partner_id: Identifier | None = None

    @model_validator(mode="after")
    def _partner_matches_role(self) -> Self:
        if self.role in PARTNER_ROLES and self.partner_id is None:
            raise ValueError(f"partner_id: a key in the role '{self.role}' needs its partner's id")
        if self.role not in PARTNER_ROLES and self.partner_id is not None:
            raise ValueError(f"partner_id: a key in the role '{self.role}' acts for no partner")
        return self


KEY_FILE_FORMAT = TypeAdapter(list[ApiKeyEntry])


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of a request: their identity becomes the message's actor."""

    user: str
    role: Role
    partner_id: str | None

    @property
    def actor(self) -> Actor:
        """The actor of the caller's messages: a partner's user names their partner, so
        the claim itself refuses another partner's claim (workflows.rules.check_tenancy)."""
        return Actor(user=self.user, role=self.role, partner_id=self.partner_id)

    def sees_partner(self, partner_id: str) -> bool:
        """Partner roles see their own partner's claims; reviewers see all."""
        return sees_claim(self.actor, partner_id)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def parse_key_file(text: str, source: str = "keys file") -> list[ApiKeyEntry]:
    try:
        entries = KEY_FILE_FORMAT.validate_json(text)
    except ValueError as err:
        raise ApiKeysError(f"{source}: {err}") from None
    digests = [entry.key_sha256 for entry in entries]
    if len(set(digests)) != len(digests):
        raise ApiKeysError(f"{source}: the same key_sha256 appears twice")
    return entries


class ApiKeys:
    """A fixed set of keys (tests, or one reading of the file)."""

    def __init__(self, entries: Sequence[ApiKeyEntry]) -> None:
        self._entries = tuple(entries)

    @property
    def entries(self) -> tuple[ApiKeyEntry, ...]:
        return self._entries

    def lookup(self, key: str) -> Caller | None:
        """The caller a presented key belongs to, or None; constant time in the matching."""
        digest = key_digest(key).encode()
        found: ApiKeyEntry | None = None
        for entry in self._entries:
            if hmac.compare_digest(entry.key_sha256.encode(), digest):
                found = entry
        if found is None:
            return None
        return Caller(user=found.user, role=found.role, partner_id=found.partner_id)


class ApiKeyFile(ApiKeys):
    """The keys in `CLAIMS_API_KEYS_FILE`, read again whenever the file changes."""

    def __init__(self, path: Path) -> None:
        super().__init__(())
        self.path = path
        self._stamp: tuple[int, int, int] | None = None
        self._warned_missing = False
        self._lock = threading.Lock()
        self._refresh()

    def _refresh(self) -> None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            stamp = None
        else:
            stamp = (stat.st_mtime_ns, stat.st_size, stat.st_ino)
        with self._lock:
            if stamp == self._stamp and self._stamp is not None:
                return
            if stamp is None:
                if not self._warned_missing:
                    log.warning(
                        "no API keys file at %s: every request is refused until a key is "
                        "made with `python -m starter.keys create`",
                        self.path,
                    )
                    self._warned_missing = True
                self._entries = ()
                self._stamp = None
                return
            self._warned_missing = False
            try:
                self._entries = tuple(parse_key_file(self.path.read_text(), str(self.path)))
            except (OSError, UnicodeDecodeError, ApiKeysError) as err:
                log.error("API keys file unusable, refusing every key: %s", err)
                self._entries = ()
            self._stamp = stamp

    def lookup(self, key: str) -> Caller | None:
        self._refresh()
        return super().lookup(key)


def dump_key_file(entries: Sequence[ApiKeyEntry]) -> str:
    return json.dumps([entry.model_dump() for entry in entries], indent=2) + "\n"
