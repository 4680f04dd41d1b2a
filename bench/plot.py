"""The latency-against-load plot of docs/performance.md, from a sweep's reports.

Round trips are what a portal user waits for, and they grow with load; the
plot shows p50 and p99 of `attach_document` and `submit` against the number
of claims in flight, with the 150 ms target, and the throughput beside it so
the knee of the curve can be seen where it starts.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on a server or in CI

import matplotlib.pyplot as plt

TARGET_MS = 150
SERIES = (
    ("attach_document", "p50", "tab:blue", "--"),
    ("attach_document", "p99", "tab:blue", "-"),
    ("submit", "p50", "tab:orange", "--"),
    ("submit", "p99", "tab:orange", "-"),
)


def plot_sweep(reports: Sequence[dict[str, Any]], out: Path) -> None:
    """Write a PNG of round-trip latency and throughput against concurrency."""
    points = sorted(reports, key=lambda r: int(r["run"]["concurrency"]))
    load = [int(r["run"]["concurrency"]) for r in points]
    figure, (latency, throughput) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)

    for update, stat, colour, style in SERIES:
        values = [r["update_rtt_ms"][update][stat] for r in points]
        latency.plot(load, values, style, marker="o", color=colour, label=f"{update} {stat}")
    baseline_p99 = [r["baseline"]["update_rtt_ms"]["submit"]["p99"] for r in points]
    latency.plot(load, baseline_p99, ":", marker=".", color="grey", label="baseline submit p99")
    latency.axhline(TARGET_MS, color="red", linewidth=0.8, label=f"target p99 {TARGET_MS} ms")
    latency.set_xlabel("claims in flight (concurrency)")
    latency.set_ylabel("update round trip, ms (log scale)")
    latency.set_title("Update round trip against load")
    latency.set_xticks(load)
    latency.set_yscale("log")  # p50 and p99 can be orders of magnitude apart
    latency.grid(alpha=0.3)
    latency.legend(fontsize=8)

    throughput.plot(
        load, [r["lifecycle_claims_per_s"] for r in points], "-o", label="claim lifecycle"
    )
    throughput.plot(
        load, [r["baseline_claims_per_s"] for r in points], ":o", color="grey", label="baseline"
    )
    throughput.set_xlabel("claims in flight (concurrency)")
    throughput.set_ylabel("lifecycles per second")
    throughput.set_title("Throughput against load")
    throughput.set_xticks(load)
    throughput.set_ylim(bottom=0)
    throughput.grid(alpha=0.3)
    throughput.legend(fontsize=8)

    machine = points[0]["machine"]
    versions = points[0]["versions"]
    figure.suptitle(
        f"{machine['cores']} cores {machine['cpu_model']}, dev server {versions['temporal_cli']}, "
        f"temporalio {versions['temporalio']}, code {versions['code']}",
        fontsize=8,
    )
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out)
    plt.close(figure)


def main(argv: list[str] | None = None) -> int:
    """`python -m bench.plot SWEEP.json OUT.png`: plot a saved sweep again."""
    parse = argparse.ArgumentParser(prog="python -m bench.plot", description=main.__doc__)
    parse.add_argument("sweep", type=Path, help="the JSON list written by python -m bench.sweep")
    parse.add_argument("out", type=Path)
    args = parse.parse_args(argv)
    plot_sweep(json.loads(args.sweep.read_text()), args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
