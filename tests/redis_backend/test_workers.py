"""The hub on Redis across worker processes: real uvicorn workers, real SSE clients, real Redis."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
import redis

from server.clients import open_stream
from support.http_clients import AsyncClient


async def publish(worker, channel: str, n: int = 1, **params) -> list[str]:
    async with AsyncClient(base_url=worker.url, timeout=10) as http:
        response = await http.post(f"/publish/{channel}", params={"n": n, **params})
    assert response.status_code == 200, response.text
    return response.json()["ids"]


def data_events(events):
    return [(e.id, e.data) for e in events if e.event in (None, "", "message")]


async def read_data(stream, count: int, timeout: float = 5.0) -> list[tuple[str, str]]:
    """The next `count` data events (heartbeats in between are skipped)."""
    start, deadline = len(stream.events), time.monotonic() + timeout
    while len(data_events(stream.events[start:])) < count:
        assert not stream.ended, data_events(stream.events[start:])
        await stream.read_events(count=1, timeout=max(0.01, deadline - time.monotonic()))
    return data_events(stream.events[start:])


async def test_publish_on_one_worker_reaches_subscribers_on_both(start_worker):
    a, b = start_worker(), start_worker()
    on_a = [await open_stream(a.port, "/events/news") for _ in range(3)]
    on_b = [await open_stream(b.port, "/events/news") for _ in range(3)]
    await asyncio.gather(*(s.read_events(until="never", timeout=0.3) for s in on_a + on_b),
                         return_exceptions=True)     # the retry frame; streams are open
    ids = await publish(a, "news", 5) + await publish(b, "news", 5)
    for stream in on_a + on_b:
        got = await read_data(stream, 10)
        assert [event_id for event_id, _ in got] == ids
        assert [data for _, data in got] == [f"news-{i}" for i in range(5)] * 2
        stream.writer.close()


async def test_reconnecting_to_the_other_worker_resumes_exactly(start_worker):
    a, b = start_worker(), start_worker()
    first = await open_stream(a.port, "/events/jobs")
    await asyncio.sleep(0.2)
    ids = await publish(a, "jobs", 3)
    seen = await read_data(first, 3)
    assert [i for i, _ in seen] == ids
    first.writer.close()                                   # the client drops (or worker a dies)
    missed = await publish(a, "jobs", 4)
    second = await open_stream(b.port, "/events/jobs", headers={"Last-Event-ID": ids[-1]})
    replayed = await read_data(second, 4)
    assert [i for i, _ in replayed] == missed
    live = await publish(a, "jobs", 2)
    assert [i for i, _ in await read_data(second, 2)] == live
    second.writer.close()


async def test_redis_connections_killed_mid_stream_lose_nothing(start_worker, redis_server):
    """CLIENT KILL drops every worker's reader and command connection while events flow."""
    a, b = start_worker(), start_worker()
    streams = [await open_stream(w.port, "/events/ticks") for w in (a, b, a, b)]
    await asyncio.sleep(0.3)
    admin = redis.Redis(port=redis_server.port)
    published: list[str] = []
    for round_ in range(6):
        killed = sum(admin.execute_command("CLIENT", "KILL", "TYPE", kind, "SKIPME", "yes")
                     for kind in ("pubsub", "normal"))
        assert killed >= 2          # both workers' readers at least (Pub/Sub or XREAD)
        # published while the readers are still reconnecting (and over a killed connection)
        published += await publish(a if round_ % 2 else b, "ticks", 10)
        await asyncio.sleep(0.2)
    published += await publish(a, "ticks", 10)
    for stream in streams:
        got = await read_data(stream, len(published), timeout=10)
        assert [i for i, _ in got] == published         # every event, once, in order
        stream.writer.close()


async def test_redis_restart_keeps_streams_up_and_loses_nothing_acknowledged(start_worker, redis_server):
    a, b = start_worker(), start_worker()
    streams = [await open_stream(w.port, "/events/feed") for w in (a, b)]
    await asyncio.sleep(0.3)
    before = await publish(a, "feed", 3)
    for stream in streams:
        assert [i for i, _ in await read_data(stream, 3)] == before
    redis_server.kill()
    async with AsyncClient(base_url=a.url, timeout=10) as http:
        refused = await http.post("/publish/feed")
        assert refused.status_code == 503 and "is unavailable" in refused.json()["error"]
        # a resume the worker cannot check while Redis is down: retry later, not a wrong answer
        blocked = await open_stream(a.port, "/events/other", headers={"Last-Event-ID": before[0]},
                                    timeout=15)
        assert blocked.status == 503 and blocked.headers["retry-after"]
    for stream in streams:                               # heartbeats go on during the outage
        beats = await stream.read_events(count=2, timeout=3)
        assert len(beats) >= 2 and {e.event for e in beats} == {"heartbeat"}
    redis_server.start()
    after = []
    for _ in range(50):                                  # until the workers reconnected
        async with AsyncClient(base_url=b.url, timeout=10) as http:
            response = await http.post("/publish/feed", params={"n": 1})
        if response.status_code == 200:
            after += response.json()["ids"]
            break
        await asyncio.sleep(0.1)
    after += await publish(a, "feed", 4)
    for stream in streams:
        got = await read_data(stream, len(after), timeout=10)
        assert [i for i, _ in got] == after
        assert stream.ended is False
        stream.writer.close()


async def test_resume_beyond_the_stream_cap_gets_reset(start_worker):
    a, b = start_worker(HUB_REDIS_MAXLEN="50"), start_worker(HUB_REDIS_MAXLEN="50")
    first = (await publish(a, "log", 1))[0]
    for _ in range(4):
        await publish(a, "log", 100)
    stream = await open_stream(b.port, "/events/log", headers={"Last-Event-ID": first})
    reset = (await stream.read_events(count=1))[0]
    assert reset.event == "reset"
    assert json.loads(reset.data)["reason"] == "too-old"
    live = await publish(a, "log", 1)
    assert [i for i, _ in await read_data(stream, 1)] == live
    stream.writer.close()


@pytest.mark.timing
async def test_sigterm_on_a_redis_worker_closes_streams_and_exits_at_once(start_worker):
    a = start_worker()
    streams = [await open_stream(a.port, f"/events/ch{i % 5}") for i in range(50)]
    await asyncio.sleep(0.3)
    elapsed = await asyncio.get_running_loop().run_in_executor(None, a.terminate)
    assert elapsed < 3
    for stream in streams:
        events = await stream.read_all(timeout=5)
        assert events[-1].event == "close" and json.loads(events[-1].data)["reason"] == "server-shutdown"
        stream.writer.close()


async def test_page_url_from_a_worker_that_never_streamed_the_channel_has_no_gap(start_worker):
    """hub.sse_url on worker b (which never touched the channel) carries "now" from Redis."""
    a, b = start_worker(), start_worker()
    async with AsyncClient(timeout=10) as http:
        fresh_url = (await http.get(f"{b.url}/url/fresh")).text      # a channel with no event yet
        earlier = await publish(a, "page", 3)
        page_url = (await http.get(f"{b.url}/url/page")).text        # the page is rendered here
    assert fresh_url == "/events/fresh?lastEventId=0-0"
    assert page_url == f"/events/page?lastEventId={earlier[-1]}"
    missed = await publish(a, "page", 2) + await publish(a, "fresh", 1)   # before the browser connects
    stream = await open_stream(b.port, page_url)
    assert [i for i, _ in await read_data(stream, 2)] == missed[:2]
    fresh = await open_stream(a.port, fresh_url)
    assert [i for i, _ in await read_data(fresh, 1)] == missed[2:]
    assert all(e.event != "reset" for e in stream.events + fresh.events)
    stream.writer.close()
    fresh.writer.close()
