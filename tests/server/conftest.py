"""Fixtures for the server tests: the test app under real uvicorn on a free loopback port."""
from __future__ import annotations

import resource

import pytest

from support.servers import ServerProcess


def _raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 20000) if hard != resource.RLIM_INFINITY else 20000
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


_raise_fd_limit()   # hundreds of client sockets per test; the server subprocess inherits it


@pytest.fixture
def start_server(tmp_path):
    """start_server(env={...}, args=[...]) -> running ServerProcess of server.sse_app:app."""
    started: list[ServerProcess] = []

    def start(env: dict[str, str] | None = None, args: list[str] | None = None,
              app: str = "server.sse_app:app") -> ServerProcess:
        server = ServerProcess(app, env=env, args=args, log_path=tmp_path / f"server{len(started)}.log")
        started.append(server)
        return server.start()

    yield start
    for server in started:
        server.kill()
