"""Shared by every tier: the `timing` mark, and the list of failed tests that `make test` prints last.

A test marked `timing` asserts a promise kept in wall time; it runs ahead of the other lanes of
`make test` (support/priority.py).

CI shows only the end of a long run, where the tier that failed has scrolled away. With
SSE_MONITOR_FAILURE_LOG set (the Makefile sets it), each pytest run appends one line per failed or
errored test, labelled with its Python, engine and send mode, and `make test` prints them at the end."""
from __future__ import annotations

import logging
import os
import sys

import pytest

from support.priority import TIMING_NICE, set_family_nice

# The priority this process started with (the lane's), which a `timing` test's family returns to.
LANE_NICE = os.getpriority(os.PRIO_PROCESS, 0)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "timing: asserts a promise kept in wall time (a Live within 1 s); runs "
                                       "with its processes ahead of the other lanes (support/priority.py)")
    config.addinivalue_line("markers", "makes_a_phase_bug: the test makes a forbidden phase move on purpose")


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.fixture(autouse=True)
def no_forbidden_phase_moves(request: pytest.FixtureRequest):
    """A stream or hub of this process that moves outside its phase table (server/phases.py) fails
    the test that made it: the package logs such a move and goes on, so only a test can catch it."""
    records, logger = _Records(), logging.getLogger("sse_monitor.phases")
    logger.addHandler(records)
    yield
    logger.removeHandler(records)
    if request.node.get_closest_marker("makes_a_phase_bug") is None:
        assert records.messages == [], records.messages


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None):
    """Run a `timing` test, its setup and teardown included, with its process family at TIMING_NICE."""
    raised = item.get_closest_marker("timing") is not None and set_family_nice(TIMING_NICE)
    try:
        yield
    finally:
        if raised:
            set_family_nice(LANE_NICE)


def _label() -> str:
    parts = [f"py{sys.version_info.major}.{sys.version_info.minor}"]
    if os.environ.get("SSE_MONITOR_PLAIN_SEND"):
        parts.append("plain-send")
    if os.environ.get("SSE_MONITOR_ENGINES"):
        parts.append(os.environ["SSE_MONITOR_ENGINES"])
    return " ".join(parts)


def _reason(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    first = text.strip().splitlines()[0] if text.strip() else ""
    return first[:200]


def pytest_terminal_summary(terminalreporter, exitstatus: int, config: pytest.Config) -> None:
    path = os.environ.get("SSE_MONITOR_FAILURE_LOG")
    if not path:
        return
    reports = [r for key in ("failed", "error") for r in terminalreporter.stats.get(key, [])]
    if not reports:
        return
    label = _label()
    with open(path, "a", encoding="utf-8") as log:
        for report in reports:
            log.write(f"[{label}] {report.nodeid} - {_reason(report)}\n")
