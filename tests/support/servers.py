"""Run a real uvicorn server in a subprocess on a free loopback port, for tests and benchmarks.

The server is a separate process so tests can kill it (SIGKILL), stop it (SIGTERM) and start it
again on the same port, exactly as a crash, a deploy or an outage looks to a client.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = TESTS_DIR.parent


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    """Block until something accepts TCP connections on host:port, or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


class ServerProcess:
    """`uvicorn <app>` in a subprocess: start, kill -9, SIGTERM and restart on the same port.

    `app` is an import string such as "browser.scripted_app:app" (the tests folder is on the path).
    """

    def __init__(self, app: str, port: int | None = None, args: list[str] | None = None,
                 env: dict[str, str] | None = None, log_path: Path | None = None):
        self.app = app
        self.port = port or free_port()
        self.args = list(args or [])
        self.env = {**os.environ, **(env or {})}
        self.env["PYTHONPATH"] = os.pathsep.join(
            [str(TESTS_DIR), str(REPO_DIR / "src"), self.env.get("PYTHONPATH", "")])
        self.log_path = log_path
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> ServerProcess:
        cmd = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1",
               "--port", str(self.port), "--log-level", "warning", *self.args]
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(cmd, env=self.env, cwd=str(REPO_DIR), stdout=out, stderr=out,
                                     start_new_session=True)
        try:
            wait_for_port(self.port, timeout)
        except TimeoutError:
            self.kill()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, nothing gets to say goodbye."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the process is frozen (a GC pause, a stalled VM, a laptop lid) but keeps its
        sockets; nothing it would do runs until `resume`."""
        assert self.proc is not None, "server not running"
        os.kill(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        """SIGCONT after `pause`."""
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)

    def terminate(self, timeout: float = 30.0) -> float:
        """SIGTERM (what a deploy sends); return seconds until the process exited."""
        assert self.proc is not None, "server not running"
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        finally:
            elapsed = time.monotonic() - started
            self.kill()
        return elapsed

    def restart(self, timeout: float = 15.0) -> ServerProcess:
        self.kill()
        return self.start(timeout)

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.kill()
