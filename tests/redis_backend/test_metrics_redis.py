"""On Redis, an operator sees each worker's reader: reaching Redis, its errors and its lag, next to
the hub's own counts (events one worker publishes are received and sent by the other)."""
from __future__ import annotations

import redis

from server.clients import open_stream
from server.test_metrics import scrape, until, value
from support.http_clients import AsyncClient


async def test_each_workers_reader_shows_its_lag_and_its_errors(start_worker, redis_server):
    a, b = start_worker(), start_worker()
    stream = await open_stream(b.port, "/events/ticks")
    async with AsyncClient(base_url=b.url, timeout=10) as http:
        samples = await until(http, lambda s: value(s, "sse_monitor_redis_channels_followed") == 1)
        assert value(samples, "sse_monitor_redis_reader_connected") == 1
        assert value(samples, "sse_monitor_redis_reader_errors_total") == 0

        async with AsyncClient(base_url=a.url, timeout=10) as publisher:
            assert (await publisher.post("/publish/ticks", params={"n": 3})).status_code == 200
        await stream.read_events(3, timeout=5)
        samples = await until(http, lambda s: value(s, "sse_monitor_events_received_total") == 3)
        assert value(samples, "sse_monitor_events_published_total") == 0        # worker A published them
        assert value(samples, "sse_monitor_events_sent_total") == 3
        assert 0 <= value(samples, "sse_monitor_redis_reader_lag_seconds") < 5   # same machine, same clock

        # Redis drops the reader's connection: one failed round, then it reads again.
        admin = redis.Redis(port=redis_server.port)
        assert admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub", "SKIPME", "yes") >= 1
        samples = await until(http, lambda s: value(s, "sse_monitor_redis_reader_errors_total") >= 1
                              and value(s, "sse_monitor_redis_reader_connected") == 1)
        assert value(samples, "sse_monitor_redis_reader_restarts_total") == 0   # an error, not a crash
        stream.close()
    async with AsyncClient(base_url=a.url, timeout=10) as http:
        assert value(await scrape(http), "sse_monitor_events_published_total") == 3
