"""A stream notices its client leaving as soon as the server's `receive()` says so, whichever way it
watches: driven by hand from the future `receive()` waits on (uvicorn's own `receive`: no task per
open stream) or in a task (anything else, and SSE_MONITOR_PLAIN_SEND=1). Ending the stream first
stops the watching and leaves nothing waiting."""
from __future__ import annotations

import asyncio

import pytest

from sse_monitor.server import stream
from sse_monitor.server.fanout import Subscriber


class UvicornLikeCycle:
    """Stands in for uvicorn's request cycle: `receive()` gives the request, then waits on an
    asyncio.Event until more body arrives or the client disconnects (as uvicorn's does)."""

    __module__ = "uvicorn.protocols.http.stand_in"   # what makes the watcher drive it by hand

    def __init__(self) -> None:
        self.event = asyncio.Event()
        self.disconnected = False
        self.request_given = False
        self.receives = 0

    async def receive(self) -> dict:
        self.receives += 1
        if self.request_given and not self.disconnected:
            await self.event.wait()
            self.event.clear()
        self.request_given = True
        if self.disconnected:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": b"", "more_body": False}

    def disconnect(self) -> None:
        self.disconnected = True
        self.event.set()


class WrappedReceive:
    """A `receive` wrapped by middleware: not uvicorn's own, so it is watched in a task."""

    def __init__(self, cycle: UvicornLikeCycle) -> None:
        self.cycle = cycle

    async def __call__(self) -> dict:
        return await self.cycle.receive()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


def parked_subscriber() -> tuple[Subscriber, asyncio.Future]:
    sub = Subscriber(None, 0, 0)  # type: ignore[arg-type]   # the watcher never reads the channel
    sub.waiter = asyncio.get_running_loop().create_future()
    return sub, sub.waiter


@pytest.mark.parametrize("how", ["uvicorn", "wrapped", "plain-send"])
async def test_a_client_leaving_closes_and_wakes_its_stream(monkeypatch, how):
    monkeypatch.setattr(stream, "PLAIN_SEND", how == "plain-send")
    cycle = UvicornLikeCycle()
    sub, parked = parked_subscriber()
    tasks_before = len(asyncio.all_tasks())
    watch = stream._DisconnectWatch(WrappedReceive(cycle) if how == "wrapped" else cycle.receive, sub)
    await settle()
    assert not sub.client_gone and not parked.done()
    # Under uvicorn an open stream's watching costs no task (the memory of every idle stream).
    assert len(asyncio.all_tasks()) == tasks_before + (0 if how == "uvicorn" else 1)

    cycle.event.set()                 # a wake-up that is not a disconnect: it keeps watching
    await settle()
    assert not sub.client_gone and not parked.done()

    cycle.disconnect()
    await settle()
    assert sub.client_gone and parked.done(), "the parked stream was not told its client left"
    watch.stop()
    await settle()
    assert len(asyncio.all_tasks()) == tasks_before


@pytest.mark.parametrize("how", ["uvicorn", "wrapped"])
async def test_a_stream_that_ends_first_stops_watching(how):
    cycle = UvicornLikeCycle()
    sub, parked = parked_subscriber()
    tasks_before = len(asyncio.all_tasks())
    watch = stream._DisconnectWatch(WrappedReceive(cycle) if how == "wrapped" else cycle.receive, sub)
    await settle()
    receives = cycle.receives
    watch.stop()
    await settle()
    assert not cycle.event._waiters, "the ended stream's receive() still waits"
    cycle.disconnect()
    await settle()
    assert not sub.client_gone and not parked.done()
    assert cycle.receives == receives and len(asyncio.all_tasks()) == tasks_before


async def test_a_receive_that_fails_counts_as_the_client_gone():
    class Broken(UvicornLikeCycle):
        async def receive(self) -> dict:
            if self.request_given:
                await self.event.wait()
                raise OSError("connection reset")
            self.request_given = True
            return {"type": "http.request", "body": b"", "more_body": False}

    cycle = Broken()
    sub, parked = parked_subscriber()
    watch = stream._DisconnectWatch(cycle.receive, sub)
    await settle()
    assert not sub.client_gone
    cycle.event.set()
    await settle()
    assert sub.client_gone and parked.done()
    watch.stop()
