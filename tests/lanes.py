"""Run the test suite in stages of lanes: `python tests/lanes.py [pytest args]` (what `make test` does
after lint and the Node tier), or `python tests/lanes.py --soak [pytest args]`.

A stage's lanes run in parallel processes and the stages one after another; a lane's jobs run one
after another. No failure stops anything. CI is one stage of five lanes: the Python tiers; the unit
and server tiers again, with the plain send path and on the other Python; and one lane per browser
engine. A lane alone keeps up to one core busy, and the suite is CPU-bound on this 2-core machine:
about 2,200 CPU-s in all (2026-12-04, two thirds of it in the browsers' own processes), so the
lanes at once finish in little more than half the sum of their CPU time. (Earlier, with 2,800 CPU-s
of tests, the Python tiers ran alone before and after the engines, as running every lane at once
loaded the machine so far that timing-dependent tests measured its backlog.) The engines' lanes run
at a lower priority (`BROWSER_NICE`). A test that asserts a promise kept in wall time is marked
`timing` and runs ahead of every lane while it runs (support/priority.py), so what it measures is
the product, not the queue for the cores.

Each line of output is prefixed with its lane. Each pytest session gets a temporary directory of its
own (pytest's default one is shared, and a session clears old ones) and no cache (concurrent writes).
The end of the output gives each job's wall time and status; the exit status is non-zero if any job
failed. Exit status 5 (the pytest arguments selected nothing there) is not a failure.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "browser"))
from engines import selected_engines  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
MAKE = os.environ.get("MAKE", "make")


@dataclass
class Job:
    """One command of a lane: `name` in the report, `command` run from the repository's root."""

    name: str
    command: list[str]
    env: dict[str, str] = field(default_factory=dict)
    nice: int = 0
    seconds: float = 0.0
    status: int | None = None


def pytest(*args: str) -> list[str]:
    return [PYTHON, "-m", "pytest", *args]


# The engines' lanes run at a lower priority than the Python lanes. The lanes together want more
# CPU than 2 cores have, so something waits. The Python tiers hold CPU-heavy scenarios with deadlines
# (10,000 Redis channels, kill -9 of a worker under load); in the one run at equal priority (CI
# 2026-12-04, ci-kk) two missed them. The next run, niced, was as slow, so the machine may have been
# the cause; unsettled. The engines use what the Python lanes leave, except while a `timing` test
# runs (support/priority.py).
BROWSER_NICE = 5


def browser_lanes(marks: str, args: list[str], env: dict[str, str] | None = None) -> dict[str, list[Job]]:
    """One lane per engine: the browser suite with `-m marks`."""
    return {engine: [Job(f"browsers {engine}", pytest("tests/browser", "-m", marks, "--durations=20", *args),
                         {"SSE_MONITOR_ENGINES": engine, **(env or {})}, nice=BROWSER_NICE)]
            for engine in selected_engines()}


def ci_stages(args: list[str]) -> list[dict[str, list[Job]]]:
    """`make test`, one stage: a lane with the unit, server, Redis, deploy and example tiers; a lane
    with the unit and server tiers again, with the plain send path and on the other supported Python
    (Makefile); and a lane per engine."""
    extra = " ".join(args)
    return [{"python": [Job("tiers", pytest("--ignore=tests/browser", "--durations=10", *args))],
             "again": [Job("plain send", [MAKE, "--no-print-directory", "test-plain-send", f"PYTEST_ARGS={extra}"]),
                       Job("other python", [MAKE, "--no-print-directory", "test-pythons", f"PYTEST_ARGS={extra}"])],
             **browser_lanes("not soak", args)}]


def soak_stages(args: list[str]) -> list[dict[str, list[Job]]]:
    """`make test-soak`: the long outages on every engine, then every browser scenario with every
    variant (transport, election) on every engine, the tab-sharing churn for 60 s."""
    lanes = browser_lanes("soak", args)
    matrix = browser_lanes("not soak", args, {"SSE_MONITOR_FULL_MATRIX": "1", "SSE_MONITOR_CHURN_SECONDS": "60"})
    return [{engine: jobs + matrix[engine] for engine, jobs in lanes.items()}]


def run(stages: list[dict[str, list[Job]]]) -> int:
    started = time.monotonic()
    for lanes in stages:
        run_stage(lanes)
    print(f"\nlanes, {time.monotonic() - started:.0f} s in all; wall time per job:")
    jobs = [job for lanes in stages for lane in lanes.values() for job in lane]
    for job in jobs:
        status = {0: "passed", 5: "nothing selected"}.get(job.status, f"FAILED (exit {job.status})")
        print(f"  {job.name:<16} {job.seconds:7.1f} s  {status}")
    return 0 if all(job.status in (0, 5) for job in jobs) else 1


def run_stage(lanes: dict[str, list[Job]]) -> None:
    """Run `lanes` in parallel, each lane's jobs one after another."""
    width = max(map(len, lanes))
    lock = threading.Lock()

    def run_lane(lane: str, jobs: list[Job]) -> None:
        tmp = tempfile.mkdtemp(prefix=f"sse-monitor-{lane}-")
        for job in jobs:
            addopts = f"{os.environ.get('PYTEST_ADDOPTS', '')} -p no:cacheprovider --basetemp={tmp}/pytest"
            env = {**os.environ, **job.env, "PYTEST_ADDOPTS": addopts.strip()}
            begun = time.monotonic()
            proc = subprocess.Popen(job.command, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, text=True, bufsize=1,
                                    preexec_fn=(lambda nice=job.nice: os.nice(nice)) if job.nice else None)
            assert proc.stdout is not None
            for line in proc.stdout:
                with lock:
                    sys.stdout.write(f"[{lane:<{width}}] {line}")
                    sys.stdout.flush()
            job.status = proc.wait()
            job.seconds = time.monotonic() - begun

    threads = [threading.Thread(target=run_lane, args=item) for item in lanes.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


if __name__ == "__main__":
    argv = sys.argv[1:]
    soak = argv[:1] == ["--soak"]
    sys.exit(run(soak_stages(argv[1:]) if soak else ci_stages(argv)))
