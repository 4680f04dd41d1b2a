"""Survey links: signed, deterministic tokens that only our key can make."""

from __future__ import annotations

import secrets

import pytest

from activities.links import InvalidSurveyLink
from activities.links import SurveyLinkRef
from activities.links import SurveyLinks
from claims_testing.data import PUBLIC_URL

REF = SurveyLinkRef("eng-x", "partner", 1)
B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def _other_b64_char(char: str) -> str:
    """A different character of the URL-safe base64 alphabet."""
    return B64URL[(B64URL.index(char) + 1) % len(B64URL)]


def _replace(text: str, index: int) -> str:
    return text[:index] + _other_b64_char(text[index]) + text[index + 1 :]


@pytest.mark.parametrize(
    "ref",
    [
        SurveyLinkRef("eng-x", "partner", 1),
        SurveyLinkRef("eng-x", "customer", 1),
        SurveyLinkRef("ENG_42.a-b", "customer", 7),
        SurveyLinkRef("e" * 64, "partner", 123456),
    ],
)
def test_verify_returns_the_engagement_kind_and_version_the_token_was_made_for(
    links: SurveyLinks, ref: SurveyLinkRef
) -> None:
    assert links.verify(links.token(ref)) == ref


def test_same_claim_kind_and_version_give_the_same_token_and_url_wherever_made(
    secret_key: bytes,
) -> None:
    here = SurveyLinks(secret_key, PUBLIC_URL)
    elsewhere = SurveyLinks(secret_key, PUBLIC_URL + "/")

    token = here.token(REF)
    assert elsewhere.token(SurveyLinkRef("eng-x", "partner", 1)) == token
    assert here.token(REF) == token
    assert here.url(REF) == f"{PUBLIC_URL}/surveys/{token}"
    assert elsewhere.url(REF) == here.url(REF)


def test_a_new_link_version_gives_a_different_token(links: SurveyLinks) -> None:
    first = links.token(SurveyLinkRef("eng-x", "partner", 1))
    second = links.token(SurveyLinkRef("eng-x", "partner", 2))

    assert first != second
    assert links.verify(second).link_version == 2


def test_the_two_survey_kinds_of_one_claim_get_different_tokens(links: SurveyLinks) -> None:
    partner = links.token(SurveyLinkRef("eng-x", "partner", 1))
    customer = links.token(SurveyLinkRef("eng-x", "customer", 1))

    assert partner != customer


@pytest.mark.parametrize("part", [0, 1], ids=["body", "signature"])
@pytest.mark.parametrize("position", [0, 5, -2], ids=["first", "middle", "second-to-last"])
def test_a_token_with_one_character_changed_is_refused(
    links: SurveyLinks, part: int, position: int
) -> None:
    pieces = links.token(REF).split(".")
    pieces[part] = _replace(pieces[part], position % len(pieces[part]))

    with pytest.raises(InvalidSurveyLink):
        links.verify(".".join(pieces))


def test_a_token_whose_body_names_another_claim_under_the_old_signature_is_refused(
    links: SurveyLinks,
) -> None:
    _, signature = links.token(REF).split(".")
    other_body, _ = links.token(SurveyLinkRef("eng-y", "partner", 1)).split(".")

    with pytest.raises(InvalidSurveyLink):
        links.verify(f"{other_body}.{signature}")


@pytest.mark.parametrize("keep", [1, 10, -1, -5], ids=["1", "10", "all-but-1", "all-but-5"])
def test_a_truncated_token_is_refused(links: SurveyLinks, keep: int) -> None:
    token = links.token(REF)

    with pytest.raises(InvalidSurveyLink):
        links.verify(token[:keep])


@pytest.mark.parametrize(
    "garbage",
    ["", ".", "..", "abc", "abc.def", "a.b.c", "not a token", "é.é", "%%%.%%%", "=.="],
)
def test_garbage_is_refused(links: SurveyLinks, garbage: str) -> None:
    with pytest.raises(InvalidSurveyLink):
        links.verify(garbage)


def test_a_token_made_with_another_key_is_refused(links: SurveyLinks) -> None:
    foreign = SurveyLinks(secrets.token_bytes(32), PUBLIC_URL)

    with pytest.raises(InvalidSurveyLink, match="tampered or foreign"):
        links.verify(foreign.token(REF))


def test_an_empty_secret_key_is_not_accepted() -> None:
    with pytest.raises(ValueError, match="secret_key"):
        SurveyLinks(b"", PUBLIC_URL)


def test_token_from_url_returns_the_token_of_a_link(links: SurveyLinks) -> None:
    token = links.token(REF)
    url = links.url(REF)

    assert links.token_from_url(url) == token
    assert links.token_from_url(f"{url}?utm_source=mail") == token
    assert links.token_from_url(f"{url}#top") == token
    assert links.verify(links.token_from_url(url)) == REF


def test_token_from_url_refuses_a_url_that_is_not_a_survey_link(links: SurveyLinks) -> None:
    with pytest.raises(InvalidSurveyLink, match="not a survey link"):
        links.token_from_url(f"{PUBLIC_URL}/claims/eng-x")


def test_only_the_exact_token_string_verifies(links: SurveyLinks) -> None:
    body, signature = links.token(REF).split(".")
    # A 32-byte HMAC is 43 base64 characters: the last one carries 2 unused bits.
    last = B64URL.index(signature[-1])
    padding_twin = B64URL[last ^ 1]
    variants = [
        f"{body}.{signature[:-1]}{padding_twin}",
        f"{body}.!!!!{signature}",
    ]
    for variant in variants:
        with pytest.raises(InvalidSurveyLink):
            links.verify(variant)
