"""Run a real uvicorn server in a subprocess on a free loopback port, for tests and benchmarks.

The server is a separate process so tests can kill it (SIGKILL), stop it (SIGTERM) and start it
again on the same port, exactly as a crash, a deploy or an outage looks to a client.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

TESTS_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = TESTS_DIR.parent
# Servers are forked from one process that has imported uvicorn and FastHTML (forkserver.py), not
# spawned as fresh Pythons; SSE_MONITOR_TEST_SPAWN=1 spawns each as `python -m uvicorn` instead.
SPAWN = os.environ.get("SSE_MONITOR_TEST_SPAWN", "") not in ("", "0")


def server_env(extra: dict[str, str]) -> dict[str, str]:
    """This process's environment plus `extra`, with the tests folder and `src` first on the path."""
    env = {**os.environ, **extra}
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS_DIR), str(REPO_DIR / "src"), env.get("PYTHONPATH", "")])
    return env


class ForkedProcess:
    """A server forked by the fork server, with the part of `subprocess.Popen` the tests use: `pid`,
    `poll`, `wait`, `send_signal`, `kill` and `returncode` (the fork server reports each exit)."""

    def __init__(self, server: ForkServer, pid: int):
        self.server = server
        self.pid = pid

    @property
    def returncode(self) -> int | None:
        return self.server.exits.get(self.pid)

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        with self.server.changed:
            if not self.server.changed.wait_for(lambda: self.pid in self.server.exits or self.server.gone,
                                                timeout):
                raise subprocess.TimeoutExpired(f"server {self.pid}", timeout or 0)
        if self.pid not in self.server.exits:
            raise RuntimeError("the fork server died: see its output above")
        return self.server.exits[self.pid]

    def send_signal(self, sig: int) -> None:
        if self.returncode is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:    # exited; the fork server's report is on its way
                pass

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)


class ForkServer:
    """The client of forkserver.py: started on first use, one per test process, ended with it."""

    _running: ForkServer | None = None
    _lock = threading.Lock()

    @classmethod
    def get(cls) -> ForkServer:
        with cls._lock:
            if cls._running is None or cls._running.gone:
                cls._running = cls()
            return cls._running

    def __init__(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "support.forkserver"], env=server_env({}),
                                     cwd=str(REPO_DIR),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.exits: dict[int, int] = {}
        self.answers: list[dict] = []
        self.gone = False
        self.changed = threading.Condition()
        self.requesting = threading.Lock()
        threading.Thread(target=self._read, name="forkserver-reader", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            message = json.loads(line)
            with self.changed:
                if "exited" in message:
                    self.exits[message["exited"]] = message["returncode"]
                else:
                    self.answers.append(message)
                self.changed.notify_all()
        with self.changed:
            self.gone = True
            self.changed.notify_all()

    def start(self, argv: list[str], env: dict[str, str], cwd: str, log: Path | None) -> ForkedProcess:
        assert self.proc.stdin is not None
        with self.requesting:
            self.proc.stdin.write(json.dumps({"argv": argv, "env": env, "cwd": cwd,
                                              "log": str(log) if log else None}).encode() + b"\n")
            self.proc.stdin.flush()
            with self.changed:
                if not self.changed.wait_for(lambda: self.answers or self.gone, 30) or not self.answers:
                    raise RuntimeError("the fork server did not answer: see its output above")
                answer = self.answers.pop(0)
        if "pid" not in answer:
            raise RuntimeError(f"the fork server could not fork: {answer.get('error')}")
        return ForkedProcess(self, answer["pid"])


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
        self.env = server_env(env or {})
        self.log_path = log_path
        self.proc: subprocess.Popen | ForkedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> ServerProcess:
        argv = [self.app, "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", *self.args]
        if SPAWN:
            out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL
            self.proc = subprocess.Popen([sys.executable, "-m", "uvicorn", *argv], env=self.env, cwd=str(REPO_DIR),
                                         stdout=out, stderr=out, start_new_session=True)
        else:
            self.proc = ForkServer.get().start(argv, self.env, str(REPO_DIR), self.log_path)
        try:
            wait_for_port(self.port, timeout)
        except TimeoutError:
            self.kill()
            raise
        return self

    def kill(self) -> None:
        """SIGKILL the whole process group: a crash, nothing gets to say goodbye."""
        if self.proc and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:    # it had exited: nothing left in its group
                pass
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
