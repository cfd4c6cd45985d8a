"""Fixtures for the deploy suite: a real redis-server, uvicorn workers on it, and Debian's nginx in
front of them with the config from examples/deploy (our own process, prefix and free ports)."""
from __future__ import annotations

import pytest

from redis_backend.conftest import redis_server  # noqa: F401  (the same throwaway redis-server fixture)
from support.nginx import Nginx
from support.servers import ServerProcess


@pytest.fixture
def start_workers(tmp_path, redis_server):  # noqa: F811  (the fixture imported above)
    """start_workers(n, app=..., args=..., **env) -> n uvicorn processes on the same Redis."""
    started: list[ServerProcess] = []

    def start(n: int = 2, app: str = "server.sse_app:app", args: list[str] | None = None,
              **env: str) -> list[ServerProcess]:
        env = {"HUB_REDIS_URL": redis_server.url, "SSE_MONITOR_REDIS_URL": redis_server.url, **env}
        workers = []
        for _ in range(n):
            worker = ServerProcess(app, env=env, args=args, log_path=tmp_path / f"worker{len(started)}.log")
            started.append(worker)
            workers.append(worker.start())
        return workers

    yield start
    for worker in started:
        worker.kill()


@pytest.fixture
def start_nginx():
    """start_nginx(workers, read_timeout=None) -> nginx proxying to those workers."""
    started: list[Nginx] = []

    def start(workers: list[ServerProcess], read_timeout: str | None = None) -> Nginx:
        proxy = Nginx([w.port for w in workers], read_timeout=read_timeout)
        started.append(proxy)
        return proxy.start()

    yield start
    for proxy in started:
        proxy.stop()
