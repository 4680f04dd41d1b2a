"""The bounds of what a claim keeps: a full claim refuses more, saying so, never stuck.

Plain Python, no Temporal import (rules.py is near its size limit, so these
rules live beside it). Each check is the rules' own check plus the bound; the
workflow's validators call these, so a raw Temporal caller meets them too.
"""

from __future__ import annotations

from datetime import datetime

from workflows import rules
from workflows.messages import AddComment, RequestInfo
from workflows.rules import Refusal
from workflows.state import ClaimState
from workflows.text import MAX_COMMENTS, MAX_QUESTIONS


def check_add_comment(claim: ClaimState, msg: AddComment, now: datetime) -> None:
    rules.check_add_comment(claim, msg, now)
    if len(claim.comments) >= MAX_COMMENTS:
        raise Refusal(
            "WrongState",
            f"the claim holds {MAX_COMMENTS} comments, the most it keeps: no more can be added",
        )


def check_request_info(claim: ClaimState, msg: RequestInfo, now: datetime) -> None:
    rules.check_request_info(claim, msg, now)
    if len(claim.questions) >= MAX_QUESTIONS:
        raise Refusal(
            "WrongState",
            f"the claim holds {MAX_QUESTIONS} questions, the most it keeps: "
            "approve or reject it instead",
        )
