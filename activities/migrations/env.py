"""Alembic environment for the claims read model.

The worker runs migrations itself at start-up, handing its connection in
`config.attributes["connection"]`. Run by hand (`alembic upgrade head` with
alembic.ini at the project root), the database comes from CLAIMS_DATABASE_URL.
Concurrent start-ups take turns through `ClaimStore.migrate` (see there).
"""

from __future__ import annotations

import asyncio
import os

from alembic import context
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from activities.store import metadata


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_from_url(url: str) -> None:
    engine = create_async_engine(url)
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = context.config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(
        _run_from_url(os.environ.get("CLAIMS_DATABASE_URL", "sqlite+aiosqlite:///claims.db"))
    )
