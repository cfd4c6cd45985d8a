"""The states a browser may report are the runtime's own, and a reason's label is one of a fixed few."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from sse_monitor.server.reports import REASONS, STATES, parse_reports, reason_label

RUNTIME_STATES = Path(__file__).parents[2] / "src/sse_monitor/browser/runtime/01-states.js"


def test_the_reportable_states_are_the_runtimes_states():
    text = RUNTIME_STATES.read_text()
    table = text[text.index("var STATE = Object.freeze({"):]
    table = table[:table.index("});")]
    assert sorted(re.findall(r'^\s+[A-Z]+: "([a-z-]+)"', table, re.M)) == sorted(STATES)


@pytest.mark.parametrize("reason, label", [
    ("stalled", "stalled"), (None, "none"), ("http-404", "http-4xx"), ("http-503", "http-5xx"),
    ("http-5000", "other"), ("user@example.com", "other"), (42, "other"), ("", "other"),
])
def test_a_reason_is_counted_under_a_bounded_label(reason, label):
    assert reason_label(reason) == label


def test_the_known_reasons_are_few_and_plain():
    assert len(REASONS) < 32 and all(re.fullmatch(r"[a-z][a-z-]*", r) for r in REASONS)


def test_a_bad_body_is_refused_saying_why():
    with pytest.raises(ValueError, match="state: expected one of connecting"):
        parse_reports(b'{"state": "nope"}')
    with pytest.raises(ValueError, match="not JSON"):
        parse_reports(b"\xff")
    assert parse_reports(b'[{"state": "offline", "reason": "browser-offline"}]') == [("offline", "browser-offline")]
