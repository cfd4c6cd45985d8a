"""The runtime ships as one file (what the page inlines or the asset route serves) made of parts with
one concern each: the shipped file must be exactly its parts joined in order, so what is tested and
reviewed in the parts is what runs, and no part grows past a size one can hold in mind."""
from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from sse_monitor.browser.monitor import runtime_js

PARTS = Path(__file__).resolve().parents[2] / "src" / "sse_monitor" / "browser" / "runtime"


def test_the_shipped_runtime_is_its_parts_joined_in_order():
    parts = sorted(PARTS.glob("*.js"))
    assert len(parts) >= 10, "the runtime's parts are missing"
    joined = "".join(part.read_text(encoding="utf-8") for part in parts)
    shipped = (files("sse_monitor.browser") / "static" / "sse-monitor.js").read_text(encoding="utf-8")
    assert shipped == joined, "static/sse-monitor.js is not its parts joined: run `make runtime`"
    assert runtime_js() == joined


def test_each_part_is_one_concern_of_at_most_500_lines():
    for part in sorted(PARTS.glob("*.js")):
        lines = part.read_text(encoding="utf-8").count("\n")
        assert lines <= 500, f"{part.name}: {lines} lines"
