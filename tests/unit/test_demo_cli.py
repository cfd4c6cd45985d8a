"""The demo as a new user meets it: `--help` explains every option, and running it leaves nothing
behind in the folder it was started from."""
from __future__ import annotations

import asyncio
import contextlib
import re
import time

import pytest

from sse_monitor.cli import main
from sse_monitor.demo import create_app
from sse_monitor.demo.app import _tickers


def test_demo_help_describes_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    text = capsys.readouterr().out
    options = re.findall(r"^  (--[a-z-]+)(?: [A-Z{][^ ]*)?( +)(\S.*)?$", text, re.M)
    assert {name for name, _, _ in options} >= {"--host", "--port", "--assets", "--htmx", "--redis", "--workers",
                                               "--no-tab-sharing"}
    assert all(description for _, _, description in options), options


def test_the_demo_writes_nothing_into_the_current_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    create_app(None)
    assert list(tmp_path.iterdir()) == [], "no .sesskey or anything else"


class PublishedCounter:
    """A hub that keeps what the demo's tickers publish to "counter", with the wall-clock time of each."""

    def __init__(self) -> None:
        self.values: list[tuple[int, float]] = []

    async def publish(self, channel: str, item: object) -> None:
        if channel == "counter":
            self.values.append((int(str(item).split(">")[1].split("<")[0]), time.time()))


async def run_tickers_until(hub: PublishedCounter, count: int) -> None:
    task = asyncio.create_task(_tickers(hub))  # type: ignore[arg-type]
    while len(hub.values) < count:
        await asyncio.sleep(0.005)
    task.cancel()       # the server stops right after its last value
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def test_a_restarted_demo_counts_on_from_a_larger_number():
    """The counter's promise: a new process, even one started in the same half-second as the last
    value of the old, never shows a value the old one showed, and value v never comes before the
    v-th half-second since midnight (which is what makes the first promise hold)."""
    first, second = PublishedCounter(), PublishedCounter()
    await run_tickers_until(first, 2)
    await run_tickers_until(second, 2)
    shown = [value for value, _ in first.values + second.values]
    assert shown == sorted(set(shown)), f"the counter went back or repeated across the restart: {shown}"
    midnight = time.time() // 86400 * 86400
    assert all(at >= midnight + value / 2 for value, at in first.values + second.values)
