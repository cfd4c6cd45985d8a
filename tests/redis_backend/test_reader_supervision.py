"""The one Redis reader of a worker never dies for good: killed by an exception or cancelled by
something else than shutdown, it is restarted (with a log line saying why) and its clients miss
nothing; an entry the Hub cannot take costs a reset, not the reader."""
from __future__ import annotations

import asyncio

import redis

from support.followers import Follower, Tally, burst
from support.http_clients import AsyncClient
from support.waiting import wait_for


async def test_a_killed_reader_is_restarted_and_no_client_misses_an_event(start_worker):
    worker = start_worker(HUB_HEARTBEAT="1")
    followers = [Follower("steady", lambda: worker.port) for _ in range(3)]
    stop_clients, stop_burst = asyncio.Event(), asyncio.Event()
    clients = [asyncio.create_task(f.run(stop_clients)) for f in followers]
    acked: list[str] = []
    async with AsyncClient(base_url=worker.url, timeout=5) as http:
        await wait_for(lambda: all(f.connections for f in followers), 15)
        publishing = asyncio.create_task(burst(worker.port, "steady", acked, stop_burst, n=5))
        for kind in ("raise", "cancel", "raise"):
            count = len(acked)
            await wait_for(lambda count=count: len(acked) >= count + 100, 15)
            # the reader is back from the last fault: every client has what was published since
            target = acked[count + 99]
            await wait_for(lambda target=target: all(target in f.event_ids for f in followers), 15)
            answer = await http.post("/fault/redis-reader", params={"kind": kind})
            assert answer.status_code == 200, answer.text
        count = len(acked)
        await wait_for(lambda: len(acked) >= count + 100, 15)
        stop_burst.set()
        await publishing
        acked += (await http.post("/publish/steady")).json()["ids"]
        await wait_for(lambda: all(f.last_id == acked[-1] for f in followers), 15)
    stop_clients.set()
    await asyncio.gather(*clients)

    tallies = [Tally(f, acked) for f in followers]
    print(f"\nreader killed 3 times: {len(acked)} acknowledged, per client {tallies}")
    for f, tally in zip(followers, tallies, strict=True):
        # nothing was lost in Redis, so nothing may be missing and no page needs to reload
        assert (tally.delivered, tally.resets, tally.disorder) == (len(acked), 0, []), tally
        assert f.connections == 1
    log = worker.log_path.read_text()
    assert log.count("Redis reader for") >= 3 and "injected reader fault" in log
    assert "it was cancelled" in log and "restarted; checking followed streams" in log


async def test_an_entry_the_hub_cannot_take_costs_a_reset_not_the_reader(start_worker, redis_server):
    worker = start_worker(HUB_HEARTBEAT="1")
    follower = Follower("mixed", lambda: worker.port)
    stop = asyncio.Event()
    client = asyncio.create_task(follower.run(stop))
    async with AsyncClient(base_url=worker.url, timeout=5) as http:
        await wait_for(lambda: follower.connections, 15)
        before = (await http.post("/publish/mixed")).json()["ids"]
        # another writer's entry whose event name would break the SSE framing
        redis.Redis(port=redis_server.port).xadd("sse-monitor:mixed", {"d": "x", "e": "bad\nname"})
        after = (await http.post("/publish/mixed", params={"n": 3})).json()["ids"]
        await wait_for(lambda: follower.last_id == after[-1], 10)
    stop.set()
    await client
    assert follower.event_ids == before + after
    assert [r[1] for r in follower.resets] == ["data-lost"]
    assert "cannot be delivered" in worker.log_path.read_text()
