"""Through a real nginx (the examples/deploy config) in front of two uvicorn workers on Redis:
events are not held back, heartbeats outlive nginx's read timeout, gzip never buffers the stream,
and a deploy (SIGTERM, or a drain without exit) moves every client to the other worker, paced,
with no event lost or duplicated."""
from __future__ import annotations

import asyncio
import signal
import statistics
import time

import pytest

from server.clients import open_stream
from support.followers import Follower, Publisher
from support.http_clients import AsyncClient
from support.waiting import wait_for


async def stats(port: int) -> dict:
    async with AsyncClient(timeout=5) as http:
        return (await http.get(f"http://127.0.0.1:{port}/stats")).json()


def data_events(events) -> list:
    return [e for e in events if e.event in (None, "", "message")]


async def delays(groups: dict[str, list], publish_port: int, count: int,
                 channel: str = "lat") -> dict[str, list[float]]:
    """Publish `count` events stamped with their publish time; each group's delays in ms.
    Every stream of every group reads the same events at the same time."""
    got: dict[str, list[float]] = {name: [] for name in groups}

    async def read(name, stream):
        seen = 0
        while seen < count:
            events = data_events(await stream.read_events(1, timeout=10))
            now = time.time()
            got[name].extend((now - float(e.data)) * 1000 for e in events)
            seen += len(events)

    readers = [asyncio.create_task(read(name, s)) for name, streams in groups.items() for s in streams]
    async with AsyncClient(timeout=5) as http:
        for _ in range(count):
            await http.post(f"http://127.0.0.1:{publish_port}/publish/{channel}", content=repr(time.time()))
            await asyncio.sleep(0.02)
    await asyncio.wait_for(asyncio.gather(*readers), 30)
    return got


async def test_events_arrive_through_nginx_as_fast_as_direct(start_workers, start_nginx):
    # A dashboard behind the proxy must update when the event happens, not when a buffer fills.
    a, b = start_workers(2)
    proxy = start_nginx([a, b])
    direct = [await open_stream(a.port, "/events/lat") for _ in range(10)]
    proxied = [await open_stream(proxy.port, "/events/lat", headers={"Accept-Encoding": "gzip, br"})
               for _ in range(10)]
    assert all(s.status == 200 for s in direct + proxied)
    assert all("content-encoding" not in s.headers for s in proxied)      # the stream is never gzipped
    got = await delays({"direct": direct, "nginx": proxied}, a.port, 80)
    p50_direct, p50_nginx = statistics.median(got["direct"]), statistics.median(got["nginx"])
    print(f"\np50 direct {p50_direct:.2f} ms, through nginx {p50_nginx:.2f} ms")
    assert len(got["nginx"]) == len(got["direct"]) == 800
    assert p50_nginx <= p50_direct + 5, (p50_direct, p50_nginx)
    for s in direct + proxied:
        s.close()


async def test_heartbeats_keep_a_quiet_stream_open_past_nginx_read_timeout(start_workers, start_nginx):
    # A channel with nothing to say for minutes must not be cut by the proxy every read timeout.
    a, b = start_workers(2, HUB_HEARTBEAT="0.4")
    proxy = start_nginx([a, b], read_timeout="1s")
    stream = await open_stream(proxy.port, "/events/quiet")
    assert stream.status == 200
    await asyncio.sleep(3.5)                                    # 3.5 x nginx's read timeout
    await stream.read_events(1, timeout=2)
    assert not stream.ended, "nginx cut the quiet stream"
    assert sum(e.event == "heartbeat" for e in stream.events) >= 5
    await asyncio.sleep(0.2)
    async with AsyncClient(timeout=5) as http:
        await http.post(f"http://127.0.0.1:{a.port}/publish/quiet", content="still here")
    deadline = time.monotonic() + 3
    while not any(e.data == "still here" for e in stream.events) and time.monotonic() < deadline:
        await stream.read_events(1, timeout=3)
    assert any(e.data == "still here" for e in stream.events)
    stream.close()


@pytest.mark.timing
async def test_without_heartbeats_nginx_would_cut_the_stream(start_workers, start_nginx):
    # The control for the test above: the same proxy does end a stream silent for longer than
    # proxy_read_timeout, so the heartbeat is what keeps it open.
    a, b = start_workers(2, HUB_HEARTBEAT="60")
    proxy = start_nginx([a, b], read_timeout="1s")
    stream = await open_stream(proxy.port, "/events/quiet")
    started = time.monotonic()
    await stream.read_all(timeout=5)
    assert stream.ended and time.monotonic() - started < 3


async def test_nginx_gives_up_an_idle_worker_connection_before_the_worker_closes_it(start_workers, start_nginx):
    """A user who sends a message after a few seconds of reading must never get a 502.

    nginx keeps idle connections to the workers (`keepalive 32`) and uvicorn closes one after 5 s
    idle. A request nginx writes on a kept connection as its worker closes it fails, and a POST is
    never retried on another connection: the user gets a 502. So nginx must give up an idle upstream
    connection well before the worker does (`keepalive_timeout` in the upstream block)."""
    (worker,) = start_workers(1, args=["--no-proxy-headers"])    # the client's port is then nginx's
    proxy = start_nginx([worker])

    async def upstream_port() -> int:
        """The port of the connection nginx forwards a new request on, as the worker sees it."""
        async with AsyncClient(base_url=proxy.url, timeout=10) as http:
            return (await http.get("/client-port")).json()["port"]

    first = await upstream_port()
    assert await upstream_port() == first, "nginx reuses its kept upstream connection at once"
    await asyncio.sleep(3.5)      # well within uvicorn's 5 s: the worker still has the connection open
    assert await upstream_port() != first, "a connection idle for 3.5 s is not reused: the worker may close it"


async def test_gzip_compresses_pages_but_never_buffers_the_stream(start_workers, start_nginx):
    a, b = start_workers(2)
    proxy = start_nginx([a, b])
    async with AsyncClient(base_url=proxy.url, timeout=5) as http:
        page = await http.get("/stats", headers={"Accept-Encoding": "gzip"})
        assert page.headers.get("content-encoding") == "gzip"          # gzip is on for the rest
    stream = await open_stream(proxy.port, "/events/zip", headers={"Accept-Encoding": "gzip"})
    assert stream.status == 200 and "content-encoding" not in stream.headers
    # gzip would hold small events until its buffer fills: each one must arrive before the next is
    # published (the latency through nginx is test_events_arrive_through_nginx_as_fast_as_direct's)
    async with AsyncClient(timeout=5) as http:
        for n in range(5):
            await http.post(f"{a.url}/publish/zip", content=f"small {n}")
            arrived: list = []
            while not arrived:
                assert not stream.ended, f"the stream through nginx ended before 'small {n}'"
                arrived = data_events(await stream.read_events(1, timeout=5))
            assert [e.data for e in arrived] == [f"small {n}"]
    stream.close()


async def move(start_workers, start_nginx, how: str, clients: int = 120, window_ms: int = 3000):
    """Followers (honouring close like the runtime) behind nginx on two workers; worker a leaves
    (`sigterm` or `drain`) while events are published. Returns (followers, publisher, seconds after
    the signal at which a's clients reconnected (all to b), clients a had, seconds a took to exit)."""
    a, b = start_workers(2, HUB_HEARTBEAT="1", HUB_RECONNECT_AFTER_MS="200", HUB_CLOSE_WINDOW_MS=str(window_ms))
    proxy = start_nginx([a, b])
    stop_clients, stop_publisher = asyncio.Event(), asyncio.Event()
    followers = [Follower("orders", lambda: proxy.port, honour_close=True) for _ in range(clients)]
    running = [asyncio.create_task(f.run(stop_clients)) for f in followers]
    await wait_for(lambda: all(f.connections for f in followers), 30)
    await asyncio.sleep(0.3)
    on_a = (await stats(a.port))["streams"]
    assert 0 < on_a < clients                                  # nginx spread them over both
    publisher = Publisher("orders", lambda: b.port, interval=0.02)
    publishing = asyncio.create_task(publisher.run(stop_publisher))
    await wait_for(lambda: len(publisher.acked) >= 20, 30)

    opened = (await stats(b.port))["opened"]
    exited = None
    started = time.monotonic()
    if how == "sigterm":
        a.proc.send_signal(signal.SIGTERM)
        await asyncio.get_running_loop().run_in_executor(None, a.proc.wait, 10)
        exited = time.monotonic() - started
    else:
        async with AsyncClient(timeout=5) as http:
            assert (await http.post(f"http://127.0.0.1:{a.port}/drain",
                                    params={"window_ms": window_ms})).status_code == 200
    await wait_for(lambda: sum(len(f.connected_at) for f in followers) >= clients + on_a, 30)
    arrivals = sorted(t - started for f in followers for t in f.connected_at if t > started)
    assert (await stats(b.port))["opened"] - opened == on_a         # every one of a's clients came to b
    stop_publisher.set()
    await publishing
    final = publisher.acked[-1]
    await wait_for(lambda: all(f.last_id == final for f in followers), 30)
    stop_clients.set()
    await asyncio.gather(*running)
    assert publisher.failed == 0
    return followers, publisher, arrivals, on_a, exited


def peak_per_second(arrivals: list[float]) -> int:
    """The most arrivals within any one second."""
    return max(sum(t <= start + 1.0 for t in arrivals[i:]) for i, start in enumerate(arrivals))


def assert_moved_paced_and_exact(followers, publisher, arrivals, on_a, window_ms):
    assert len(arrivals) == on_a, (len(arrivals), on_a)
    peak = peak_per_second(arrivals)
    assert peak <= 1.5 * on_a / (window_ms / 1000), (peak, on_a)   # paced, not a herd
    for f in followers:
        assert f.resets == []
        assert f.event_ids == publisher.acked                  # every event, once, in order


@pytest.mark.timing
async def test_sigterm_behind_nginx_tells_at_once_exits_fast_and_paces_the_return(start_workers, start_nginx):
    followers, publisher, arrivals, on_a, exited = await move(start_workers, start_nginx, "sigterm")
    print(f"\nSIGTERM: {on_a} clients moved, peak {peak_per_second(arrivals)}/s; exit {exited:.2f}s")
    assert exited is not None and exited < 1.0
    told = [t for f in followers for t in f.told]
    assert len(told) == on_a and all(200 <= t < 3200 for t in told)
    assert_moved_paced_and_exact(followers, publisher, arrivals, on_a, 3000)


@pytest.mark.timing
async def test_drain_behind_nginx_refuses_new_streams_and_moves_the_open_ones_in_batches(
        start_workers, start_nginx):
    followers, publisher, arrivals, on_a, _ = await move(start_workers, start_nginx, "drain")
    print(f"\ndrain: {on_a} clients moved, peak {peak_per_second(arrivals)}/s")
    assert all(f.refused == 0 for f in followers)              # nginx moved every 503 to the survivor
    assert_moved_paced_and_exact(followers, publisher, arrivals, on_a, 3000)
