"""The claim workflow's activities: the only places where a claim touches the world.

Both are idempotent because Temporal retries them:
- `store_claim` upserts the read model keyed by claim and history sequence;
- `send_notification` sends each recipient's e-mail with a stable Message-ID
  and heartbeats its progress after each recipient, so a retry after a crash
  resumes after the last one handled instead of mailing everyone again.
"""

from __future__ import annotations

from temporalio import activity

from activities.mail import Mailer
from activities.store import ClaimStore
from workflows.messages import DeliveryReport, Notification, StoreClaim


class ClaimActivities:
    """Activity implementations bound to one store and one mailer (shared by all claims)."""

    def __init__(self, store: ClaimStore, mailer: Mailer) -> None:
        self._store = store
        self._mailer = mailer

    @activity.defn(name="store_claim")
    async def store_claim(self, write: StoreClaim) -> int:
        """Write the claim's latest view and its new history rows; returns rows inserted."""
        return await self._store.save(write)

    @activity.defn(name="send_notification")
    async def send_notification(self, notification: Notification) -> DeliveryReport:
        """Mail every recipient once; permanently refused recipients are reported, not raised."""
        details = activity.info().heartbeat_details
        resume = DeliveryReport.model_validate(details[0]) if details else None
        return await self._mailer.deliver(
            notification, resume=resume, on_progress=lambda report: activity.heartbeat(report)
        )
