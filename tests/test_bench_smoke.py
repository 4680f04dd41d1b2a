"""A small run of the benchmark (`python -m bench`), to prove it still works end to end.

The benchmark is not a test: nothing here is timed or compared with a target
(CI machines differ and share their cores). This runs it tiny, as a user
would, and checks that the report has every figure docs/performance.md names, each
with a sane value, and that no server or worker outlives the run.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.bench]

ROOT = Path(__file__).resolve().parent.parent
CLAIMS, CONCURRENCY, OPEN_CLAIMS, CACHE_BOUND = 4, 2, 50, 200
RUN_TIMEOUT = 240


def _run_bench(out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """Run the benchmark; on a timeout, SIGTERM it first so it can stop its children."""
    command = [
        sys.executable,
        "-m",
        "bench",
        "--claims",
        str(CLAIMS),
        "--concurrency",
        str(CONCURRENCY),
        "--open-claims",
        str(OPEN_CLAIMS),
        "--cache-bound",
        str(CACHE_BOUND),
        "--warmup",
        "1",
        "--out",
        str(out),
        *extra,
    ]
    process = subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        stdout, _ = process.communicate(timeout=RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGTERM)
        stdout, _ = process.communicate(timeout=60)
        pytest.fail(f"the benchmark did not finish in {RUN_TIMEOUT}s:\n{stdout[-3000:]}")
    return subprocess.CompletedProcess(command, process.returncode, stdout, "")


def _processes_mentioning(text: str) -> list[int]:
    """Processes whose environment mentions `text` (the run's temporary folder)."""
    found = []
    for environ in Path("/proc").glob("[0-9]*/environ"):
        try:
            if text.encode() in environ.read_bytes():
                found.append(int(environ.parent.name))
        except OSError:
            continue
    return found


def _rtt_ok(values: dict[str, Any], runs: int) -> bool:
    return bool(values["n"] == runs and 0 < values["p50"] <= values["p99"] <= values["max"])


@pytest.mark.timeout(RUN_TIMEOUT + 90)
def test_a_small_benchmark_run_reports_every_figure_and_cleans_up(
    tmp_path: Path, database_url: str
) -> None:
    """Once on the default read model (a SQLite file of the run's own) and once with
    `--database` on PostgreSQL."""
    out = tmp_path / "bench.json"
    postgres = database_url.startswith("postgresql")
    done = _run_bench(out, *(["--database", database_url] if postgres else []))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "ratio lifecycle/baseline" in done.stdout  # the table is printed

    report = json.loads(out.read_text())
    for key in (
        "lifecycle_claims_per_s",
        "baseline_claims_per_s",
        "ratio",
        "events_per_lifecycle",
        "history_bytes_per_lifecycle",
        "update_rtt_vs_baseline_ms",
        "worker_kib_per_cached_claim",
        "workflow_tasks_per_lifecycle",
        "activities_per_lifecycle",
        "update_rtt_ms",
        "worker_rss_mib",
        "server_rss_mib",
        "open_claims",
        "worker_cache_bound",
        "worker_cpu_s_per_claim",
        "machine",
        "versions",
    ):
        assert key in report, key
    assert report["lifecycle_claims_per_s"] > 0
    assert report["baseline_claims_per_s"] > 0
    ratio = report["lifecycle_claims_per_s"] / report["baseline_claims_per_s"]
    assert report["ratio"] == pytest.approx(ratio, rel=0.05)  # of rounded rates
    assert report["cpu_ratio"] > 0
    assert report["run"]["database"] == ("postgresql" if postgres else "sqlite")
    assert 1_000 <= report["history_bytes_per_lifecycle"] <= 1_000_000
    for name in ("attach_document", "submit", "approve"):
        pair = report["update_rtt_vs_baseline_ms"][name]
        for quantile in ("p50", "p99"):
            expected = pair["lifecycle"][quantile] / pair["baseline"][quantile]
            assert pair[f"{quantile}_ratio"] == pytest.approx(expected, abs=0.01)
    assert {t["target"] for t in report["targets"]} >= {
        "ratio lifecycle/baseline >= 0.5",
        "CPU ratio baseline/lifecycle >= 0.5",
        "history events per lifecycle <= 90",
        "history kB per lifecycle <= 25",
        "worker KiB per cached claim <= 150",
    }
    # A lifecycle has 7 updates and 3 signals, each needing a workflow task, and
    # at least one history event per message: far fewer or far more is a counting bug.
    assert 20 <= report["events_per_lifecycle"] <= 400
    assert 5 <= report["workflow_tasks_per_lifecycle"] <= report["events_per_lifecycle"] / 3
    assert 1 <= report["activities_per_lifecycle"] <= 60
    assert report["baseline"]["activities"] == 2
    # Each lifecycle attaches two documents and submits once.
    assert _rtt_ok(report["update_rtt_ms"]["attach_document"], 2 * CLAIMS)
    assert _rtt_ok(report["update_rtt_ms"]["submit"], CLAIMS)
    assert 20 < report["worker_rss_mib"] < 4096
    assert 20 < report["server_rss_mib"] < 4096
    assert report["open_claims"] == OPEN_CLAIMS
    assert report["open_claims_running"] == OPEN_CLAIMS
    assert report["worker_cache_bound"] == CACHE_BOUND
    assert 0 < report["worker_cpu_s_per_claim"] < 60
    assert report["machine"]["cores"] >= 1
    assert report["machine"]["cpu_model"]
    assert report["machine"]["memory_gib"] > 0
    for name in ("python", "temporalio", "temporal_cli"):
        assert report["versions"][name] not in ("", "unknown", "not installed"), name

    assert _processes_mentioning(report["run"]["workdir"]) == []
