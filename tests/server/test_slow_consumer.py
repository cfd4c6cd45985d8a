"""A client that stops reading is cut off; server memory stays bounded; others are unaffected."""
from __future__ import annotations

import asyncio
import time

from server.clients import open_stream
from support.http_clients import AsyncClient


async def test_non_reading_client_is_disconnected_with_bounded_memory(start_server):
    server = start_server(env={"HUB_SEND_TIMEOUT": "1", "HUB_REPLAY_SIZE": "50", "HUB_HEARTBEAT": "0.5"})
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        rss_before = int((await http.get("/rss")).text)
        stuck = await open_stream(server.port, "/events/flood", rcvbuf=4096)   # never reads
        healthy = await open_stream(server.port, "/events/flood")
        received = 0

        async def drain_healthy():
            nonlocal received
            while received < 2000:
                received += sum(e.event == "message" for e in await healthy.read_events(1, timeout=20))

        reader = asyncio.create_task(drain_healthy())
        for _ in range(40):                                  # 2000 x 20 KB = 40 MB published
            response = await http.post("/publish/flood", params={"n": 50, "size": 20_000})
            assert response.status_code == 200
            await asyncio.sleep(0.05)
        await asyncio.wait_for(reader, 30)
        assert received == 2000                              # the healthy client got everything

        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            stats = (await http.get("/stats")).json()
            if stats["streams"] == 1:
                break
            await asyncio.sleep(0.1)
        assert stats["streams"] == 1, stats                 # only the healthy one is left
        assert stats["slow_disconnects"] == 1
        rss_after = int((await http.get("/rss")).text)
        assert rss_after - rss_before < 20 * 2**20, (rss_before, rss_after)

        # the stuck client finds its connection ended once it reads again
        ended = False
        try:
            while True:
                chunk = await asyncio.wait_for(stuck.reader.read(2**20), 5)
                if not chunk:
                    ended = True
                    break
        except (ConnectionResetError, BrokenPipeError):
            ended = True
        assert ended
        healthy.close()
