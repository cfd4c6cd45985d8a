"""Hub streams under real uvicorn: replay, reset, heartbeats, clean-up, limits, bad input."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
from httpx_sse import aconnect_sse

from server.clients import open_stream
from sse_monitor.wire import SHARE_EVENT, SHARE_PROTOCOL, share_digest
from support.http_clients import AsyncClient


async def publish(client: AsyncClient, channel: str, n: int = 1, **params) -> list[str]:
    response = await client.post(f"/publish/{channel}", params={"n": n, **params})
    assert response.status_code == 200, response.text
    return response.json()["ids"]


async def stats(client: AsyncClient) -> dict:
    return (await client.get("/stats")).json()


async def wait_until(predicate, timeout: float = 3.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate():
            return True
        await asyncio.sleep(interval)
    return False


@pytest.fixture
async def server(start_server):
    return start_server(env={"HUB_HEARTBEAT": "0.3", "HUB_REPLAY_SIZE": "20"})


@pytest.fixture
async def http(server):
    async with AsyncClient(base_url=server.url, timeout=5) as client:
        yield client


async def test_live_events_with_httpx_sse_and_headers(http):
    async with aconnect_sse(http, "GET", "/events/live") as source:
        response = source.response
        assert response.headers["content-type"] == "text/event-stream; charset=utf-8"
        assert response.headers["cache-control"] == "no-cache"
        assert response.headers["x-accel-buffering"] == "no"
        ids = await publish(http, "live", 3, event="update", ft="1")
        got = []
        async for event in source.aiter_sse():
            if event.event == "update":
                got.append((event.data, event.id))
            if len(got) == 3:
                break
    assert got == [(f'<div class="item">live-{i}</div>', ids[i]) for i in range(3)]


@pytest.mark.parametrize("how", ["header", "query", "both", "header-with-whitespace"])
async def test_reconnect_replays_exactly_the_missed_events(server, http, how):
    ids = await publish(http, "rp", 6)
    headers, query = {}, ""
    if how in ("header", "both"):
        headers["Last-Event-ID"] = ids[2]
    if how == "header-with-whitespace":          # optional whitespace around a header value (RFC 9110)
        headers["Last-Event-ID"] = f"{ids[2]} \t"
    if how == "query":
        query = f"?lastEventId={ids[2]}"
    if how == "both":
        query = f"?lastEventId={ids[0]}"        # header wins
    stream = await open_stream(server.port, f"/events/rp{query}", headers)
    events = await stream.read_events(3)
    assert [(e.data, e.id) for e in events] == [(f"rp-{i}", ids[i]) for i in (3, 4, 5)]
    more = await publish(http, "rp", 1)
    (live,) = await stream.read_events(1)
    assert (live.data, live.id) == ("rp-0", more[0])
    stream.close()


async def test_page_load_gap_is_replayed_via_sse_url(server, http):
    url = (await http.get("/url/gap")).text          # page rendered: no events yet
    assert "?lastEventId=" in url
    await publish(http, "gap", 1)                     # published before the browser connects
    stream = await open_stream(server.port, url)
    (event,) = await stream.read_events(1)
    assert event.data == "gap-0"
    stream.close()


async def test_unknown_too_old_and_previous_process_ids_get_one_reset(server, http):
    """A reset says what was lost; what the server still holds follows it, none of it twice."""
    ids = await publish(http, "rs", 30)               # replay buffer holds 20
    for last_id, reason, held in [(ids[2], "too-old", ids[10:30]), ("nonsense", "malformed", []),
                                  (ids[-1].split("-")[0] + "-999", "unknown-id", [])]:
        stream = await open_stream(server.port, "/events/rs", {"Last-Event-ID": last_id})
        reset, *replayed = await stream.read_events(1 + len(held))
        assert reset.event == "reset"
        assert json.loads(reset.data) == {"reason": reason, "last_id": ids[-1]}
        assert [e.id for e in replayed] == held, "every event the buffer holds, after the reset"
        fresh = await publish(http, "rs", 1)
        (live,) = await stream.read_events(1)
        assert live.id == fresh[0]
        ids.append(fresh[0])
        stream.close()
    # the server restarts (a deploy): ids from the old process are unknown to the new one, and what
    # the new one published since is all new to the client
    server.restart()
    async with AsyncClient(base_url=server.url, timeout=5) as fresh_http:
        new_ids = await publish(fresh_http, "rs", 2)
        stream = await open_stream(server.port, "/events/rs", {"Last-Event-ID": ids[-1]})
        reset, *replayed = await stream.read_events(3)
        assert reset.event == "reset"
        assert json.loads(reset.data) == {"reason": "unknown-id", "last_id": new_ids[-1]}
        assert [e.id for e in replayed] == new_ids, "the new process's events follow the reset"
        stream.close()


@pytest.mark.timing
async def test_heartbeats_at_the_configured_interval(server):
    stream = await open_stream(server.port, "/events/hb")
    started = time.monotonic()
    events = await stream.read_events(4, timeout=5)
    elapsed = time.monotonic() - started
    assert [e.event for e in events] == ["heartbeat"] * 4
    assert 0.9 <= elapsed <= 1.8, elapsed          # 4 x 0.3 s
    assert stream.parser.retry == 1000
    stream.close()


@pytest.mark.timing
async def test_disconnect_is_cleaned_up_promptly(server, http):
    streams = [await open_stream(server.port, f"/events/dc{i % 2}") for i in range(40)]
    assert await wait_until(lambda: _count(http, 40))
    for stream in streams:
        stream.writer.transport.abort()
    started = time.monotonic()
    assert await wait_until(lambda: _count(http, 0), timeout=2)
    assert time.monotonic() - started < 1.0
    body = await stats(http)
    assert all(c["subscribers"] == 0 for c in body["channels"].values())


@pytest.mark.timing
async def test_a_client_gone_from_a_mounted_stream_is_counted_gone_promptly(start_server):
    """The same under `hub.mount`, whose streams notice a gone client without a task of their own
    (under uvicorn): parked streams and streams that have just been sent to."""
    server = start_server(app="server.mounted_app:app")
    async with AsyncClient(base_url=server.url, timeout=5) as http:
        streams = [await open_stream(server.port, f"/events/mdc{i % 2}") for i in range(40)]
        assert await wait_until(lambda: _count(http, 40))
        await publish(http, "mdc0", 3)
        for stream in streams:
            stream.writer.transport.abort()
        started = time.monotonic()
        assert await wait_until(lambda: _count(http, 0), timeout=2)
        assert time.monotonic() - started < 1.0
        again = await open_stream(server.port, "/events/mdc0")     # and the worker streams on
        await publish(http, "mdc0", 1)
        data: list[str] = []
        deadline = time.monotonic() + 5
        while not data and time.monotonic() < deadline:     # heartbeats come every 0.3 s meanwhile
            data = [e.data for e in await again.read_events(1, timeout=5) if e.event != "heartbeat"]
        assert data == ["mdc0-0"]
        again.close()


async def _count(http, n):
    return (await stats(http))["streams"] == n


@pytest.mark.parametrize("path, status", [
    ("/events/bad%20name", 400), ("/events/-lead", 400), ("/events/" + "x" * 200, 400),
    ("/events/%C3%A9t%C3%A9", 400), ("/plain/bad%21", 400),
])
async def test_bad_channel_names_are_a_clean_400(server, path, status):
    stream = await open_stream(server.port, path)
    assert stream.status == status
    assert "channel" in stream.headers["_body"]


async def test_huge_and_non_utf8_last_event_ids_never_crash(server, http):
    await publish(http, "weird", 2)
    huge = "9" * 100_000
    for headers, raw, query in [
        ({}, b"Last-Event-ID: \xff\xfe\xc3(\r\n", ""),                 # non-UTF-8 bytes
        ({"Last-Event-ID": "a" * 5000}, b"", ""),
        ({}, b"", f"?lastEventId={huge}"),                              # 100 KB in the URL
        ({}, b"", "?lastEventId=%FF%FE"),
        ({"Last-Event-ID": "id\twith\ttabs"}, b"", ""),
    ]:
        try:
            stream = await open_stream(server.port, f"/events/weird{query}", headers, raw)
        except (ConnectionError, asyncio.IncompleteReadError):
            pytest.fail("server dropped the connection")
        if stream.status == 200:
            (reset,) = await stream.read_events(1)
            assert reset.event == "reset" and json.loads(reset.data)["reason"] == "malformed"
        else:
            assert 400 <= stream.status < 500, stream.status     # uvicorn may refuse huge lines
        stream.close()
    # a 100 KB header
    try:
        stream = await open_stream(server.port, "/events/weird", {"Last-Event-ID": huge})
        assert stream.status in (200, 400, 431)
        if stream.status == 200:
            (reset,) = await stream.read_events(1)
            assert reset.event == "reset"
        stream.close()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass   # uvicorn itself may drop an oversized request head; the server must stay up
    assert (await http.get("/stats")).status_code == 200


async def test_stream_limit_gives_503_with_retry_after(start_server):
    server = start_server(env={"HUB_MAX_PER_CHANNEL": "3"})
    streams = [await open_stream(server.port, "/events/full") for _ in range(3)]
    refused = await open_stream(server.port, "/events/full")
    assert refused.status == 503
    assert refused.headers["retry-after"] == "5"
    other = await open_stream(server.port, "/events/other")   # the limit is per channel
    assert other.status == 200
    streams[0].writer.transport.abort()
    async with AsyncClient(base_url=server.url) as http:
        assert await wait_until(lambda: _count(http, 3))
    again = await open_stream(server.port, "/events/full")
    assert again.status == 200


async def test_authorize_hook_sync_and_async_gives_403(server):
    denied = await open_stream(server.port, "/events/private-stuff")
    assert denied.status == 403
    denied_async = await open_stream(server.port, "/events/secret-room")
    assert denied_async.status == 403
    allowed = await open_stream(server.port, "/events/secret-room?token=letmein")
    assert allowed.status == 200
    allowed.close()


async def test_fasthtml_rt_route_form(server, http):
    stream = await open_stream(server.port, "/plain/rtform")
    assert stream.status == 200
    ids = await publish(http, "rtform", 1)
    (event,) = await stream.read_events(1)
    assert event.id == ids[0]
    stream.close()


async def test_mounted_fast_path_streams_replays_and_closes(start_server):
    server = start_server(app="server.mounted_app:app")
    async with AsyncClient(base_url=server.url, timeout=5) as http:
        ids = await publish(http, "m", 3)
        stream = await open_stream(server.port, "/events/m", {"Last-Event-ID": ids[0]})
        assert stream.status == 200
        assert [e.data for e in await stream.read_events(2)] == ["m-1", "m-2"]
        assert (await open_stream(server.port, "/events/bad!")).status == 400
        assert (await http.get("/stats")).json()["streams"] == 1
    server.proc.send_signal(__import__("signal").SIGTERM)
    events = await stream.read_all(timeout=3)
    assert events[-1].event == "close"
    assert server.proc.wait(3) is not None


async def test_renamed_close_and_reset_events_arrive_under_their_new_names(start_server):
    """An app that renames the hub's events (to match its monitor's SSEConnectionConfig) gets the
    reset and the close under those names, never the defaults its monitor no longer listens to."""
    server = start_server(env={"HUB_CLOSE_EVENT": "server-bye", "HUB_RESET_EVENT": "stale-state",
                               "HUB_RECONNECT_AFTER_MS": "1000", "HUB_CLOSE_WINDOW_MS": "0"})
    async with AsyncClient(base_url=server.url, timeout=5) as client:
        await publish(client, "renamed", 2)
        async with aconnect_sse(client, "GET", "/events/renamed", params={"lastEventId": "no-such-id"}) as source:
            assert source.response.status_code == 200
            seen = []
            async for sse in source.aiter_sse():
                seen.append(sse)
                if sse.event == "stale-state":
                    (await client.post("/drain", params={"window_ms": "0"})).raise_for_status()
            # the stream ended after its close event
    names_seen = [e.event for e in seen]
    assert "reset" not in names_seen and "close" not in names_seen, names_seen
    reset = next(e for e in seen if e.event == "stale-state")
    assert json.loads(reset.data)["reason"] == "malformed"      # not an id this hub makes
    assert seen[-1].event == "server-bye", names_seen
    close = json.loads(seen[-1].data)
    assert close["reason"] == "server-drain" and isinstance(close["reconnect_after_ms"], int)


async def test_tab_sharing_check_vouches_only_what_the_request_would_be_streamed(server, http):
    """Tabs share a stream only when the hub says their own requests get the same events: the check
    goes through the same authorization (403 where a stream would be refused), answers a digest of
    the channel the request resolves to, opens no stream, and a leader's stream starts with that
    digest before any event."""
    check = await http.get("/events/secret-room", params={"sseMonitorShare": "check", "token": "letmein"})
    assert check.status_code == 200 and check.headers["content-type"] == "application/json"
    assert check.headers["cache-control"] == "no-store"
    assert check.json() == {"protocol": SHARE_PROTOCOL, "digest": share_digest("secret-room")}
    denied = await http.get("/events/secret-room", params={"sseMonitorShare": "check"})
    assert denied.status_code == 403, "a tab its own stream would refuse is vouched for nothing"
    other = await http.get("/plain/another", params={"sseMonitorShare": "check"})
    assert other.json()["digest"] == share_digest("another") != check.json()["digest"]
    assert (await stats(http))["streams"] == 0, "a check is not a stream"

    ids = await publish(http, "vouched", 2)
    stream = await open_stream(server.port, f"/events/vouched?sseMonitorShare=stream&lastEventId={ids[0]}")
    first, heartbeat, replayed = await stream.read_events(3)
    assert first.event == SHARE_EVENT and json.loads(first.data)["digest"] == share_digest("vouched")
    assert (heartbeat.event, replayed.id) == ("heartbeat", ids[1])
    stream.close()
    plain = await open_stream(server.port, f"/events/vouched?lastEventId={ids[0]}")
    (only,) = await plain.read_events(1)
    assert only.id == ids[1], "a stream not asked for the digest carries none"
    plain.close()
