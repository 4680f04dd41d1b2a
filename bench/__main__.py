"""`python -m bench --claims N --concurrency C --out FILE [--open-claims M]`

Starts the embedded dev server, a mail sink, a SQLite read model and the
worker processes, measures the claim lifecycle against the baseline and the
memory of M open claims, writes the JSON report to FILE and prints a short
table. The defaults finish in a few minutes on a 2-core machine; the memory
target of docs/performance.md is for `--open-claims 10000`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path

from bench.cli import not_negative
from bench.cli import positive
from bench.cli import run_until_terminated
from bench.model import Options
from bench.procs import set_niceness
from bench.procs import wait_until_quiet
from bench.report import table
from bench.run import run_benchmark

DEFAULTS = Options()
COUNTS: tuple[tuple[str, Callable[[str], int], str], ...] = (
    ("claims", positive, "lifecycles measured (each, for the claim and the baseline)"),
    ("concurrency", positive, "lifecycles in flight at once"),
    ("open_claims", not_negative, "claims left open for the memory figure (0: skip)"),
    ("cache_bound", positive, "max_cached_workflows of the workers"),
    ("warmup", not_negative, "unmeasured lifecycles first"),
)
"""The counting options: (Options field, parser, help); the defaults come from Options."""


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    for name, kind, purpose in COUNTS:
        flag = "--" + name.replace("_", "-")
        parse.add_argument(flag, type=kind, default=getattr(DEFAULTS, name), help=purpose)
    parse.add_argument(
        "--nice",
        type=int,
        default=0,
        help="niceness of the run and its processes; negative (as root) favours them over\n"
        "other work on a shared machine, whose load is reported either way",
    )
    parse.add_argument(
        "--wait-quiet",
        type=not_negative,
        default=0,
        metavar="SECONDS",
        help="first wait up to this long for the machine to be idle (shared machines)",
    )
    parse.add_argument(
        "--keep-logs",
        type=Path,
        metavar="DIR",
        help="copy the server's and workers' logs here (they go with the run's temporary folder)",
    )
    parse.add_argument(
        "--profile",
        type=Path,
        help="sample the claims worker with py-spy during the measured load into this file\n"
        "(raw collapsed stacks; a summary by area goes into the report)",
    )
    parse.add_argument(
        "--database",
        metavar="URL",
        help="the claims worker's read model, e.g. postgresql+asyncpg://postgres@127.0.0.1/bench\n"
        "(default: a SQLite file in the run's temporary folder)",
    )
    parse.add_argument(
        "--out", type=Path, default=Path(".data/bench.json"), help="where the JSON report goes"
    )
    return parse


def log(line: str) -> None:
    print(f"bench: {line}", flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    niceness = set_niceness(args.nice)
    counts = {name: getattr(args, name) for name, _, _ in COUNTS}
    options = Options(
        **counts,
        profile=args.profile,
        keep_logs=args.keep_logs,
        niceness=niceness,
        database=args.database,
    )
    if args.wait_quiet:
        quiet, load = wait_until_quiet(args.wait_quiet)
        log(f"machine {'quiet' if quiet else 'still busy'}: {load:.2f} cores in use")
    report = asyncio.run(run_until_terminated(run_benchmark(options, log=log)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print(table(report))
    print(f"bench: report written to {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
