"""ConsentRequestWorkflow: one durable workflow per consent request.

A consent request waits weeks for a person: the customer contact gets a
signed consent page by mail, a reminder 7 and 1 days before the request
lapses, and 30 days to answer. "I consent" records that moment as the
engagement's `consent_at`; "I decline" or the lapse leave it not eligible.
The rules (timeline, what an answer may do) are in workflows/engagement_rules.py;
mail and the registry are reached through activities only.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from activities.consent import ConsentActivities
    from workflows import engagement_rules
    from workflows.claim import MAIL_RETRY
    from workflows.claim import STORE_RETRY
    from workflows.claim import _refusal_error
    from workflows.engagements import ConsentAnswer
    from workflows.engagements import ConsentMail
    from workflows.engagements import ConsentOutcome
    from workflows.engagements import ConsentRequestInput
    from workflows.engagements import ConsentState
    from workflows.rules import Refusal

CONSENT_WORKFLOW_ID_PREFIX = "engagement-consent-"


def consent_workflow_id(engagement_id: str, request: int) -> str:
    """One workflow per request: `engagement-consent-<engagement_id>-<request>`."""
    return f"{CONSENT_WORKFLOW_ID_PREFIX}{engagement_id}-{request}"


@workflow.defn(name="ConsentRequest")
class ConsentRequestWorkflow:
    @workflow.init
    def __init__(self, request: ConsentRequestInput) -> None:
        self._request = request
        self._state = ConsentState(lapses_at=workflow.now() + engagement_rules.CONSENT_REQUEST_OPEN)

    @workflow.run
    async def run(self, request: ConsentRequestInput) -> ConsentState:
        await self._mail("consent_request")
        for checkpoint in engagement_rules.consent_checkpoints(
            self._state.lapses_at - engagement_rules.CONSENT_REQUEST_OPEN, workflow.now()
        ):
            delay = checkpoint.at - workflow.now()
            if delay > timedelta(0) and self._state.status == "pending":
                with contextlib.suppress(TimeoutError):
                    await workflow.wait_condition(
                        lambda: self._state.status != "pending",
                        timeout=delay,
                        timeout_summary=f"consent: {checkpoint.days_before_lapse} days left",
                    )
            if self._state.status != "pending":
                break
            if checkpoint.days_before_lapse:
                self._state.reminders_sent += 1
                await self._mail("consent_reminder", checkpoint.days_before_lapse)
            else:
                engagement_rules.lapse(self._state)
        await workflow.execute_activity_method(
            ConsentActivities.record_consent_outcome,
            ConsentOutcome(
                engagement_id=request.engagement_id,
                request=request.request,
                status=self._state.status,
                consent_at=self._state.answered_at if self._state.status == "consented" else None,
            ),
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=STORE_RETRY,
            summary=f"registry: consent {self._state.status}",
        )
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._state

    async def _mail(self, kind: str, days_left: int | None = None) -> None:
        request = self._request
        number = self._state.reminders_sent
        mail = ConsentMail(
            key=f"consent-{request.engagement_id}-{request.request}.m{number}",
            kind="consent_request" if kind == "consent_request" else "consent_reminder",
            request=request,
            lapses_at=self._state.lapses_at,
            days_left=days_left,
        )
        await workflow.execute_activity_method(
            ConsentActivities.send_consent_mail,
            mail,
            start_to_close_timeout=timedelta(minutes=2),
            retry_policy=MAIL_RETRY,
            summary=f"mail: {kind}",
        )

    @workflow.query
    def get_state(self) -> ConsentState:
        return self._state

    @workflow.update
    def answer(self, msg: ConsentAnswer) -> ConsentState:
        engagement_rules.answer(self._state, msg.decision, workflow.now())
        return self._state

    @answer.validator
    def _validate_answer(self, msg: ConsentAnswer) -> None:
        try:
            engagement_rules.check_answer(self._state, workflow.now())
        except Refusal as refusal:
            raise _refusal_error(refusal) from None
