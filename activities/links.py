"""Survey links: signed tokens over (engagement, survey kind, link version).

The token is made where it is used (the mail activity, the portal's direct
link) and never enters workflow history. It is deterministic: the link for a
given claim, kind and link version is always the same, wherever it is made,
so a re-send carries the same link and a contact change (a new link version)
makes the old one useless. HMAC-SHA256 with the configured secret key; the
comparison is constant-time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from typing import Literal
from typing import cast

SurveyKindName = Literal["partner", "customer"]
_ENGAGEMENT = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


MALFORMED = (
    "survey link token is malformed: pass the survey link (the URL in the mail) or its "
    "token (the part after /surveys/, e.g. mailbox.survey_token(mail))"
)


class InvalidSurveyLink(ValueError):
    """The token was not made by us (tampered, truncated, foreign key)."""


@dataclass(frozen=True)
class SurveyLinkRef:
    """What a valid token names."""

    engagement_id: str
    kind: SurveyKindName
    link_version: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)


class ForgedToken(ValueError):
    """A token whose signature is not ours (or not in its one canonical spelling)."""


class SignedTokens:
    """Signed, deterministic tokens over a short JSON list, under one purpose, with one
    secret key: the discipline of every link the system mails (surveys, consent)."""

    purpose: bytes = b""
    """Signed with the body, so a token of one purpose is no token of another."""

    def __init__(self, secret_key: bytes, public_url: str) -> None:
        if not secret_key:
            raise ValueError("secret_key must not be empty")
        self._key = secret_key
        self._public_url = public_url.rstrip("/")

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, self.purpose + body, hashlib.sha256).digest()

    def _token_of(self, fields: list[Any]) -> str:
        body = json.dumps(fields, separators=(",", ":")).encode()
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def _opened(self, token: str) -> Any:
        """The JSON a token signs: ValueError when malformed, ForgedToken when not ours."""
        body_part, sig_part = token.split(".")
        body, sig = _unb64(body_part), _unb64(sig_part)
        if not hmac.compare_digest(sig, self._sign(body)):
            raise ForgedToken("tampered or foreign")
        return json.loads(body)

    def _check_canonical(self, token: str, canonical: str) -> None:
        """Only the canonical spelling is valid: base64 decoding forgives padding bits and
        stray characters, so one link must not have several spellings."""
        if not hmac.compare_digest(token.encode(), canonical.encode()):
            raise ForgedToken("not the canonical spelling")


class SurveyLinks(SignedTokens):
    """Makes and checks survey tokens and links with one secret key."""

    purpose = b"survey-link.v1."

    def token(self, ref: SurveyLinkRef) -> str:
        return self._token_of([ref.engagement_id, ref.kind, ref.link_version])

    def url(self, ref: SurveyLinkRef) -> str:
        return f"{self._public_url}/surveys/{self.token(ref)}"

    def verify(self, token: str) -> SurveyLinkRef:
        """Return what the token names, or raise :class:`InvalidSurveyLink`."""
        forged = "survey link token is not valid (tampered or foreign)"
        try:
            engagement_id, kind, version = self._opened(token)
        except ForgedToken:
            raise InvalidSurveyLink(forged) from None
        except (ValueError, TypeError):
            raise InvalidSurveyLink(MALFORMED) from None
        if (
            not isinstance(engagement_id, str)
            or not _ENGAGEMENT.fullmatch(engagement_id)
            or kind not in ("partner", "customer")
            or not isinstance(version, int)
            or version < 1
        ):
            raise InvalidSurveyLink(MALFORMED)
        ref = SurveyLinkRef(engagement_id, cast(SurveyKindName, kind), version)
        try:
            self._check_canonical(token, self.token(ref))
        except ForgedToken:
            raise InvalidSurveyLink(forged) from None
        return ref

    def token_of(self, link_or_token: str) -> str:
        """The token of a survey link given whole (the URL in the mail) or as its token."""
        return self.token_from_url(link_or_token) if "/" in link_or_token else link_or_token

    def token_from_url(self, url: str) -> str:
        """The token part of a link, for a caller that holds the whole URL."""
        return token_in(url)


def token_in(url: str) -> str:
    """The token part of a survey link (what follows /surveys/, without query or fragment)."""
    marker = "/surveys/"
    if marker not in url:
        raise InvalidSurveyLink(f"not a survey link (no /surveys/ in it): {MALFORMED}")
    return url.rsplit(marker, 1)[1].split("?", 1)[0].split("#", 1)[0]
