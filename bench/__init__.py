"""The performance benchmark of the claim lifecycle: `python -m bench --help`.

It measures, in one run on one machine, a full claim lifecycle against a
baseline workflow that takes the same messages and does nothing else, so the
ratio between the two says how much the claim costs independently of the
machine's speed. docs/performance.md has the figures and how to read them.

Modules, one job each: `procs` (the /proc figures of the processes, which the
project's harness, claims_testing.processes, starts), `worker_process` (the
worker processes under test), `baseline` (the baseline workflow), `drivers`
(the message sequence of one claim, for both), `load` (N runs at concurrency C),
`latency` (round-trip samples), `histories` (event counts and what they pay
for), `open_claims` (memory with many claims waiting on timers), `machine`
(what ran it), `run` (one benchmark), `report` (JSON and table), `sweep` and
`plot` (latency against load).
"""
