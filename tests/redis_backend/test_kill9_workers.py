"""kill -9 one of two workers on Redis while 200 real SSE clients stream and a publisher publishes:
the killed worker's clients reconnect to the other worker with their Last-Event-ID, and every
client ends with every published event exactly once, in order, and no reset."""
from __future__ import annotations

import asyncio

from support.followers import Follower, Publisher
from support.waiting import wait_for

CLIENTS = 200


async def test_kill9_one_worker_every_client_gets_every_event_exactly_once(start_worker):
    a, b = start_worker(HUB_HEARTBEAT="1"), start_worker(HUB_HEARTBEAT="1")
    alive = {"a": True}
    to_a = lambda: a.port if alive["a"] else b.port     # noqa: E731  (the load balancer's view)
    to_b = lambda: b.port                               # noqa: E731
    stop_clients, stop_publisher = asyncio.Event(), asyncio.Event()
    followers = [Follower("orders", to_a if i % 2 else to_b) for i in range(CLIENTS)]
    clients = [asyncio.create_task(f.run(stop_clients)) for f in followers]
    await wait_for(lambda: all(f.connections for f in followers), 30)
    await asyncio.sleep(0.3)
    publisher = Publisher("orders", to_b)
    publishing = asyncio.create_task(publisher.run(stop_publisher))
    await wait_for(lambda: len(publisher.acked) >= 100, 30)

    a.kill()                                 # kill -9 worker a mid-stream
    alive["a"] = False
    await wait_for(lambda: len(publisher.acked) >= 250, 30)
    stop_publisher.set()
    await publishing
    final = publisher.acked[-1]
    await wait_for(lambda: all(f.last_id == final for f in followers), 30)
    stop_clients.set()
    await asyncio.gather(*clients)

    assert publisher.failed == 0
    moved = [f for f in followers[1::2]]
    assert all(f.connections == 2 for f in moved)          # each reconnected once, to worker b
    for f in followers:
        assert f.resets == []
        assert f.event_ids == publisher.acked               # all of them, once each, in order
