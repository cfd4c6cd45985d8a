"""On Redis a finished channel is finished on every worker: a page whose stream reaches another
worker (a reload behind a load balancer) gets what it missed and the `end`, or the `end` again if
it had everything, and its response finishes."""
from __future__ import annotations

import json

from server.clients import open_stream
from support.http_clients import AsyncClient


def summary(events) -> list[tuple[str, str]]:
    return [(e.event, e.data) for e in events if e.event != "heartbeat"]


async def test_any_worker_serves_a_finished_channel_and_finishes(start_worker):
    a, b = start_worker(), start_worker()
    async with AsyncClient(base_url=a.url, timeout=10) as http:
        live = await open_stream(a.port, "/events/answer")
        ids = (await http.post("/publish/answer", params={"n": 3})).json()["ids"]
        end_id = (await http.post("/end/answer", params={"outcome": "cancelled"})).json()["id"]
    cancelled = ("end", json.dumps({"outcome": "cancelled", "detail": None}))
    assert summary(await live.read_all(timeout=5))[-1] == cancelled and live.ended

    reload = await open_stream(b.port, f"/events/answer?lastEventId={ids[0]}")
    assert summary(await reload.read_all(timeout=5)) == [("message", "answer-1"), ("message", "answer-2"), cancelled]
    assert reload.ended

    after = await open_stream(b.port, f"/events/answer?lastEventId={end_id}")
    events = await after.read_all(timeout=5)
    assert summary(events) == [cancelled] and events[-1].id == end_id
    assert after.ended
