"""Redis replaced under a worker that was not looking: worker B is frozen (SIGSTOP) while Redis is
killed and restarted on the same port, then B wakes up. Its clients must never miss an
acknowledged event silently: without persistence they get a reset where events went missing;
with an append-only file fsynced at every write nothing is lost and nobody gets a reset.

Each run counts, per client, the acknowledged events delivered, covered by a reset, and lost
silently (see `support.followers.Tally`), and prints the totals (`pytest -s` shows them)."""
from __future__ import annotations

import asyncio
import time

import pytest

from support.followers import Follower, Tally, burst
from support.http_clients import AsyncClient
from support.redis_server import RedisServer
from support.waiting import wait_for

PAUSE = 1.5          # seconds worker B is frozen; Redis dies and comes back in the middle of it


async def paused_restart(a, b, redis_server, channel: str) -> list[Tally]:
    """One run: a steady flow published through A, followed by two clients on B and one on A;
    B frozen for PAUSE seconds while Redis is killed (kill -9) and started again."""
    followers = [Follower(channel, lambda: b.port), Follower(channel, lambda: b.port),
                 Follower(channel, lambda: a.port)]
    stop_clients, stop_burst = asyncio.Event(), asyncio.Event()
    clients = [asyncio.create_task(f.run(stop_clients)) for f in followers]
    acked: list[str] = []
    try:
        await wait_for(lambda: all(f.connections for f in followers), 15)
        await asyncio.sleep(0.2)
        publishing = asyncio.create_task(burst(a.port, channel, acked, stop_burst))
        await wait_for(lambda: len(acked) >= 100, 15)
        frozen = time.monotonic()
        b.pause()
        try:
            await asyncio.sleep(0.3)
            redis_server.kill()
            redis_server.start()
            await asyncio.sleep(max(0.0, PAUSE - (time.monotonic() - frozen)))
        finally:
            b.resume()
        count = len(acked)
        await wait_for(lambda: len(acked) >= count + 100, 15)    # the flow goes on after it
        stop_burst.set()
        await publishing
        async with AsyncClient(timeout=5) as http:
            final = (await http.post(f"{a.url}/publish/{channel}")).json()["ids"][0]
        acked.append(final)
        await wait_for(lambda: all(f.last_id == final for f in followers), 15)
    finally:
        stop_clients.set()
        stop_burst.set()
        await asyncio.gather(*clients)
    tallies = [Tally(f, acked) for f in followers]
    print(f"\n  {channel}: {len(acked)} acknowledged; " + "; ".join(
        f"{'AB'[f.port() == b.port]} {t!r} resets {[r[1] for r in f.resets]}, {f.connections} connection(s)"
        for f, t in zip(followers, tallies, strict=True)))
    return tallies


def summary(runs: list[list[Tally]]) -> str:
    tallies = [t for run in runs for t in run]
    return (f"{len(runs)} runs, {len(tallies)} clients: delivered {sum(t.delivered for t in tallies)}, "
            f"covered by a reset {sum(t.covered for t in tallies)}, "
            f"silently lost {sum(len(t.silent) for t in tallies)}, "
            f"resets {sum(t.resets for t in tallies)}, out of order {sum(len(t.disorder) for t in tallies)}; "
            f"runs with a silent loss: {sum(any(t.silent for t in run) for run in runs)}")


@pytest.mark.parametrize("batch", [1, 2])
async def test_redis_restarted_empty_while_a_worker_is_frozen_never_loses_silently(
        start_worker, redis_server, batch):
    a, b = start_worker(HUB_HEARTBEAT="1"), start_worker(HUB_HEARTBEAT="1")
    runs = [await paused_restart(a, b, redis_server, f"frozen-{batch}-{n}") for n in range(5)]
    print(f"\nno persistence, batch {batch}: {summary(runs)}")
    for run in runs:
        for tally in run:
            assert not tally.silent and not tally.disorder, (summary(runs), run)
        assert all(t.resets for t in run[:2]), run        # B lost events: its clients were told


async def test_redis_restarted_from_its_append_only_file_loses_nothing_and_resets_nobody(
        start_worker):
    with RedisServer(appendonly=True) as durable:
        a = start_worker(HUB_HEARTBEAT="1", HUB_REDIS_URL=durable.url)
        b = start_worker(HUB_HEARTBEAT="1", HUB_REDIS_URL=durable.url)
        runs = [await paused_restart(a, b, durable, f"durable-{n}") for n in range(5)]
    print(f"\nappendonly + appendfsync always: {summary(runs)}")
    for run in runs:
        for tally in run:
            assert (tally.resets, tally.covered, tally.silent, tally.disorder) == (0, 0, [], []), \
                (summary(runs), run)


async def test_a_frozen_worker_catches_up_without_resetting_its_clients(start_worker):
    """More events than the Hub's replay buffer (1000) arrive while B is frozen: when it wakes
    up its clients get them all, with no reset (nothing was lost)."""
    a, b = start_worker(HUB_HEARTBEAT="1"), start_worker(HUB_HEARTBEAT="1")
    followers = [Follower("backlog", lambda: b.port) for _ in range(2)]
    stop = asyncio.Event()
    clients = [asyncio.create_task(f.run(stop)) for f in followers]
    try:
        await wait_for(lambda: all(f.connections for f in followers), 15)
        await asyncio.sleep(0.2)
        b.pause()
        try:
            async with AsyncClient(base_url=a.url, timeout=30) as http:
                acked = (await http.post("/publish/backlog", params={"n": 1500})).json()["ids"]
        finally:
            b.resume()
        await wait_for(lambda: all(f.last_id == acked[-1] for f in followers), 20)
    finally:
        stop.set()
        await asyncio.gather(*clients)
    tallies = [Tally(f, acked) for f in followers]
    print(f"\nbacklog of {len(acked)} after a freeze: {tallies}")
    for f, tally in zip(followers, tallies, strict=True):
        assert (tally.delivered, tally.resets, f.connections) == (len(acked), 0, 1), tally
