"""The hub whatever wraps the app: a client that stopped reading is really disconnected behind
middleware, the stream limit counts it until then, `authorize` can read the session under
`hub.mount`, and the response's headers are the ones sent."""
from __future__ import annotations

import asyncio
import time

import pytest

from server.clients import open_stream
from support.http_clients import AsyncClient

APP = "server.middleware_app:app"
_OPEN_STATES = {"01", "04", "05", "08", "09", "0B"}   # established or still closing (not TIME_WAIT)


def open_server_sockets(server_port: int, client_ports: set[int]) -> int:
    """Server-side TCP sockets of these clients that the kernel still holds open."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            local, remote, state = fields[1], fields[2], fields[3]
            if int(local.rsplit(":", 1)[1], 16) == server_port \
                    and int(remote.rsplit(":", 1)[1], 16) in client_ports and state in _OPEN_STATES:
                count += 1
    return count


@pytest.mark.parametrize("middleware", ["base", "asgi"])
@pytest.mark.timing
async def test_non_reading_client_behind_middleware_is_really_disconnected(start_server, middleware):
    """A user whose middleware wraps `receive` (BaseHTTPMiddleware, tracing, metrics) still gets
    stuck clients dropped within send_timeout + a few seconds, and the slots they held back."""
    server = start_server(app=APP, env={"MIDDLEWARE": middleware, "HUB_SEND_TIMEOUT": "1",
                                        "HUB_MAX_STREAMS": "3"})
    stuck = [await open_stream(server.port, "/events/flood", rcvbuf=4096) for _ in range(3)]
    assert all(s.status == 200 for s in stuck)
    ports = {s.writer.get_extra_info("sockname")[1] for s in stuck}
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        refused = await open_stream(server.port, "/events/other")
        assert refused.status == 503                      # the 3 stuck streams hold every slot
        refused.close()
        for _ in range(10):                               # 10 MB the stuck clients never read
            assert (await http.post("/publish/flood", params={"n": 20, "size": 50_000})).status_code == 200
        started = time.monotonic()
        while open_server_sockets(server.port, ports) and time.monotonic() - started < 8:
            await asyncio.sleep(0.1)
        left = open_server_sockets(server.port, ports)
        waited = time.monotonic() - started
        assert left == 0, f"{left} stuck connections still open after {waited:.1f}s"
        assert waited < 1 + 4
        stats = (await http.get("/stats")).json()
        assert stats["streams"] == 0 and stats["slow_disconnects"] == 3, stats
        fresh = await open_stream(server.port, "/events/flood")
        assert fresh.status == 200                        # the slots are free again
        await fresh.read_events(1, timeout=5)              # heartbeats flow
        fresh.close()
    for s in stuck:
        s.close()


@pytest.mark.parametrize("middleware", ["base", "asgi"])
async def test_live_events_behind_middleware_arrive_on_one_connection(start_server, middleware):
    """Behind BaseHTTPMiddleware (anyio inside, sniffio installed as many apps have it) or a
    plain ASGI wrapper, a reader gets every published event on the connection it opened: no
    stream that ends at the first publish and makes the page reconnect each time."""
    server = start_server(app=APP, env={"MIDDLEWARE": middleware})
    stream = await open_stream(server.port, "/events/live")
    assert stream.status == 200
    await stream.read_events(until="heartbeat", timeout=5)       # parked, waiting for events
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        for i in range(3):
            assert (await http.post("/publish/live", params={"n": 1})).status_code == 200
            got = await stream.read_events(until="message", timeout=5)
            assert not stream.ended, f"stream ended after publish {i + 1}"
            assert [e.data for e in got if e.event == "message"] == ["0"]
        stats = (await http.get("/stats")).json()
        assert stats["streams"] == 1, stats
    stream.close()


async def test_a_stuck_client_the_hub_cannot_abort_stays_counted_until_gone(start_server):
    """Behind a wrapper that hides the connection, the hub cannot drop a stuck client itself:
    then `max_streams` keeps counting it (no unbounded pile of connections) until it is gone."""
    server = start_server(app=APP, env={"MIDDLEWARE": "opaque", "HUB_SEND_TIMEOUT": "1",
                                        "HUB_MAX_STREAMS": "1"})
    stuck = await open_stream(server.port, "/events/flood", rcvbuf=4096)
    assert stuck.status == 200
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        for _ in range(10):
            assert (await http.post("/publish/flood", params={"n": 20, "size": 50_000})).status_code == 200
        deadline = time.monotonic() + 8
        while (await http.get("/stats")).json()["slow_disconnects"] < 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        stats = (await http.get("/stats")).json()
        assert stats["slow_disconnects"] == 1 and stats["streams"] == 1, stats
        refused = await open_stream(server.port, "/events/other")
        assert refused.status == 503                      # the stuck connection still holds its slot
        refused.close()
        stuck.writer.transport.abort()                    # the client goes away
        deadline = time.monotonic() + 5
        while (await http.get("/stats")).json()["streams"] and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        assert (await http.get("/stats")).json()["streams"] == 0
        fresh = await open_stream(server.port, "/events/other")
        assert fresh.status == 200
        fresh.close()


async def test_authorize_reads_the_session_under_mount(start_server):
    """README: session checks belong in `authorize`; that works when streams bypass the app."""
    server = start_server(app=APP, env={"MOUNT": "1"})
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        anonymous = await open_stream(server.port, "/events/members-news")
        assert anonymous.status == 403                      # not a 500 "SessionMiddleware must be installed"
        anonymous.close()
        assert (await http.get("/login")).status_code == 200
        cookie = "; ".join(f"{k}={v}" for k, v in http.cookies.items())
    member = await open_stream(server.port, "/events/members-news", headers={"Cookie": cookie})
    assert member.status == 200
    assert (await member.read_events(1, timeout=5))[0].event == "heartbeat"
    member.close()


async def test_stream_response_headers_are_the_ones_sent(start_server):
    """A route that adds headers to the stream response (as to any Starlette Response) gets them
    sent, and `response.headers` lists what goes out: no `content-length: 0` on a stream."""
    server = start_server(app=APP)
    stream = await open_stream(server.port, "/custom/news")
    assert stream.status == 200
    assert stream.headers["x-trace-id"] == "abc" and stream.headers["x-extra"] == "1"
    assert "content-length" not in stream.headers
    assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert stream.headers["cache-control"] == "no-cache" and stream.headers["x-accel-buffering"] == "no"
    listed = set(stream.headers["x-listed"].split(","))
    assert listed == {"cache-control", "content-type", "x-accel-buffering", "x-extra", "x-trace-id"}
    assert (await stream.read_events(1, timeout=5))[0].event == "heartbeat"
    stream.close()


async def test_a_header_added_to_one_stream_is_sent_on_that_stream_only(start_server):
    """Every stream starts from the same headers; one route adding a header after `hub.stream`
    sends it on its own response and never on another stream's."""
    server = start_server(app=APP)
    for _ in range(2):
        adjusted = await open_stream(server.port, "/adjusted/news")
        plain = await open_stream(server.port, "/events/news")
        assert adjusted.status == plain.status == 200
        assert adjusted.headers["x-extra"] == "adjusted"
        assert "x-extra" not in plain.headers
        for stream in (adjusted, plain):
            assert stream.headers["content-type"] == "text/event-stream; charset=utf-8"
            assert stream.headers["cache-control"] == "no-cache" and stream.headers["x-accel-buffering"] == "no"
            assert (await stream.read_events(1, timeout=5))[0].event == "heartbeat"
            stream.close()
