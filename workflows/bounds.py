"""The bounds of what a claim keeps: a full claim refuses more, saying so, never stuck.

Plain Python, no Temporal import (rules.py is near its size limit, so these
rules live beside it). Each check is the rules' own check plus the bound; the
workflow's validators call these, so a raw Temporal caller meets them too.
"""

from __future__ import annotations

import math
from datetime import datetime
from datetime import timedelta

from workflows import rules
from workflows.messages import AddComment
from workflows.messages import ClaimView
from workflows.messages import RequestInfo
from workflows.messages import SendSurvey
from workflows.rules import Refusal
from workflows.state import ClaimState
from workflows.text import COMMENTS_MAX_BYTES
from workflows.text import MAX_COMMENTS
from workflows.text import MAX_QUESTIONS
from workflows.text import QUESTIONS_MAX_BYTES
from workflows.text import utf8_size

RESEND_INTERVAL = timedelta(minutes=10)
"""The least time between two mails of one survey link: a partner can't make the program
mail the same link (with text the partner chose) in a loop."""


def check_add_comment(claim: ClaimState, msg: AddComment, now: datetime) -> None:
    rules.check_add_comment(claim, msg, now)
    kept = [comment.text for comment in claim.comments]
    _check_room(
        "comments", kept, msg.text, MAX_COMMENTS, COMMENTS_MAX_BYTES, "no more can be added"
    )


def check_request_info(claim: ClaimState, msg: RequestInfo, now: datetime) -> None:
    rules.check_request_info(claim, msg, now)
    kept = [question.question for question in claim.questions]
    _check_room(
        "questions",
        kept,
        msg.question,
        MAX_QUESTIONS,
        QUESTIONS_MAX_BYTES,
        "approve or reject it instead",
    )


def _check_room(what: str, kept: list[str], new: str, most: int, budget: int, then: str) -> None:
    """A full claim refuses one more text (`WrongState`), saying why, rather than growing
    past what Temporal can carry."""
    if len(kept) >= most or utf8_size([*kept, new]) > budget:
        raise Refusal(
            "WrongState",
            f"the claim holds {len(kept)} {what}, the most it keeps "
            f"({most} {what} or {budget // 1000} kB): {then}",
        )


GROWING_LISTS = ("history", "comments", "questions")
"""What an update's answer leaves out: the `get_claim` query has them."""


def compact(view: ClaimView) -> ClaimView:
    """An update's answer: the claim view without its growing lists, so the answer stays
    small however long the claim's record grows (Temporal limits every payload)."""
    return view.model_copy(update={key: [] for key in GROWING_LISTS})


def check_send_survey(claim: ClaimState, msg: SendSurvey, now: datetime) -> None:
    """A re-send by e-mail of the same link (same link version) within RESEND_INTERVAL of
    its last send is refused `TooManyRequests`; its detail is the seconds to wait. A send
    after a contact change (a new link version: the survey is `invalidated`) never is."""
    rules.check_send_survey(claim, msg, now)
    proof = rules.survey(claim, msg.kind)
    if msg.channel != "email" or proof.status != "sent" or proof.last_sent_at is None:
        return
    wait = proof.last_sent_at + RESEND_INTERVAL - now
    if wait > timedelta(0):
        seconds = math.ceil(wait.total_seconds())
        raise Refusal(
            "TooManyRequests",
            f"the {msg.kind} survey was sent less than {RESEND_INTERVAL.seconds // 60} "
            f"minutes ago; the same link can be sent again in {seconds} seconds",
            [str(seconds)],
        )
