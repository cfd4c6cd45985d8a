"""Redis losing its data (kill -9 without persistence, a stale replica, FLUSHALL) never leaves a
silent gap: connected clients on every worker get `event: reset` where events went missing;
out-of-range resume ids get a reset; a foreign key under the prefix breaks only its channel."""
from __future__ import annotations

import asyncio

import httpx
import pytest
import redis

from server.clients import open_stream
from support.followers import Follower
from support.http_clients import AsyncClient
from support.waiting import wait_for


def sort_key(event_id: str) -> tuple[int, int]:
    ms, seq = event_id.split("-")
    return int(ms), int(seq)


async def burst(port: int, acked: list[str], stop: asyncio.Event) -> None:
    """Publish 10 events per request as fast as the worker takes them; keep every acked id
    (a request cut short by the outage still reports the ids Redis acknowledged)."""
    async with AsyncClient(timeout=5) as http:
        while not stop.is_set():
            try:
                response = await http.post(f"http://127.0.0.1:{port}/publish/burst", params={"n": 10})
                acked += response.json().get("ids", [])
            except (httpx.HTTPError, ValueError):
                pass
            if response.status_code != 200:
                await asyncio.sleep(0.05)


def silent_gaps(log: list[tuple[str, str, str]], universe: list[str]) -> list[str]:
    """Places where the client's events skip over published events with no reset in between."""
    index = {event_id: i for i, event_id in enumerate(universe)}
    problems, previous, reset = [], -1, False
    for kind, first, _ in log:
        if kind == "reset":
            reset = True
            continue
        i = index[first]
        if i <= previous:
            problems.append(f"{first} again or out of order")
        elif i != previous + 1 and not reset:
            problems.append(f"{i - previous - 1} events missing before {first}, no reset")
        previous, reset = max(previous, i), False
    if previous != len(universe) - 1:
        problems.append(f"stopped at {previous} of {len(universe) - 1}")
    return problems


async def test_redis_killed_mid_burst_gives_every_client_a_reset_never_a_silent_gap(
        start_worker, redis_server):
    a, b = start_worker(HUB_HEARTBEAT="1"), start_worker(HUB_HEARTBEAT="1")
    followers = [Follower("burst", (lambda w=w: w.port)) for w in (a, b, a, b)]
    stop_clients, stop_burst = asyncio.Event(), asyncio.Event()
    clients = [asyncio.create_task(f.run(stop_clients)) for f in followers]
    await wait_for(lambda: all(f.connections for f in followers), 15)
    await asyncio.sleep(0.3)
    acked: list[str] = []
    publishers = [asyncio.create_task(burst(w.port, acked, stop_burst)) for w in (a, b, a, b)]
    await wait_for(lambda: len(acked) >= 300, 30)
    redis_server.kill()                                 # kill -9, no persistence: data gone
    await asyncio.sleep(1)
    redis_server.start()
    count = len(acked)
    await wait_for(lambda: len(acked) >= count + 200, 30)   # the burst goes on after the restart
    stop_burst.set()
    await asyncio.gather(*publishers)
    async with AsyncClient(timeout=5) as http:
        final = (await http.post(f"{a.url}/publish/burst")).json()["ids"][0]
    acked.append(final)
    await wait_for(lambda: all(f.last_id == final for f in followers), 30)
    stop_clients.set()
    await asyncio.gather(*clients)

    seen = {entry[1] for f in followers for entry in f.log if entry[0] == "event"}
    universe = sorted(set(acked) | seen, key=sort_key)
    for f in followers:
        assert silent_gaps(f.log, universe) == [], f.log[-5:]
        assert [reset[1] for reset in f.resets] == ["data-lost"]   # told once, on each worker
        assert f.connections == 1                                  # the stream stayed up


async def test_out_of_range_resume_ids_get_a_reset_not_503(start_worker):
    worker = start_worker()
    async with AsyncClient(base_url=worker.url, timeout=5) as http:
        await http.post("/publish/ranged")
    for bad in ("99999999999999999999-0", "18446744073709551616-0", "1-99999999999999999999",
                "18446744073709551615-18446744073709551615"):
        stream = await open_stream(worker.port, "/events/ranged", headers={"Last-Event-ID": bad})
        assert stream.status == 200, (bad, stream.headers.get("_body"))
        first = [e for e in await stream.read_events(1, timeout=5)][0]
        assert first.event == "reset", (bad, first)
        stream.close()


@pytest.mark.timing
async def test_a_foreign_key_breaks_only_its_own_channel(start_worker, redis_server):
    """An unauthenticated GET naming a key that is not a stream gets an error; every other
    channel of that worker keeps its delivery speed."""
    admin = redis.Redis(port=redis_server.port)
    admin.set("sse-monitor:session-cache", "not a stream")
    worker = start_worker()
    healthy = await open_stream(worker.port, "/events/orders")
    for _ in range(3):
        foreign = await open_stream(worker.port, "/events/session-cache")
        assert foreign.status == 409 and "other than a stream" in foreign.headers["_body"]
        foreign.close()
    async with AsyncClient(base_url=worker.url, timeout=5) as http:
        refused = await http.post("/publish/session-cache")      # publishing there: a clear error
        assert refused.status_code == 503 and "other than a stream" in refused.json()["error"]
        assert admin.get("sse-monitor:session-cache") == b"not a stream"   # and nothing overwritten
        for _ in range(5):
            loop = asyncio.get_running_loop()
            started = loop.time()
            event_id = (await http.post("/publish/orders")).json()["ids"][0]
            got = await healthy.read_events(until="message", timeout=2)
            assert [e.id for e in got if e.event == "message"] == [event_id]
            assert loop.time() - started < 2                 # no reader stalled by the foreign key
    # a key that turns into something else while followed: its streams end, others go on
    watched = await open_stream(worker.port, "/events/turncoat")
    async with AsyncClient(base_url=worker.url, timeout=5) as http:
        await http.post("/publish/turncoat")
        await watched.read_events(until="message", timeout=2)
        admin.delete("sse-monitor:turncoat")
        admin.set("sse-monitor:turncoat", "now a string")
        await http.post("/publish/orders")                 # wakes the reader's XREAD
        await watched.read_all(timeout=10)
        assert watched.ended
        event_id = (await http.post("/publish/orders")).json()["ids"][0]
        for _ in range(3):                                  # the wake-up event, then this one
            got = await healthy.read_events(until="message", timeout=5)
            if event_id in [e.id for e in got]:
                break
        assert event_id in [e.id for e in healthy.events]
    healthy.close()
