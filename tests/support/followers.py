"""Fault-injection clients: many real SSE clients that reconnect with Last-Event-ID, as a browser
(or the monitor) does, and a publisher that keeps publishing and remembers what was acknowledged."""
from __future__ import annotations

import asyncio
import bisect
import json
import time
from collections.abc import Callable

import httpx

from server.clients import open_stream
from support.http_clients import AsyncClient


class Follower:
    """Follows `channel`, reconnecting to `port()` with the last id it saw until `stop` is set.

    `log` is what the client saw, in order: ("event", id, data) and ("reset", reason, id).
    """

    def __init__(self, channel: str, port: Callable[[], int], honour_close: bool = False) -> None:
        self.channel, self.port = channel, port
        self.log: list[tuple[str, str, str]] = []
        self.last_id: str | None = None
        self.connections = 0
        self.honour_close = honour_close     # wait the close's reconnect_after_ms, as the runtime does
        self.told: list[int] = []            # reconnect_after_ms of each close received
        self.refused = 0                     # non-200 answers
        self.connected_at: list[float] = []  # monotonic time of each successful connect

    @property
    def event_ids(self) -> list[str]:
        return [entry[1] for entry in self.log if entry[0] == "event"]

    @property
    def resets(self) -> list[tuple[str, str, str]]:
        return [entry for entry in self.log if entry[0] == "reset"]

    async def run(self, stop: asyncio.Event, connected: asyncio.Event | None = None) -> None:
        while not stop.is_set():
            headers = {"Last-Event-ID": self.last_id} if self.last_id else None
            try:
                stream = await open_stream(self.port(), f"/events/{self.channel}", headers=headers, timeout=3)
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ValueError, IndexError):
                await asyncio.sleep(0.1)       # the server is down: try again, as EventSource does
                continue
            if stream.status != 200:
                self.refused += 1
                stream.writer.close()
                await asyncio.sleep(0.1)
                continue
            self.connections += 1
            self.connected_at.append(time.monotonic())
            if connected is not None:
                connected.set()
            seen = 0
            try:
                while not stream.ended and not stop.is_set():
                    try:
                        await stream.read_events(count=1, timeout=0.3)
                    except TimeoutError:
                        pass
                    for event in stream.events[seen:]:
                        self._take(event)
                    seen = len(stream.events)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                pass                           # connection reset by a killed server
            for event in stream.events[seen:]:
                self._take(event)
            stream.writer.close()
            close = next((e for e in reversed(stream.events) if e.event == "close"), None)
            if self.honour_close and close is not None:
                after = json.loads(close.data)["reconnect_after_ms"]
                self.told.append(after)
                try:
                    await asyncio.wait_for(stop.wait(), after / 1000)
                except asyncio.TimeoutError:
                    pass

    def _take(self, event) -> None:
        if event.event == "reset":
            self.log.append(("reset", json.loads(event.data)["reason"], event.id or ""))
        elif event.event in (None, "", "message"):
            self.log.append(("event", event.id, event.data))
        else:
            return                             # heartbeats, close
        if event.id:
            self.last_id = event.id            # what EventSource does with every id it sees


class Publisher:
    """Publishes one event at a time to `port()` until stopped; `acked` = ids the server returned."""

    def __init__(self, channel: str, port: Callable[[], int], interval: float = 0.01) -> None:
        self.channel, self.port, self.interval = channel, port, interval
        self.acked: list[str] = []
        self.failed = 0

    async def run(self, stop: asyncio.Event) -> None:
        async with AsyncClient(timeout=2) as http:
            while not stop.is_set():
                try:
                    response = await http.post(f"http://127.0.0.1:{self.port()}/publish/{self.channel}")
                    if response.status_code == 200:
                        self.acked += response.json()["ids"]
                    else:
                        self.failed += 1
                except httpx.HTTPError:
                    self.failed += 1
                await asyncio.sleep(self.interval)


async def burst(port: int, channel: str, acked: list[str], stop: asyncio.Event, n: int = 10) -> None:
    """Publish `n` events per request as fast as the worker takes them until `stop`; append every
    acknowledged id to `acked` (a request cut short by an outage still reports the ids Redis
    acknowledged before it)."""
    async with AsyncClient(timeout=5) as http:
        while not stop.is_set():
            status = 0
            try:
                response = await http.post(f"http://127.0.0.1:{port}/publish/{channel}", params={"n": n})
                status = response.status_code
                acked += response.json().get("ids", [])
            except (httpx.HTTPError, ValueError):
                pass
            if status != 200:
                await asyncio.sleep(0.05)


def stream_order(event_id: str) -> tuple[int, int]:
    """Redis stream ids in the order Redis gives them (`<ms>-<seq>`)."""
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


class Tally:
    """What one client made of the acknowledged events: each one is `delivered`, or `covered`
    (a reset reached the client after the last event it got before it and before the first it
    got after it: the page knew to reload at that point), or `silent` (lost with no reset: the
    failure a user cannot see). `disorder`: events delivered twice or out of order."""

    def __init__(self, follower: Follower, acked: list[str]) -> None:
        log = follower.log
        got = {entry[1]: i for i, entry in enumerate(log) if entry[0] == "event"}
        resets = [i for i, entry in enumerate(log) if entry[0] == "reset"]
        events = [(stream_order(entry[1]), i) for i, entry in enumerate(log) if entry[0] == "event"]
        self.delivered = self.covered = 0
        self.silent: list[str] = []
        self.resets = len(resets)
        self.disorder = [b for (a, _), (b, _) in zip(events, events[1:], strict=False) if b <= a]
        ordered = sorted(events)
        for event_id in acked:
            if event_id in got:
                self.delivered += 1
                continue
            at = bisect.bisect_left(ordered, (stream_order(event_id), -1))
            before = ordered[at - 1][1] if at else -1           # log index of the event before it
            after = ordered[at][1] if at < len(ordered) else len(log)
            if any(before < r < after for r in resets):
                self.covered += 1
            else:
                self.silent.append(event_id)

    def __repr__(self) -> str:
        return (f"Tally(delivered={self.delivered}, covered={self.covered}, silent={len(self.silent)}, "
                f"resets={self.resets}, disorder={len(self.disorder)})")
