"""Consent links: signed tokens over (engagement, consent request number).

The same discipline as survey links (activities/links.py): made where used (the
mail activity), never in workflow history, deterministic, HMAC-SHA256 with the
configured secret key under a purpose of its own (a survey token is no consent
token), compared in constant time, one canonical spelling.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass

from activities.links import _ENGAGEMENT, _b64, _unb64

CONSENT_PATH = "/consent/"


class InvalidConsentLink(ValueError):
    """The token was not made by us (tampered, truncated, foreign key)."""


@dataclass(frozen=True)
class ConsentLinkRef:
    engagement_id: str
    request: int


class ConsentLinks:
    """Makes and checks consent tokens and links with one secret key."""

    def __init__(self, secret_key: bytes, public_url: str) -> None:
        if not secret_key:
            raise ValueError("secret_key must not be empty")
        self._key = secret_key
        self._public_url = public_url.rstrip("/")

    def _sign(self, body: bytes) -> bytes:
        return hmac.new(self._key, b"consent-link.v1." + body, hashlib.sha256).digest()

    def token(self, ref: ConsentLinkRef) -> str:
        body = json.dumps([ref.engagement_id, ref.request], separators=(",", ":")).encode()
        return f"{_b64(body)}.{_b64(self._sign(body))}"

    def url(self, ref: ConsentLinkRef) -> str:
        return f"{self._public_url}{CONSENT_PATH}{self.token(ref)}"

    def verify(self, token: str) -> ConsentLinkRef:
        """What the token names, or :class:`InvalidConsentLink`."""
        try:
            body_part, sig_part = token.split(".")
            body, sig = _unb64(body_part), _unb64(sig_part)
            engagement_id, request = json.loads(body)
        except (ValueError, TypeError):
            raise InvalidConsentLink("consent link token is malformed") from None
        if not hmac.compare_digest(sig, self._sign(body)):
            raise InvalidConsentLink("consent link token is not valid (tampered or foreign)")
        if (
            not isinstance(engagement_id, str)
            or not _ENGAGEMENT.fullmatch(engagement_id)
            or not isinstance(request, int)
            or request < 1
        ):
            raise InvalidConsentLink("consent link token is malformed")
        ref = ConsentLinkRef(engagement_id, request)
        if not hmac.compare_digest(token.encode(), self.token(ref).encode()):
            raise InvalidConsentLink("consent link token is not valid (tampered or foreign)")
        return ref


def consent_token_in(url: str) -> str:
    """The token part of a consent link (for tests and tools holding the whole URL)."""
    if CONSENT_PATH not in url:
        raise InvalidConsentLink("not a consent link (no /consent/ in it)")
    return url.rsplit(CONSENT_PATH, 1)[1].split("?", 1)[0].split("#", 1)[0]
