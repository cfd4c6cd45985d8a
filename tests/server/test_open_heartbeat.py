"""The hub greets every stream with a heartbeat at once, so a browser that reconnected after a stall
sees the stream alive within milliseconds instead of after a heartbeat interval."""
from __future__ import annotations

import asyncio
import time

import pytest

from server.clients import open_stream
from support.http_clients import AsyncClient


@pytest.mark.timing
async def test_a_stream_opens_with_a_heartbeat_before_anything_else(start_server):
    server = start_server(env={"HUB_HEARTBEAT": "30"})      # the periodic beat is far away
    async with AsyncClient(base_url=server.url, timeout=5) as http:
        ids = (await http.post("/publish/greet", params={"n": 2})).json()["ids"]
    started = time.monotonic()
    stream = await open_stream(server.port, "/events/greet", {"Last-Event-ID": ids[0]})
    while not (stream.greeted or stream.events):
        stream._feed(await asyncio.wait_for(stream.reader.read(65536), 2))
    assert stream.greeted, f"the first event was {stream.events[0]}, not a heartbeat"
    assert time.monotonic() - started < 0.5
    if not stream.events:
        await stream.read_events(1)
    assert [e.data for e in stream.events] == ["greet-1"], "then the replay, unchanged"
    stream.close()
