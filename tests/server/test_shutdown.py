"""Graceful shutdown: every open stream gets `event: close`, the process exits within 1 s.

Covers every way the app is run: `uvicorn app:app` (SIGTERM and SIGINT), `--workers 2`,
`--reload` (signal sent to the reloader parent) and FastHTML `serve()` (reload on).
"""
from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from server.clients import open_stream
from support.http_clients import AsyncClient
from support.servers import REPO_DIR, TESTS_DIR, free_port, wait_for_port

CLOSE_AFTER_MS = (2000, 3000)     # 2 s, then each stream its own delay over the 1 s default window


def group_alive(pgid: int) -> list[int]:
    """Pids still alive in process group `pgid` (the server and any children it spawned)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            alive.append(int(entry.name))
    return alive


async def open_streams(port: int, n: int, channel: str = "bye") -> list:
    streams = []
    for start in range(0, n, 100):
        streams += await asyncio.gather(*(open_stream(port, f"/events/{channel}")
                                          for _ in range(start, min(n, start + 100))))
    assert all(s.status == 200 for s in streams)
    return streams


async def signal_and_collect(proc: subprocess.Popen, streams: list, sig: int) -> tuple[float, list]:
    """Send `sig` to the server; return (seconds until the whole process group exited, last events)."""
    pgid = proc.pid
    loop = asyncio.get_running_loop()
    started = time.monotonic()
    proc.send_signal(sig)
    results = await asyncio.gather(*(s.read_all(timeout=5) for s in streams), return_exceptions=True)
    await loop.run_in_executor(None, proc.wait, 10)
    while group_alive(pgid) and time.monotonic() - started < 10:
        await asyncio.sleep(0.01)
    elapsed = time.monotonic() - started
    assert not group_alive(pgid), "server processes left behind"
    lasts = []
    for stream, result in zip(streams, results, strict=True):
        assert not isinstance(result, Exception), result
        assert stream.ended, "stream did not end"
        lasts.append(stream.events[-1] if stream.events else None)
    return elapsed, lasts


def assert_all_closed(lasts: list) -> None:
    assert all(e is not None and e.event == "close" for e in lasts), \
        f"{sum(e is None or e.event != 'close' for e in lasts)} streams without close"
    plans = [json.loads(e.data) for e in lasts]
    assert all(p["reason"] == "server-shutdown" for p in plans)
    delays = [p["reconnect_after_ms"] for p in plans]
    assert all(CLOSE_AFTER_MS[0] <= d < CLOSE_AFTER_MS[1] for d in delays), (min(delays), max(delays))
    assert len(set(delays)) > len(delays) // 2, "every client told to come back at the same moment"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.timing
async def test_signal_closes_hundreds_of_streams_and_exits_fast(start_server, sig):
    server = start_server()
    streams = await open_streams(server.port, 400)
    async with AsyncClient(base_url=server.url) as http:
        await http.post("/publish/bye", params={"n": 1})
    elapsed, lasts = await signal_and_collect(server.proc, streams, sig)
    assert_all_closed(lasts)
    assert all(s.events[0].data == "bye-0" for s in streams)      # data before the close
    assert elapsed < 1.0, elapsed
    print(f"\n{signal.Signals(sig).name} uvicorn app:app, 400 streams: exit in {elapsed:.3f}s")


@pytest.mark.timing
async def test_workers_mode(start_server):
    server = start_server(args=["--workers", "2"])
    await asyncio.sleep(1.0)       # both workers up
    streams = await open_streams(server.port, 200)
    elapsed, lasts = await signal_and_collect(server.proc, streams, signal.SIGTERM)
    assert_all_closed(lasts)
    assert elapsed < 1.5, elapsed
    print(f"\n--workers 2, 200 streams: exit in {elapsed:.3f}s")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
@pytest.mark.timing
async def test_reload_mode_signal_to_the_reloader_parent(start_server, sig):
    server = start_server(args=["--reload", "--reload-dir", str(TESTS_DIR / "server")])
    streams = await open_streams(server.port, 200)
    elapsed, lasts = await signal_and_collect(server.proc, streams, sig)
    assert_all_closed(lasts)
    assert elapsed < 1.5, elapsed
    print(f"\n{signal.Signals(sig).name} uvicorn --reload, 200 streams: exit in {elapsed:.3f}s")


@pytest.mark.timing
async def test_fasthtml_serve_with_reload(tmp_path):
    port = free_port()
    env = {**os.environ, "PORT": str(port),
           "PYTHONPATH": os.pathsep.join([str(TESTS_DIR), str(REPO_DIR / "src")])}
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, str(TESTS_DIR / "server" / "serve_app.py")], env=env,
                            cwd=str(REPO_DIR), stdout=log, stderr=log, start_new_session=True)
    try:
        wait_for_port(port, 20)
        streams = await open_streams(port, 200)
        elapsed, lasts = await signal_and_collect(proc, streams, signal.SIGTERM)
        assert_all_closed(lasts)
        assert elapsed < 1.5, elapsed
        print(f"\nFastHTML serve() (reload), 200 streams: exit in {elapsed:.3f}s")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


@pytest.mark.timing
async def test_lifespan_shutdown_without_streams_and_streams_after_close(start_server):
    server = start_server()
    async with AsyncClient(base_url=server.url) as http:
        assert (await http.get("/stats")).json()["streams"] == 0
    elapsed = server.terminate()
    assert elapsed < 1.0


@pytest.mark.timing
async def test_a_client_that_stopped_reading_does_not_hold_up_the_exit(start_server):
    server = start_server(env={"HUB_SEND_TIMEOUT": "30"})      # not cut off as slow before the signal
    stuck = await open_stream(server.port, "/events/jam", rcvbuf=4096)
    readers = await open_streams(server.port, 50, channel="jam")
    async with AsyncClient(base_url=server.url, timeout=10) as http:
        for _ in range(10):
            await http.post("/publish/jam", params={"n": 20, "size": 50_000})   # 10 MB
            await asyncio.gather(*(r.read_events(20, timeout=10) for r in readers))
    elapsed, lasts = await signal_and_collect(server.proc, readers, signal.SIGTERM)
    assert_all_closed(lasts)
    assert elapsed < 1.5, elapsed
    stuck.close()
    print(f"\nSIGTERM with one jammed client: exit in {elapsed:.3f}s")
