"""10,000 channels on one worker (`RedisBackend(reader="pubsub")`): what a user needs is that every
acknowledged event reaches the channel's subscribers once, in order, or is covered by a later
reset, and that the worker's event loop stays responsive while channels open and close."""
from __future__ import annotations

import asyncio
import gc
import random
import time

import redis

from sse_monitor import RedisBackend
from support.waiting import wait_for


class Worker:
    """A backend as one worker's Hub uses it: what it delivered and reset, per channel."""

    def __init__(self, url: str) -> None:
        self.backend = RedisBackend(url, reader="pubsub", block_ms=1_000)
        self.got: dict[str, list[str]] = {}
        self.resets: dict[str, int] = {}
        self.backend.bind(lambda ch, event_id, event, data: self.got.setdefault(ch, []).append(event_id))
        self.backend.bind_reset(lambda ch, reason: self.resets.__setitem__(ch, self.resets.get(ch, 0) + 1))

    async def open(self, channels: list[str]) -> None:
        for start in range(0, len(channels), 1000):      # clients arriving 1,000 at a time
            for channel in channels[start:start + 1000]:
                self.backend.open_channel(channel)
            await asyncio.gather(*(self.backend.ready(ch) for ch in channels[start:start + 1000]))

    def missing(self, channel: str, acked: list[str]) -> list[str]:
        got = self.got.get(channel, [])
        assert got == sorted(set(got), key=self.backend.sort_key), f"{channel}: duplicate or disorder"
        return [event_id for event_id in acked if event_id not in set(got)]


class LoopLag:
    """How long the event loop was held between two turns of a 5 ms timer: `worst` in wall time
    (what every stream of the worker feels, including the machine's other load) and `worst_cpu`,
    the CPU this thread spent in that span (the work done on the loop itself: what the reader
    decides, unaffected by other processes taking the cores)."""

    def __init__(self) -> None:
        self.worst = self.worst_cpu = 0.0
        self.task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            started, cpu = time.perf_counter(), time.thread_time()
            await asyncio.sleep(0.005)
            self.worst = max(self.worst, time.perf_counter() - started - 0.005)
            self.worst_cpu = max(self.worst_cpu, time.thread_time() - cpu)

    async def stop(self) -> tuple[float, float]:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)
        return self.worst, self.worst_cpu


async def test_ten_thousand_channels_with_churn_deliver_everything_and_keep_the_loop_responsive(redis_server):
    worker = Worker(redis_server.url)
    channels = [f"user-{n}" for n in range(10_000)]
    started = time.perf_counter()
    await worker.open(channels)
    opened_in = time.perf_counter() - started
    # A full garbage collection over this test process's heap (10,000 channels' objects and
    # pytest's) pauses the loop 70-120 ms whatever the reader does; freezing the heap built so
    # far keeps those pauses out of a measurement of the reader (as gc.freeze() after start-up does
    # in a server).
    gc.collect()
    gc.freeze()
    lag = LoopLag()
    acked: dict[str, list[str]] = {}
    churned = [f"churn-{n}" for n in range(50)]
    rng = random.Random(27)
    # 3 s: 1,000 events/s over random channels, and 50 opens + closes per second
    for tick in range(60):
        for _ in range(17):
            channel = rng.choice(channels)
            acked.setdefault(channel, []).append(await worker.backend.publish(channel, None, "x"))
        channel = churned[tick % len(churned)]
        if tick % 2:
            worker.backend.close_channel(channel)
        else:
            worker.backend.open_channel(channel)
        await asyncio.sleep(0.05)
    worst, worst_cpu = await lag.stop()        # (the check below is the test's own CPU, not the worker's)
    gc.unfreeze()
    await wait_for(lambda: all(not worker.missing(ch, ids) for ch, ids in acked.items()), 10)
    delivered = sum(len(ids) for ids in acked.values())
    print(f"\n10,000 channels opened in {opened_in:.1f} s; {delivered} events delivered, "
          f"{sum(worker.resets.values())} resets, worst loop lag {worst * 1000:.1f} ms "
          f"({worst_cpu * 1000:.1f} ms of it on this thread's CPU)")
    assert not worker.resets                   # nothing was lost in Redis: no page reloads
    assert worst_cpu < 0.05                    # no turn of the loop held by more than 50 ms of work
    await worker.backend.aclose()


async def test_channels_opened_and_closed_at_once_get_every_event_of_their_open_time(redis_server):
    worker = Worker(redis_server.url)
    rng = random.Random(3)
    channels = [f"flap-{n}" for n in range(20)]
    must_have: dict[str, list[str]] = {}       # published while the channel was surely open
    is_open: set[str] = set()
    for round_ in range(200):
        channel = rng.choice(channels)
        if channel in is_open:
            worker.backend.close_channel(channel)
            is_open.discard(channel)
            worker.got.pop(channel, None)      # a reopened channel starts afresh (as the Hub's buffer)
            must_have.pop(channel, None)
        else:
            worker.backend.open_channel(channel)
            await worker.backend.ready(channel)
            is_open.add(channel)
        for target in rng.sample(channels, 5):
            event_id = await worker.backend.publish(target, None, str(round_))
            if target in is_open:
                must_have.setdefault(target, []).append(event_id)
    await wait_for(lambda: all(not worker.missing(ch, ids) for ch, ids in must_have.items()), 10)
    for channel, ids in must_have.items():
        assert worker.got[channel] == ids       # exactly its open time's events: no gap, no extra
    assert not worker.resets
    await worker.backend.aclose()


async def test_pubsub_connection_killed_mid_flow_loses_and_duplicates_nothing(redis_server):
    worker = Worker(redis_server.url)
    channels = [f"kill-{n}" for n in range(200)]
    await worker.open(channels)
    admin = redis.Redis(port=redis_server.port)
    acked: dict[str, list[str]] = {}
    kills = 0
    for round_ in range(10):
        await wait_for(lambda: admin.client_list(_type="pubsub"), 5)   # the reader is back
        kills += admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")
        for n in range(100):                  # published while the reader reconnects
            channel = channels[(round_ * 100 + n) % len(channels)]
            acked.setdefault(channel, []).append(await worker.backend.publish(channel, "tick", str(n)))
        await asyncio.sleep(0.1)
    await wait_for(lambda: all(not worker.missing(ch, ids) for ch, ids in acked.items()), 10)
    for channel, ids in acked.items():
        assert worker.got[channel] == ids
    print(f"\n{kills} Pub/Sub connections killed; {sum(map(len, acked.values()))} events delivered "
          f"once each, {sum(worker.resets.values())} resets")
    assert kills == 10 and not worker.resets
    await worker.backend.aclose()
