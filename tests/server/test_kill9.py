"""kill -9 with 200 real SSE clients streaming and a publisher publishing: on the in-memory hub
every client keeps exactly the events it got before the crash, with no gap, and then gets one
`reset` (its Last-Event-ID names a hub that died) before the new server's events: never a silent gap."""
from __future__ import annotations

import asyncio

from support.followers import Follower, Publisher
from support.waiting import wait_for

CLIENTS = 200


def seq(event_id: str) -> tuple[str, int]:
    boot, _, n = event_id.rpartition("-")
    return boot, int(n)


async def test_kill9_in_memory_hub_every_client_gets_its_events_then_one_reset(start_server):
    server = start_server(env={"HUB_HEARTBEAT": "1"})
    port = lambda: server.port          # noqa: E731  (restarted on the same port)
    stop_clients, stop_publisher = asyncio.Event(), asyncio.Event()
    followers = [Follower("crash", port) for _ in range(CLIENTS)]
    clients = [asyncio.create_task(f.run(stop_clients)) for f in followers]
    await wait_for(lambda: all(f.connections for f in followers), 30)
    publisher = Publisher("crash", port)
    publishing = asyncio.create_task(publisher.run(stop_publisher))
    # the crash comes mid-stream: every client has 100 events and the publisher is still publishing
    # (an event acknowledged to the publisher may still be on its way to a client when the process
    # dies: the in-memory hub dies with it, which is what the client's `reset` tells)
    await wait_for(lambda: all(len(f.event_ids) >= 100 for f in followers), 30)

    server.kill()                        # kill -9 mid-stream, mid-publish
    acked_before = list(publisher.acked)
    await asyncio.sleep(0.5)
    server.start()
    await wait_for(lambda: len(publisher.acked) >= len(acked_before) + 100, 30)
    stop_publisher.set()
    await publishing
    final = publisher.acked[-1]
    await wait_for(lambda: all(f.last_id == final for f in followers), 30)
    stop_clients.set()
    await asyncio.gather(*clients)

    old_boot = seq(acked_before[0])[0]
    new_boot = seq(final)[0]
    assert old_boot != new_boot
    for f in followers:
        kinds = [entry[0] for entry in f.log]
        crash = kinds.index("reset")
        before, after = f.log[:crash], f.log[crash + 1:]
        assert kinds.count("reset") == 1, f.log[crash - 2:crash + 3]
        # before the crash: the old server's events 1..k, none missing, none twice
        assert [seq(e[1]) for e in before] == [(old_boot, n) for n in range(1, len(before) + 1)]
        assert len(before) >= 100
        reason, reset_id = f.log[crash][1], f.log[crash][2]
        assert reason == "unknown-id"
        # after it: the new server's events, from the reset's position to the last one, no gap
        start = seq(reset_id)[1]
        assert [seq(e[1]) for e in after] == [(new_boot, n) for n in range(start + 1, seq(final)[1] + 1)]
    assert publisher.acked[len(acked_before):] and seq(publisher.acked[-1])[0] == new_boot
