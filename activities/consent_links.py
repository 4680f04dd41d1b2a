"""Consent links: signed tokens over (engagement, consent request number).

The same discipline as survey links (activities/links.py): made where used (the
mail activity), never in workflow history, deterministic, HMAC-SHA256 with the
configured secret key under a purpose of its own (a survey token is no consent
token), compared in constant time, one canonical spelling.
"""

from __future__ import annotations

from dataclasses import dataclass

from activities.links import _ENGAGEMENT
from activities.links import ForgedToken
from activities.links import SignedTokens

CONSENT_PATH = "/consent/"


class InvalidConsentLink(ValueError):
    """The token was not made by us (tampered, truncated, foreign key)."""


@dataclass(frozen=True)
class ConsentLinkRef:
    engagement_id: str
    request: int


class ConsentLinks(SignedTokens):
    """Makes and checks consent tokens and links with one secret key."""

    purpose = b"consent-link.v1."

    def token(self, ref: ConsentLinkRef) -> str:
        return self._token_of([ref.engagement_id, ref.request])

    def url(self, ref: ConsentLinkRef) -> str:
        return f"{self._public_url}{CONSENT_PATH}{self.token(ref)}"

    def verify(self, token: str) -> ConsentLinkRef:
        """What the token names, or :class:`InvalidConsentLink`."""
        try:
            engagement_id, request = self._opened(token)
        except ForgedToken:
            raise InvalidConsentLink(
                "consent link token is not valid (tampered or foreign)"
            ) from None
        except (ValueError, TypeError):
            raise InvalidConsentLink("consent link token is malformed") from None
        if (
            not isinstance(engagement_id, str)
            or not _ENGAGEMENT.fullmatch(engagement_id)
            or not isinstance(request, int)
            or request < 1
        ):
            raise InvalidConsentLink("consent link token is malformed")
        ref = ConsentLinkRef(engagement_id, request)
        try:
            self._check_canonical(token, self.token(ref))
        except ForgedToken:
            raise InvalidConsentLink(
                "consent link token is not valid (tampered or foreign)"
            ) from None
        return ref


def consent_token_in(url: str) -> str:
    """The token part of a consent link (for tests and tools holding the whole URL)."""
    if CONSENT_PATH not in url:
        raise InvalidConsentLink("not a consent link (no /consent/ in it)")
    return url.rsplit(CONSENT_PATH, 1)[1].split("?", 1)[0].split("#", 1)[0]
