"""The objects behind the test kit's fixtures: mailbox, virtual clock, the environment
(the claim factory is claims_testing.factory)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from email.message import EmailMessage

from temporalio.testing import WorkflowEnvironment

from activities.links import SurveyLinks
from activities.links import token_in
from activities.store import ClaimStore
from claims_testing.factory import ClaimFactory
from claims_testing.factory import ClaimState as ClaimState  # where it was first published
from devstack.mailcatcher import MailCatcher
from devstack.mailcatcher import body_text
from devstack.mailcatcher import survey_link as _survey_link
from starter.client import ClaimsClient


@asynccontextmanager
async def migrated_store(database_url: str) -> AsyncIterator[ClaimStore]:
    """A read model on `database_url`, its schema migrated; closed on the way out."""
    store = ClaimStore.from_url(database_url)
    await store.migrate()
    try:
        yield store
    finally:
        await store.close()


class Mailbox(MailCatcher):
    """The captured mails, with helpers to find them and follow their survey links."""

    def survey_link(self, message: EmailMessage) -> str:
        """The survey link a mail carries."""
        return _survey_link(message)

    def survey_token(self, message: EmailMessage) -> str:
        """The token of the survey link a mail carries (`claims.complete_survey` takes the
        link or this token)."""
        return token_in(_survey_link(message))

    def text(self, message: EmailMessage) -> str:
        """A mail's plain-text body."""
        return body_text(message)


class VirtualClock:
    """Virtual time of the test server: read it, and move it by days.

    Time on the time-skipping server only moves while something waits for it:
    `advance` is one sleep of the whole span (then read results), which avoids
    the known traps of awaiting many results at once.
    """

    def __init__(self, temporal: WorkflowEnvironment) -> None:
        self._temporal = temporal

    async def now(self) -> datetime:
        return await self._temporal.get_current_time()

    async def advance(self, *, days: float = 0, hours: float = 0, minutes: float = 0) -> datetime:
        """Move time forward (timers due in the span fire); returns the new now."""
        span = timedelta(days=days, hours=hours, minutes=minutes)
        if not self._temporal.supports_time_skipping and span > timedelta(minutes=1):
            raise RuntimeError(
                "the dev server's time is real: advance it by days only on the "
                "time-skipping server (the default; drop --claims-server=dev)"
            )
        await self._temporal.sleep(span)
        return await self.now()


@dataclass
class ClaimsEnvironment:
    """One test's claims environment: server, client, mailbox, read model, clock, factory."""

    temporal: WorkflowEnvironment
    client: ClaimsClient
    mailbox: Mailbox
    store: ClaimStore
    links: SurveyLinks
    clock: VirtualClock = field(init=False)
    factory: ClaimFactory = field(init=False)

    def __post_init__(self) -> None:
        self.clock = VirtualClock(self.temporal)
        self.factory = ClaimFactory(self.client, self.clock)
