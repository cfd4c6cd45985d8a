"""Runs: a generated answer or a job runs in the background, once, whoever asks for it.

What a user needs: starting it twice (a double click, a reload, a reconnect) never runs it twice; a
page that drops or comes later sees every token exactly once and then the outcome; Stop stops it
within a second; a failure ends it with words the page can show (and never the server's
internals); a page that followed a run this server no longer knows is told `interrupted`, not left
waiting; a finished run's memory is freed after `keep_seconds`. Real uvicorn on loopback.
"""
from __future__ import annotations

import asyncio
import time

import pytest

from server.clients import open_stream
from server.clients import run_outcome as outcome
from server.clients import run_tokens as tokens
from support.http_clients import AsyncClient, Client


async def test_started_twice_it_runs_once_and_every_page_sees_each_token_once(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        first = await http.post("/runs/ans1/start", params={"tokens": 20, "delay": 0.02})
        again = await asyncio.gather(*[http.post("/runs/ans1/start", params={"tokens": 20}) for _ in range(5)])
        assert first.json() == {"started": True}
        assert [r.json() for r in again] == [{"started": False}] * 5

        live = await open_stream(server.port, "/runs/ans1")
        early = await live.read_events(3, timeout=5)          # a page that drops after a few tokens
        live.close()
        resumed = await open_stream(server.port, f"/runs/ans1?lastEventId={early[-1].id}")
        rest = await resumed.read_all(timeout=5)
        assert tokens(early) + tokens(rest) == [f"ans1-{i}" for i in range(20)]
        assert outcome(rest) == {"outcome": "done", "detail": None} and resumed.ended

        late = await open_stream(server.port, "/runs/ans1")     # a second tab after the end
        seen = await late.read_all(timeout=5)
        assert tokens(seen) == [f"ans1-{i}" for i in range(20)] and outcome(seen)["outcome"] == "done"

        assert (await http.post("/runs/ans1/start")).json() == {"started": False}, "a finished run is not rerun"
        produced = (await http.get("/runs-produced")).json()
        assert produced["produced"]["ans1"] == 1
        assert (await http.get("/runs/ans1/state")).json() == {"state": "done"}


@pytest.mark.timing
async def test_cancel_stops_the_producer_within_a_second_and_ends_cancelled(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        await http.post("/runs/ans2/start", params={"tokens": 1000, "delay": 0.05})
        live = await open_stream(server.port, "/runs/ans2")
        await live.read_events(2, timeout=5)
        asked = time.monotonic()
        assert (await http.post("/runs/ans2/cancel")).json() == {"cancelled": True}
        events = await live.read_all(timeout=5)
        assert time.monotonic() - asked < 1.0
        assert outcome(events) == {"outcome": "cancelled", "detail": None} and live.ended
        produced = (await http.get("/runs-produced")).json()
        assert produced["stopped"]["ans2"] == 1 and "ans2" not in produced["running"]
        assert (await http.post("/runs/ans2/cancel")).json() == {"cancelled": False}


async def test_a_failure_ends_with_words_for_the_page_and_never_the_servers_internals(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        await http.post("/runs/ans3/start", params={"tokens": 2, "fail": "The model is overloaded."})
        await http.post("/runs/ans4/start", params={"tokens": 2, "fail": "crash"})
        told = await (await open_stream(server.port, "/runs/ans3")).read_all(timeout=5)
        crashed = await (await open_stream(server.port, "/runs/ans4")).read_all(timeout=5)
        assert tokens(told) == ["ans3-0", "ans3-1"]
        assert outcome(told) == {"outcome": "error", "detail": "The model is overloaded."}
        assert outcome(crashed) == {"outcome": "error", "detail": "It failed on the server."}
        assert "internal detail" not in "".join(e.data for e in crashed)
    assert "internal detail the page must not see" in server.log_path.read_text(), "the server log has it"


async def test_an_unknown_run_is_404_and_a_run_this_server_lost_is_interrupted(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        unknown = await http.get("/runs/nobody")
        assert unknown.status_code == 404 and "no such run" in unknown.text
        bad = await http.get("/runs/bad%20name")
        assert bad.status_code == 400 and bad.text.startswith("channel:")
        # A page that followed a run of an earlier process (the in-memory hub forgets every run
        # when it restarts) comes back with that process's id: it is told, and never retries.
        lost = await open_stream(server.port, "/runs/ans5?lastEventId=0123456789ab-7")
        events = await lost.read_all(timeout=5)
        assert outcome(events)["outcome"] == "interrupted" and lost.ended


async def test_a_finished_runs_memory_is_freed_after_keep_seconds(start_server):
    server = start_server(env={"HUB_RUN_KEEP": "0.5"})
    async with AsyncClient(base_url=server.url, timeout=30) as http:
        for batch in range(10):
            await asyncio.gather(*[http.post(f"/runs/r{batch}-{i}/start", params={"tokens": 3, "delay": 0})
                                   for i in range(100)])
        held = (await http.get("/runs-produced")).json()
        assert sum(held["produced"].values()) == 1000
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            now = (await http.get("/runs-produced")).json()
            if now["channels"] == 0 and now["states"] == 0 and not now["running"]:
                break
            await asyncio.sleep(0.2)
        assert (now["channels"], now["states"], now["running"]) == (0, 0, [])
        # Once freed, a page still holding one of its ids is told the run is gone, and a new start runs it.
        gone = await open_stream(server.port, f"/runs/r0-0?lastEventId={held_id(server)}")
        assert outcome(await gone.read_all(timeout=5))["outcome"] == "interrupted"
        assert (await http.post("/runs/r0-0/start", params={"tokens": 1})).json() == {"started": True}


def held_id(server) -> str:
    """An id of this server process (its boot), past anything a freed channel numbers now."""
    with Client(base_url=server.url) as http:
        boot = http.get("/url/probe").text.split("lastEventId=")[1].rsplit("-", 1)[0]
    return f"{boot}-2"


async def test_a_page_not_allowed_the_channel_learns_nothing_of_the_run(start_server):
    """`hub.authorize` comes first: a refused page gets 403 whether the run exists or not."""
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        await http.post("/runs/private-ans/start", params={"tokens": 3})
        for path in ("/runs/private-ans", "/runs/private-none", "/runs/private-none?lastEventId=0123456789ab-7"):
            refused = await http.get(path)
            assert (refused.status_code, refused.text) == (403, "not allowed to subscribe to this channel"), path


async def test_a_server_shutting_down_ends_its_runs_interrupted_and_pages_are_told(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        await http.post("/runs/ans6/start", params={"tokens": 1000, "delay": 0.05})
        page = await open_stream(server.port, "/runs/ans6")
        await page.read_events(2, timeout=5)
        server.terminate()
        events = await page.read_all(timeout=10)
        ended = outcome(events)
        assert ended == {"outcome": "interrupted", "detail": "The server stopped before this finished."}, events[-3:]


async def test_a_tab_sharing_check_for_a_lost_run_lets_the_page_learn_it_was_interrupted(start_server):
    """Tab sharing asks first what a tab would be streamed, without the tab's id (`?sseMonitorShare=check`).
    For a run this server does not know that check is answered as for any channel, so the page goes on
    to open its stream with its id, and learns the run was interrupted (a 404 there would tell a page
    whose server restarted that its answer never existed, and stop it for good)."""
    server = start_server()
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        check = await http.get("/runs/ans7", params={"sseMonitorShare": "check"})
        assert check.status_code == 200 and check.headers["content-type"].startswith("application/json")
    lost = await open_stream(server.port, "/runs/ans7?sseMonitorShare=stream&lastEventId=0123456789ab-7")
    events = await lost.read_all(timeout=5)
    assert events[0].event == "sse-monitor-share", "a shared stream starts with what it serves"
    assert outcome(events)["outcome"] == "interrupted" and lost.ended
