"""Shared by every tier: the list of failed tests that `make test` prints last.

CI shows only the end of a long run, where the tier that failed has scrolled away. With
SSE_MONITOR_FAILURE_LOG set (the Makefile sets it), each pytest run appends one line per failed or
errored test, labelled with its Python, engine and send mode, and `make test` prints them at the end."""
from __future__ import annotations

import os
import sys

import pytest


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
