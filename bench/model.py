"""The shapes shared by the run and its report: what was asked, what a phase measured."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.histories import HistoryFigures
from bench.latency import RoundTrips
from bench.load import LoadResult


@dataclass(frozen=True)
class Options:
    claims: int = 100
    concurrency: int = 20
    open_claims: int = 2000
    cache_bound: int = 1000
    """max_cached_workflows of both workers (the SDK's default, stated explicitly)."""
    warmup: int = 4
    """Lifecycles run before measuring, so first-run costs (imports, sandbox) are left out."""
    niceness: int = 0
    """The niceness the run's processes had (see `--nice`), reported with the figures."""
    keep_logs: Path | None = None
    """Where to copy the server's and workers' logs before the run's folder is removed."""
    profile: Path | None = None
    """Where py-spy writes the claims worker's samples during the measured lifecycle load."""
    database: str | None = None
    """The claims worker's read model (`--database`); None: a SQLite file in the run's folder."""

    def database_url(self, workdir: Path, kind: str) -> str:
        if self.database is not None and kind == "claims":
            return self.database
        return f"sqlite+aiosqlite:///{workdir / f'{kind}.db'}"

    @property
    def database_kind(self) -> str:
        return "sqlite" if self.database is None else self.database.partition("+")[0]


@dataclass(frozen=True)
class Phase:
    """What the load phase of one worker kind measured."""

    load: LoadResult
    rtt: RoundTrips
    history: HistoryFigures
