"""A stream that finishes: a job or a generated answer ends, and every page of it knows.

`hub.end(channel, outcome)` ends a channel: each open stream gets one `event: end` with the outcome
and then the response finishes (no stream is left holding one of the browser's six connections).
A page that comes later (a reload, a second tab) gets the channel's events and the `end` at once,
from replay, and is not left waiting. Real uvicorn on loopback (tests/server/sse_app.py).
"""
from __future__ import annotations

import json

import pytest

from server.clients import open_stream
from support.http_clients import AsyncClient


def summary(events) -> list[tuple[str, str]]:
    return [(e.event, e.data) for e in events if e.event != "heartbeat"]


async def test_every_open_stream_gets_the_outcome_and_finishes(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        streams = [await open_stream(server.port, "/events/job1") for _ in range(3)]
        await http.post("/publish/job1", params={"n": 2})
        end = await http.post("/end/job1", params={"outcome": "error", "detail": "disk full"})
        assert end.status_code == 200
        for stream in streams:
            events = await stream.read_all(timeout=5)
            assert stream.ended, "the response finished"
            assert summary(events) == [("message", "job1-0"), ("message", "job1-1"),
                                       ("end", json.dumps({"outcome": "error", "detail": "disk full"}))]
            assert events[-1].id == end.json()["id"]
        stats = (await http.get("/stats")).json()
        assert stats["streams"] == 0 and stats["closed"]["finished"] == 3


async def test_a_page_that_comes_after_the_end_gets_the_events_and_the_end_at_once(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        first = (await http.post("/publish/job2", params={"n": 3})).json()["ids"][0]
        end_id = (await http.post("/end/job2")).json()["id"]
        done = ("end", json.dumps({"outcome": "done", "detail": None}))

        reload = await open_stream(server.port, f"/events/job2?lastEventId={first}")   # rendered mid-job
        assert summary(await reload.read_all(timeout=3)) == [("message", "job2-1"), ("message", "job2-2"), done]
        assert reload.ended

        for path in ("/events/job2", f"/events/job2?lastEventId={end_id}"):   # rendered after the end
            late = await open_stream(server.port, path)
            assert summary(await late.read_all(timeout=3)) == [done], path
            assert late.ended, path


async def test_publishing_after_the_end_starts_the_channel_anew(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        end_id = (await http.post("/end/job3", params={"outcome": "cancelled"})).json()["id"]
        await http.post("/publish/job3", params={"n": 1})
        again = await open_stream(server.port, f"/events/job3?lastEventId={end_id}")
        assert summary(await again.read_events(1, timeout=3)) == [("message", "job3-0")]
        await http.post("/publish/job3", params={"n": 1})
        assert summary(await again.read_events(1, timeout=3)) == [("message", "job3-0")]
        assert not again.ended
        again.close()


@pytest.mark.parametrize("params, says", [({"outcome": "finished"}, "outcome: expected one of"),
                                          ({"detail": "x" * 1001}, "detail: expected None or a text")])
async def test_a_wrong_outcome_or_detail_is_a_clear_error(start_server, params, says):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        answer = await http.post("/end/job4", params=params)
        assert answer.status_code == 400 and answer.text.startswith(says), answer.text
