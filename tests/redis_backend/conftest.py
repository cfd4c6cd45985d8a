"""Fixtures for the Redis suite: a real redis-server on a free port, and test-app workers on it."""
from __future__ import annotations

import pytest

from support.redis_server import RedisServer
from support.servers import ServerProcess


@pytest.fixture
def redis_server():
    """A throwaway redis-server (no persistence) on a free loopback port."""
    with RedisServer() as server:
        yield server


@pytest.fixture
def start_worker(tmp_path, redis_server):
    """start_worker(**env) -> a uvicorn process of the server test app on the Redis hub.

    Each worker listens on its own port: two of them are two workers (or two hosts) behind a
    load balancer, and the tests can choose which one a client talks to.
    """
    started: list[ServerProcess] = []

    def start(**env: str) -> ServerProcess:
        env = {"HUB_REDIS_URL": redis_server.url, "HUB_HEARTBEAT": "0.3", **env}
        worker = ServerProcess("server.sse_app:app", env=env,
                               log_path=tmp_path / f"worker{len(started)}.log")
        started.append(worker)
        return worker.start()

    yield start
    for worker in started:
        worker.kill()
