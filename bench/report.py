"""The benchmark's JSON report and the short table printed at the end of a run.

The JSON keys that docs/performance.md names are at the top level; everything else that
helps read them (the baseline's own figures, CPU by process, what each
history event pays for, the targets and whether they were met) sits beside.
"""

from __future__ import annotations

import math
from typing import Any

from bench.model import Options
from bench.model import Phase
from bench.open_claims import OpenClaims
from bench.procs import Memory

UPDATES = (
    "attach_document",
    "send_survey",
    "complete_survey",
    "add_comment",
    "submit",
    "approve",
)
"""The lifecycle's updates; its other timed calls are a start, signals and queries."""

TARGETS_AT_CONCURRENCY = 20
TARGETS_AT_OPEN_CLAIMS = 10_000
MAX_EVENTS = 90
MAX_HISTORY_KB = 25
RTT_LIMITS = {"p50": 2.5, "p99": 3.0}
"""An update's round trip at most this many times the baseline's, for the same update."""
MAX_KIB_PER_CACHED_CLAIM = 150
DISTURBED_CORES = 0.25
"""Other processes using more than this many cores during a load phase spoil its figures."""


def _round(value: float, digits: int = 3) -> float:
    return round(value, digits) if math.isfinite(value) else value


def _rtt(phase: Phase) -> tuple[dict[str, Any], dict[str, Any]]:
    summary = phase.rtt.summary()
    updates = {name: summary[name] for name in UPDATES if name in summary}
    others = {name: values for name, values in summary.items() if name not in UPDATES}
    return updates, others


def _phase(phase: Phase) -> dict[str, Any]:
    updates, others = _rtt(phase)
    cpu = phase.load.cpu_per_run()
    return {
        "claims_per_s": _round(phase.load.per_second, 2),
        "elapsed_s": _round(phase.load.elapsed_s, 1),
        "runs": len(phase.load.workflow_ids),
        "cpu_s_per_claim": {name: _round(seconds, 4) for name, seconds in cpu.items()},
        "cpu_s_per_claim_total": _round(sum(cpu.values()), 4),
        "other_load_cores": _round(phase.load.other_load_cores, 2),
        "events": _round(phase.history.events, 2),
        "history_bytes": round(phase.history.size_bytes),
        "workflow_tasks": _round(phase.history.workflow_tasks, 2),
        "activities": _round(phase.history.activities, 2),
        "update_rtt_ms": updates,
        "other_rtt_ms": others,
    }


def _cpu_total(phase: Phase) -> float:
    """CPU seconds per lifecycle of server, worker and driver together: unlike the
    throughput, barely changed by other work competing for the cores, so the ratio of
    two of these is the steadier comparison on a shared machine."""
    return sum(phase.load.cpu_per_run().values())


def _updates_side_by_side(lifecycle: Phase, baseline: Phase) -> dict[str, dict[str, Any]]:
    """Each update's p50 and p99 in both phases, and the lifecycle's as a multiple of the
    baseline's (the baseline sends the same update to a workflow that only counts it)."""
    life, base = _rtt(lifecycle)[0], _rtt(baseline)[0]
    pairs: dict[str, dict[str, Any]] = {}
    for name in UPDATES:
        if name not in life or name not in base:
            continue
        pair: dict[str, Any] = {"lifecycle": {}, "baseline": {}}
        for quantile in RTT_LIMITS:
            pair["lifecycle"][quantile] = life[name][quantile]
            pair["baseline"][quantile] = base[name][quantile]
            pair[f"{quantile}_ratio"] = _round(life[name][quantile] / base[name][quantile], 2)
        pairs[name] = pair
    return pairs


def _kib_per_cached_claim(
    before: dict[str, Memory], after: dict[str, Memory], opened: OpenClaims | None, options: Options
) -> float:
    """The worker's growth while the open claims settled, per claim its cache can hold."""
    if opened is None or not opened.count:
        return math.nan
    cached = min(opened.count, options.cache_bound)
    return (after["worker"].rss_mib - before["worker"].rss_mib) * 1024 / cached


def _target(
    name: str, value: float, limit: float, *, at_most: bool, applies: bool
) -> dict[str, Any]:
    met = value <= limit if at_most else value >= limit
    return {
        "target": name,
        "value": _round(value, 3),
        "limit": limit,
        "met": met if applies else None,
    }


def build_report(
    *,
    options: Options,
    baseline: Phase,
    lifecycle: Phase,
    memory_before: dict[str, Memory],
    memory_after: dict[str, Memory],
    opened: OpenClaims | None,
    machine: dict[str, Any],
    versions: dict[str, Any],
    started_at: str,
    duration_s: float,
    workdir: str,
) -> dict[str, Any]:
    lifecycle_rate = lifecycle.load.per_second
    baseline_rate = baseline.load.per_second
    ratio = lifecycle_rate / baseline_rate
    update_rtt, other_rtt = _rtt(lifecycle)
    cpu = lifecycle.load.cpu_per_run()
    at_load = options.concurrency == TARGETS_AT_CONCURRENCY
    open_count = opened.count if opened else 0
    cpu_ratio = _cpu_total(baseline) / _cpu_total(lifecycle)
    side_by_side = _updates_side_by_side(lifecycle, baseline)
    per_cached = _kib_per_cached_claim(memory_before, memory_after, opened, options)
    targets = [
        _target("ratio lifecycle/baseline >= 0.5", ratio, 0.5, at_most=False, applies=True),
        _target("CPU ratio baseline/lifecycle >= 0.5", cpu_ratio, 0.5, at_most=False, applies=True),
        _target(
            "history events per lifecycle <= 90",
            lifecycle.history.events,
            MAX_EVENTS,
            at_most=True,
            applies=True,
        ),
        _target(
            "history kB per lifecycle <= 25",
            lifecycle.history.size_bytes / 1000,
            MAX_HISTORY_KB,
            at_most=True,
            applies=True,
        ),
        *(
            _target(
                f"{name} {quantile} <= {limit:g}x the baseline's at 20 in flight",
                pair[f"{quantile}_ratio"],
                limit,
                at_most=True,
                applies=at_load,
            )
            for name, pair in side_by_side.items()
            for quantile, limit in RTT_LIMITS.items()
        ),
        _target(
            "worker RSS < 500 MiB with 10,000 open claims",
            memory_after["worker"].rss_mib,
            500,
            at_most=True,
            applies=open_count >= TARGETS_AT_OPEN_CLAIMS,
        ),
        _target(
            "worker KiB per cached claim <= 150",
            per_cached,
            MAX_KIB_PER_CACHED_CLAIM,
            at_most=True,
            applies=open_count >= TARGETS_AT_OPEN_CLAIMS,
        ),
    ]
    return {
        "lifecycle_claims_per_s": _round(lifecycle_rate, 3),
        "baseline_claims_per_s": _round(baseline_rate, 3),
        "ratio": _round(ratio, 3),
        "cpu_ratio": _round(cpu_ratio, 3),
        "events_per_lifecycle": _round(lifecycle.history.events, 2),
        "history_bytes_per_lifecycle": round(lifecycle.history.size_bytes),
        "workflow_tasks_per_lifecycle": _round(lifecycle.history.workflow_tasks, 2),
        "activities_per_lifecycle": _round(lifecycle.history.activities, 2),
        "update_rtt_ms": update_rtt,
        "update_rtt_vs_baseline_ms": side_by_side,
        "other_rtt_ms": other_rtt,
        "worker_kib_per_cached_claim": _round(per_cached, 1),
        "worker_rss_mib": _round(memory_after["worker"].rss_mib, 1),
        "server_rss_mib": _round(memory_after["server"].rss_mib, 1),
        "worker_peak_rss_mib": _round(memory_after["worker"].peak_rss_mib, 1),
        "server_peak_rss_mib": _round(memory_after["server"].peak_rss_mib, 1),
        "rss_before_open_claims_mib": {
            name: _round(memory.rss_mib, 1) for name, memory in memory_before.items()
        },
        "open_claims": open_count,
        "open_claims_running": opened.running if opened else 0,
        "open_claims_start_s": _round(opened.start_s, 1) if opened else 0.0,
        "open_claims_settle_s": _round(opened.settle_s, 1) if opened else 0.0,
        "worker_cache_bound": options.cache_bound,
        "worker_cpu_s_per_claim": _round(cpu["worker"], 4),
        "server_cpu_s_per_claim": _round(cpu["server"], 4),
        "driver_cpu_s_per_claim": _round(cpu["driver"], 4),
        "lifecycle": _phase(lifecycle),
        "baseline": _phase(baseline),
        "lifecycle_history": lifecycle.history.to_json(),
        "baseline_history": baseline.history.to_json(),
        "targets": targets,
        "run": {
            "database": options.database_kind,
            "claims": options.claims,
            "concurrency": options.concurrency,
            "warmup": options.warmup,
            "niceness": options.niceness,
            "started_at": started_at,
            "duration_s": _round(duration_s, 1),
            "workdir": workdir,
            "other_load_cores": {
                "baseline": _round(baseline.load.other_load_cores, 2),
                "lifecycle": _round(lifecycle.load.other_load_cores, 2),
            },
            "worker": "python -m bench.worker_process claims (worker.py + cache bound)",
        },
        "machine": machine,
        "versions": versions,
    }


def _pair(values: dict[str, Any] | None) -> str:
    if not values:
        return "-"
    return f"{values['p50']:.0f} / {values['p99']:.0f}"


def table(report: dict[str, Any]) -> str:
    """The short table printed at the end of a run."""
    life, base = report["lifecycle"], report["baseline"]
    run = report["run"]
    rows: list[tuple[str, str, str]] = [
        ("claims/s", f"{life['claims_per_s']:.2f}", f"{base['claims_per_s']:.2f}"),
        ("ratio lifecycle/baseline", f"{report['ratio']:.2f}", ""),
        ("ratio of CPU s per claim (baseline/lifecycle)", f"{report['cpu_ratio']:.2f}", ""),
        ("history events / claim", f"{life['events']:.1f}", f"{base['events']:.1f}"),
        (
            "workflow tasks / claim",
            f"{life['workflow_tasks']:.1f}",
            f"{base['workflow_tasks']:.1f}",
        ),
        ("activities / claim", f"{life['activities']:.1f}", f"{base['activities']:.1f}"),
    ]
    rows.append(
        (
            "CPU s / claim, all processes",
            f"{life['cpu_s_per_claim_total']:.3f}",
            f"{base['cpu_s_per_claim_total']:.3f}",
        )
    )
    for process in ("worker", "server", "driver"):
        rows.append(
            (
                f"{process} CPU s / claim",
                f"{life['cpu_s_per_claim'][process]:.3f}",
                f"{base['cpu_s_per_claim'][process]:.3f}",
            )
        )
    rows.append(
        (
            "history kB / claim",
            f"{life['history_bytes'] / 1000:.1f}",
            f"{base['history_bytes'] / 1000:.1f}",
        )
    )
    for name in UPDATES:
        rows.append(
            (
                f"{name} p50 / p99 ms",
                _pair(life["update_rtt_ms"].get(name)),
                _pair(base["update_rtt_ms"].get(name)),
            )
        )
    rows.append(
        (
            f"RSS MiB, {report['open_claims']} open claims (worker / server)",
            f"{report['worker_rss_mib']:.0f} / {report['server_rss_mib']:.0f}",
            f"cache {report['worker_cache_bound']}",
        )
    )
    width = max(len(r[0]) for r in rows)
    lines = [
        f"claims {run['claims']}, concurrency {run['concurrency']}, read model "
        f"{run['database']}, "
        f"{report['machine']['cores']} cores ({report['machine']['cpu_model']})",
        f"{'':<{width}}  {'lifecycle':>12}  {'baseline':>12}",
    ]
    lines += [
        f"{name:<{width}}  {life_value:>12}  {base_value:>12}"
        for name, life_value, base_value in rows
    ]
    disturbed = max(life["other_load_cores"], base["other_load_cores"])
    if disturbed > DISTURBED_CORES:
        lines.append(
            f"WARNING: other processes kept {disturbed:.1f} cores busy during the load: "
            "these figures are disturbed, run again on a quiet machine"
        )
    profile = report.get("worker_profile")
    if profile:
        areas = ", ".join(f"{area} {share}%" for area, share in profile["areas_pct"].items())
        lines.append(f"claims worker, py-spy samples by area: {areas}")
    lines.append("targets:")
    for target in report["targets"]:
        verdict = {True: "met", False: "MISSED", None: "n/a here"}[target["met"]]
        lines.append(f"  {target['target']:<56} {target['value']:>9}  {verdict}")
    return "\n".join(lines)
