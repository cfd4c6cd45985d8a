"""Runs across workers on Redis: one run whoever starts it, any worker serves it, Stop reaches the
worker that runs it, a worker that dies leaves its runs `interrupted` within seconds, and a
finished run's keys are gone after `keep_seconds`. Real redis-server, real uvicorn workers."""
from __future__ import annotations

import asyncio
import time

import pytest
import redis

from server.clients import open_stream
from server.clients import run_outcome as outcome
from server.clients import run_tokens as tokens
from sse_monitor.scaleout.redis import RedisBackend
from sse_monitor.server.runs import RunState
from support.http_clients import AsyncClient


async def test_started_on_two_workers_it_runs_once_and_either_serves_it(start_worker):
    a, b = start_worker(), start_worker()
    async with AsyncClient(timeout=10) as http:
        starts = await asyncio.gather(*[http.post(f"{w.url}/runs/job1/start", params={"tokens": 30, "delay": 0.02})
                                        for w in (a, b, a, b)])
        assert sorted(r.json()["started"] for r in starts) == [False, False, False, True]

        on_b = await open_stream(b.port, "/runs/job1")
        early = await on_b.read_events(5, timeout=5)
        on_b.close()
        on_a = await open_stream(a.port, f"/runs/job1?lastEventId={early[-1].id}")   # a reload, another worker
        rest = await on_a.read_all(timeout=5)
        assert tokens(early) + tokens(rest) == [f"job1-{i}" for i in range(30)]
        assert outcome(rest) == {"outcome": "done", "detail": None}
        produced = [(await http.get(f"{w.url}/runs-produced")).json()["produced"].get("job1", 0) for w in (a, b)]
        assert sum(produced) == 1


@pytest.mark.timing
async def test_stop_asked_on_another_worker_stops_the_run_within_a_second(start_worker):
    a, b = start_worker(), start_worker()
    async with AsyncClient(timeout=10) as http:
        assert (await http.post(f"{a.url}/runs/job2/start", params={"tokens": 1000, "delay": 0.05})).json()["started"]
        page = await open_stream(b.port, "/runs/job2")
        await page.read_events(2, timeout=5)
        asked = time.monotonic()
        assert (await http.post(f"{b.url}/runs/job2/cancel")).json() == {"cancelled": True}
        events = await page.read_all(timeout=5)
        assert time.monotonic() - asked < 1.0, "Stop takes effect within a second"
        assert outcome(events) == {"outcome": "cancelled", "detail": None}
        assert (await http.get(f"{a.url}/runs-produced")).json()["stopped"] == {"job2": 1}
        assert (await http.get(f"{b.url}/runs/job2/state")).json() == {"state": "cancelled"}


@pytest.mark.timing
async def test_a_worker_that_dies_mid_run_leaves_it_interrupted_within_seconds(start_worker):
    a, b = start_worker(HUB_RUN_LEASE="1.5"), start_worker(HUB_RUN_LEASE="1.5")
    async with AsyncClient(timeout=10) as http:
        assert (await http.post(f"{a.url}/runs/job3/start", params={"tokens": 1000, "delay": 0.05})).json()["started"]
        page = await open_stream(b.port, "/runs/job3")
        await page.read_events(3, timeout=5)
        a.kill()
        died = time.monotonic()
        events = await page.read_all(timeout=10)
        assert outcome(events)["outcome"] == "interrupted", "the page is told, not left waiting"
        assert time.monotonic() - died < 1.5 + 1.5, "within the lease and a sweep"
        assert (await http.get(f"{b.url}/runs/job3/state")).json() == {"state": "interrupted"}
        later = await open_stream(b.port, "/runs/job3")         # a reload after that: the same story
        again = await later.read_all(timeout=5)
        assert outcome(again)["outcome"] == "interrupted" and tokens(again)[:3] == ["job3-0", "job3-1", "job3-2"]
        assert (await http.post(f"{b.url}/runs/job3/start")).json() == {"started": False}


async def test_a_finished_runs_keys_expire_after_keep_seconds(start_worker, redis_server):
    a = start_worker(HUB_RUN_KEEP="0.5")
    async with AsyncClient(timeout=30) as http:
        await asyncio.gather(*[http.post(f"{a.url}/runs/r{i}/start", params={"tokens": 3, "delay": 0})
                               for i in range(200)])
        client = redis.Redis.from_url(redis_server.url, decode_responses=True)
        deadline = time.monotonic() + 10
        while (left := client.dbsize()) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert left == 0, sorted(client.keys("*"))[:10]
        states = [(await http.get(f"{a.url}/runs/r{i}/state")).json()["state"] for i in (0, 199)]
        assert states == [None, None]


async def test_a_worker_stopped_for_a_deploy_ends_its_runs_interrupted_at_once(start_worker):
    """SIGTERM (a rolling deploy): the worker ends its runs `interrupted` before it exits, so a page
    on another worker is told at once, not after the lease lapses."""
    a, b = start_worker(HUB_RUN_LEASE="30"), start_worker(HUB_RUN_LEASE="30")
    async with AsyncClient(timeout=10) as http:
        assert (await http.post(f"{a.url}/runs/job4/start", params={"tokens": 1000, "delay": 0.05})).json()["started"]
        page = await open_stream(b.port, "/runs/job4")
        await page.read_events(3, timeout=5)
        a.terminate()
        events = await page.read_all(timeout=5)
        assert outcome(events) == {"outcome": "interrupted", "detail": "The server stopped before this finished."}
        assert (await http.get(f"{b.url}/runs/job4/state")).json() == {"state": "interrupted"}


async def test_a_page_asking_for_a_run_whose_worker_died_finds_it_interrupted_once(redis_server):
    """The on-connect check of one run: a lapsed lease turns the run `interrupted` for exactly one
    asker (its pages are told once), and a run whose worker still renews is left running."""
    backend = RedisBackend(redis_server.url)
    store = backend.run_store()
    try:
        assert await store.claim("dead", "worker-a", 100) is None
        assert await store.claim("alive", "worker-b", 60_000) is None
        await asyncio.sleep(0.3)                       # worker-a stops renewing: its lease lapses
        asked = await asyncio.gather(*[store.orphaned("dead", 5_000) for _ in range(5)])
        assert asked.count(True) == 1
        assert await store.state("dead") == RunState.INTERRUPTED
        assert not await store.orphaned("alive", 5_000)
        assert await store.state("alive") == RunState.RUNNING
        assert await store.orphans(5_000) == [], "the sweep does not end it a second time"
    finally:
        await backend.aclose()
