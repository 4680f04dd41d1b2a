"""`python -m bench.sweep`: the benchmark at several concurrencies, and the latency plot.

Each concurrency gets a fresh stack (`bench.run`), without the open-claims
phase, so every point starts from the same empty server. Writes the reports
as one JSON list and the plot of docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.cli import positive
from bench.cli import run_until_terminated
from bench.model import Options
from bench.plot import plot_sweep
from bench.procs import set_niceness
from bench.procs import wait_until_quiet
from bench.run import run_benchmark


async def sweep(
    concurrencies: list[int], claims: int, warmup: int, wait_quiet: int, niceness: int
) -> list[dict[str, Any]]:
    reports = []
    for concurrency in concurrencies:
        log = _logger(f"sweep C={concurrency}")
        if wait_quiet:
            quiet, load = wait_until_quiet(wait_quiet)
            log(f"machine {'quiet' if quiet else 'still busy'}: {load:.2f} cores in use")
        options = Options(
            claims=claims, concurrency=concurrency, open_claims=0, warmup=warmup, niceness=niceness
        )
        reports.append(await run_benchmark(options, log=log))
    return reports


def _logger(prefix: str) -> Callable[[str], None]:
    def log(line: str) -> None:
        print(f"{prefix}: {line}", flush=True)

    return log


def main(argv: list[str] | None = None) -> int:
    parse = argparse.ArgumentParser(prog="python -m bench.sweep", description=__doc__)
    parse.add_argument("--concurrency", type=positive, nargs="+", default=[1, 5, 10, 20])
    parse.add_argument("--claims", type=positive, default=100)
    parse.add_argument("--warmup", type=int, default=4)
    parse.add_argument("--wait-quiet", type=int, default=0, metavar="SECONDS")
    parse.add_argument("--nice", type=int, default=0, help="as for python -m bench")
    parse.add_argument("--out", type=Path, default=Path(".data/bench-sweep.json"))
    parse.add_argument("--plot", type=Path, default=Path("docs/performance-latency.png"))
    args = parse.parse_args(argv)
    niceness = set_niceness(args.nice)
    reports = asyncio.run(
        run_until_terminated(
            sweep(args.concurrency, args.claims, args.warmup, args.wait_quiet, niceness)
        )
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(reports, indent=2) + "\n")
    plot_sweep(reports, args.plot)
    for report in reports:
        rtt = report["update_rtt_ms"]
        print(
            f"C={report['run']['concurrency']:>3}  {report['lifecycle_claims_per_s']:6.2f} claims/s"
            f"  ratio {report['ratio']:.2f}  attach p50/p99 {rtt['attach_document']['p50']:.0f}/"
            f"{rtt['attach_document']['p99']:.0f} ms  submit p50/p99 {rtt['submit']['p50']:.0f}/"
            f"{rtt['submit']['p99']:.0f} ms"
        )
    print(f"sweep: reports in {args.out}, plot in {args.plot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
