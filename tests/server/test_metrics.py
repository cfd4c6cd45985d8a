"""An operator scraping /metrics sees what the hub does: streams opening, events going out and
streams ending, with the reason, in numbers that add up to what the clients received.

Real uvicorn on loopback (tests/server/sse_app.py serves `hub.metrics_route(app, channels=["news"])`),
raw-socket clients, and Prometheus' own parser for the scrape.
"""
from __future__ import annotations

import asyncio
import socket
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from server.clients import open_stream
from support.http_clients import AsyncClient
from support.servers import ServerProcess, free_port

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(http: AsyncClient, path: str = "/metrics") -> Samples:
    response = await http.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]


async def until(http: AsyncClient, check, timeout: float = 10.0, path: str = "/metrics") -> Samples:
    """Scrape until `check(samples)` holds; fail with the last scrape after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        samples = await scrape(http, path)
        if check(samples):
            return samples
        assert time.monotonic() < deadline, {k: v for k, v in samples.items() if v}
        await asyncio.sleep(0.05)


def _two_free_ports() -> int:
    """A port p such that p and p + 1 are both free on 127.0.0.1 right now."""
    while True:
        port = free_port()
        if port < 65535:
            with socket.socket() as sock:
                try:
                    sock.bind(("127.0.0.1", port + 1))
                    return port
                except OSError:
                    continue


def live(samples: Samples) -> float:
    return value(samples, "sse_monitor_streams", phase="live")


async def test_scrapes_follow_streams_opening_publishing_resuming_and_draining(start_server):
    server = start_server(env={"HUB_HEARTBEAT": "60"})     # no heartbeat but each stream's first one
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        first = await scrape(http)
        assert live(first) == 0 and value(first, "sse_monitor_streams_opened_total") == 0

        news = [await open_stream(server.port, "/events/news") for _ in range(3)]
        other = await open_stream(server.port, "/events/other")
        samples = await until(http, lambda s: live(s) == 4)
        assert value(samples, "sse_monitor_streams_opened_total") == 4
        assert value(samples, "sse_monitor_channel_streams", channel="news") == 3   # listed: its own series
        assert not any(dict(labels).get("channel") == "other" for _, labels in samples)   # not listed: none

        ids = (await http.post("/publish/news", params={"n": 5})).json()["ids"]
        for client in news:
            assert len(await client.read_events(5)) == 5
        samples = await scrape(http)
        assert value(samples, "sse_monitor_events_published_total") == 5
        assert value(samples, "sse_monitor_events_received_total") == 5
        assert value(samples, "sse_monitor_events_sent_total") == 15           # 5 events to 3 streams
        assert value(samples, "sse_monitor_channel_buffered_events", channel="news") == 5
        fanouts = value(samples, "sse_monitor_fanout_seconds_count")
        assert fanouts >= 1 and value(samples, "sse_monitor_fanout_seconds_bucket", le="+Inf") == fanouts

        news[0].close()                                                         # a client leaves
        samples = await until(http, lambda s: value(s, "sse_monitor_streams_closed_total", reason="client-gone") == 1)
        assert live(samples) == 3

        resumed = await open_stream(server.port, f"/events/news?lastEventId={ids[1]}")   # missed 3 events
        assert [e.data for e in await resumed.read_events(3)] == ["news-2", "news-3", "news-4"]
        reset = await open_stream(server.port, "/events/news?lastEventId=" + "x" * 300)
        assert (await reset.read_events(1))[0].event == "reset"
        refused = await open_stream(server.port, "/events/private-room")
        assert refused.status == 403
        samples = await until(http, lambda s: live(s) == 5)
        assert value(samples, "sse_monitor_resumes_total", outcome="buffer") == 1
        assert value(samples, "sse_monitor_replayed_events_total") == 3
        assert value(samples, "sse_monitor_resumes_total", outcome="reset") == 1
        assert value(samples, "sse_monitor_resets_total", reason="malformed") == 1
        assert value(samples, "sse_monitor_streams_refused_total", reason="forbidden") == 1
        assert value(samples, "sse_monitor_events_sent_total") == 18

        # A rolling deploy: every open stream is told to go, new ones are refused.
        assert (await http.post("/drain", params={"window_ms": "0"})).status_code == 200
        open_clients = [*news[1:], other, resumed, reset]
        for client in open_clients:
            assert (await client.read_all())[-1].event == "close"
        samples = await until(http, lambda s: value(s, "sse_monitor_streams_closed_total", reason="drain") == 5)
        assert value(samples, "sse_monitor_draining") == 1
        assert value(samples, "sse_monitor_streams_told_to_close_total") == 5
        assert sum(v for (name, labels), v in samples.items() if name == "sse_monitor_streams") == 0
        assert (await open_stream(server.port, "/events/news")).status == 503
        samples = await scrape(http)
        assert value(samples, "sse_monitor_streams_refused_total", reason="draining") == 1

        # Every byte the hub counts is a byte the clients read (before HTTP chunk framing).
        received = sum(client.body_bytes for client in [*news, other, resumed, reset])
        assert value(samples, "sse_monitor_sent_bytes_total") == received
        assert value(samples, "sse_monitor_streams_opened_total") == 6


async def test_a_client_that_stops_reading_shows_as_sending_then_as_a_slow_cut_off(start_server):
    server = start_server(env={"HUB_SEND_TIMEOUT": "3", "HUB_REPLAY_SIZE": "2000"})
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        stuck = await open_stream(server.port, "/events/flood", rcvbuf=4096)   # never reads
        await until(http, lambda s: live(s) == 1)
        for _ in range(10):                                     # 10 MB: more than any socket buffer holds
            assert (await http.post("/publish/flood", params={"n": 50, "size": 20_000})).status_code == 200
        await until(http, lambda s: value(s, "sse_monitor_streams", phase="sending") == 1)
        samples = await until(
            http, lambda s: value(s, "sse_monitor_streams_closed_total", reason="send-timeout") == 1, timeout=15)
        assert value(samples, "sse_monitor_slow_client_cutoffs_total") == 1
        assert sum(v for (name, _), v in samples.items() if name == "sse_monitor_streams") == 0
        stuck.close()


async def test_each_worker_serves_its_own_numbers_on_a_port_of_its_own(tmp_path):
    """`start_metrics_server(hub, port, tries=2)` in each of two uvicorn workers: two scrape targets."""
    metrics_port = _two_free_ports()
    server = ServerProcess("server.metrics_workers_app:app", args=["--workers", "2"],
                           env={"METRICS_PORT": str(metrics_port)}, log_path=tmp_path / "server.log")
    with server:
        targets = [f"http://127.0.0.1:{metrics_port + i}" for i in range(2)]
        async with AsyncClient(timeout=10) as http:
            deadline = time.monotonic() + 15
            while True:                                  # both workers up, each on its own port
                try:
                    scrapes = [await scrape(http, url + "/metrics") for url in targets]
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, server.log_path.read_text()
                    await asyncio.sleep(0.1)
            assert all(live(s) == 0 for s in scrapes)
            streams = [await open_stream(server.port, "/events/news") for _ in range(4)]

            async def total_live() -> float:
                return sum([live(await scrape(http, url + "/metrics")) for url in targets])

            deadline = time.monotonic() + 10
            while await total_live() != 4:               # wherever the kernel sent each connection
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            for stream in streams:
                stream.close()
