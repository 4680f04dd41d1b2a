"""Bounded state and compact answers (issue 15): a claim with the maximum of everything stays
well under Temporal's payload limits, its updates answer small and fast, and the `get_claim`
query still has the whole record. On the real workflow and worker."""

from __future__ import annotations

import time

import pytest
from temporalio.testing import WorkflowEnvironment

from claims_testing.factory import ClaimFactory
from starter.client import ClaimRefused
from starter.client import ClaimsClient
from tests.builders import PARTNER_ADMIN
from tests.builders import PARTNER_USER
from tests.builders import REVIEWER
from tests.builders import attach
from tests.builders import claim_input
from workflows.messages import AddComment
from workflows.messages import Contact
from workflows.messages import Party
from workflows.messages import RequestInfo
from workflows.messages import RespondInfo
from workflows.messages import SendSurvey
from workflows.messages import Submit
from workflows.messages import SurveyKind
from workflows.text import ANSWER_MAX_CHARS
from workflows.text import COMMENTS_MAX_BYTES
from workflows.text import FREE_TEXT_MAX_CHARS
from workflows.text import MAX_ANSWERS
from workflows.text import MAX_CONTACTS
from workflows.text import NAME_MAX_CHARS
from workflows.text import QUESTIONS_MAX_BYTES

pytestmark = [pytest.mark.timeout(120), pytest.mark.claims_server("shared")]

MAX_STATE_BYTES = 1_000_000
ANSWER_WAIT_SECONDS = 2.0


def longest(char: str, count: int) -> str:
    return char * count


@pytest.mark.slow
async def test_a_claim_with_the_maximum_of_everything_stays_under_1_mb_and_answers_fast(
    env: WorkflowEnvironment, claims: ClaimsClient, claim_factory: ClaimFactory
) -> None:
    name = longest("Ω", NAME_MAX_CHARS)  # two bytes a character
    contacts = [
        Contact(name=name, email=f"contact{n}@partner.example") for n in range(MAX_CONTACTS)
    ]
    claim = claim_input(
        await env.get_current_time(),
        partner=Party(id="partner-42", name=name),
        customer=Party(id="customer-7", name=name),
        workshop=name,
        partner_contacts=contacts,
    )
    eid = (await claims.start_claim(claim)).view.engagement_id
    for kind in ("results_and_recommendations", "invoice"):
        await claims.attach_document(eid, attach(kind))
    answers: dict[str, str | int | float] = {
        f"q{n}": longest("a", ANSWER_MAX_CHARS) for n in range(MAX_ANSWERS)
    }
    kinds: tuple[SurveyKind, ...] = ("partner", "customer")
    for kind in kinds:
        await claims.send_survey(eid, SendSurvey(kind=kind, channel="email", actor=PARTNER_ADMIN))
        await claim_factory.complete_survey(eid, kind, answers=answers)

    comment = longest("c", FREE_TEXT_MAX_CHARS)
    for _ in range(COMMENTS_MAX_BYTES // len(comment.encode())):
        began = time.monotonic()
        answer = await claims.add_comment(eid, AddComment(text=comment, actor=PARTNER_USER))
        assert time.monotonic() - began < ANSWER_WAIT_SECONDS
    with pytest.raises(ClaimRefused) as full:
        await claims.add_comment(eid, AddComment(text=comment, actor=PARTNER_USER))
    assert full.value.type == "WrongState"

    question = longest("q", FREE_TEXT_MAX_CHARS)
    for asked in range(QUESTIONS_MAX_BYTES // len(question.encode())):
        if asked:  # the question before must be answered before submitting again
            await claims.respond_info(eid, RespondInfo(text="Answered.", actor=PARTNER_ADMIN))
        await claims.submit(eid, Submit(actor=PARTNER_ADMIN))
        answer = await claims.request_info(eid, RequestInfo(question=question, actor=REVIEWER))
    await claims.respond_info(eid, RespondInfo(text="Answered.", actor=PARTNER_ADMIN))
    await claims.submit(eid, Submit(actor=PARTNER_ADMIN))
    with pytest.raises(ClaimRefused) as no_more:
        await claims.request_info(eid, RequestInfo(question=question, actor=REVIEWER))
    assert no_more.value.type == "WrongState"

    # The update's answer: the view without its growing lists, small however full the claim.
    assert (answer.history, answer.comments, answer.questions) == ([], [], [])
    assert len(answer.model_dump_json().encode()) < 50_000

    began = time.monotonic()
    view = await claims.get_claim(eid)
    assert time.monotonic() - began < ANSWER_WAIT_SECONDS
    size = len(view.model_dump_json().encode())
    assert size < MAX_STATE_BYTES, f"the claim's record takes {size} bytes"
    assert len(view.comments) == COMMENTS_MAX_BYTES // len(comment.encode())
    assert len(view.questions) == QUESTIONS_MAX_BYTES // len(question.encode())
    # a comment is kept once: its history entry names it, without its text again
    assert all(
        entry.detail == {"comment": number}
        for number, entry in enumerate(
            (entry for entry in view.history if entry.event == "comment_added"), start=1
        )
    )


async def test_answers_beyond_their_byte_budget_are_refused_whatever_the_script(
    env: WorkflowEnvironment, claims: ClaimsClient, claim_factory: ClaimFactory
) -> None:
    eid = (await claims.start_claim(claim_input(await env.get_current_time()))).view.engagement_id
    await claims.send_survey(eid, SendSurvey(kind="customer", actor=PARTNER_ADMIN))
    wide: dict[str, str | int | float] = {
        f"q{n}": longest("語", ANSWER_MAX_CHARS) for n in range(MAX_ANSWERS)
    }
    with pytest.raises(ClaimRefused) as refused:
        await claim_factory.complete_survey(eid, "customer", answers=wide)
    assert refused.value.type == "InvalidInput"
    assert "bytes" in refused.value.message
