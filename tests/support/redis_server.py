"""Run a real `redis-server` on a free loopback port for tests and benchmarks: no persistence by
default (a kill -9 loses everything), or `appendonly=True` (AOF, fsync at every write: nothing
acknowledged is lost)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time

from .servers import free_port, wait_for_port


class RedisServer:
    """A throwaway redis-server: start, kill -9 and start again on the same port (data is lost,
    unless `appendonly`: then it reloads its append-only file from the same directory)."""

    def __init__(self, port: int | None = None, password: str | None = None, tls: bool = False,
                 appendonly: bool = False):
        binary = shutil.which("redis-server") or "/usr/bin/redis-server"
        if not os.path.exists(binary):
            raise RuntimeError("redis-server is not installed (apt-get install redis-server); "
                               "the Redis suite needs a real server")
        self.binary = binary
        self.port = port or free_port()
        self.password = password
        self.tls = tls
        self.appendonly = appendonly
        self.dir = tempfile.mkdtemp(prefix="sse-monitor-redis-")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        if self.tls:   # clients verify the server's certificate against our throwaway CA
            return f"rediss://{auth}127.0.0.1:{self.port}/0?ssl_ca_certs={self.dir}/cert.pem"
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def _make_certificate(self) -> list[str]:
        """A self-signed certificate for 127.0.0.1 (openssl CLI), and the options that use it."""
        cert, key = f"{self.dir}/cert.pem", f"{self.dir}/key.pem"
        if not os.path.exists(cert):
            subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                            "-keyout", key, "-out", cert], check=True, capture_output=True)
        return ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", cert,
                "--tls-key-file", key, "--tls-ca-cert-file", cert, "--tls-auth-clients", "no"]

    def start(self, timeout: float = 10.0) -> RedisServer:
        cmd = [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "yes" if self.appendonly else "no", "--appendfsync", "always",
               "--dir", self.dir, "--protected-mode", "no"]
        if self.password:
            cmd += ["--requirepass", self.password]
        if self.tls:
            cmd += self._make_certificate()
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(self.port, timeout)
        time.sleep(0.05)
        return self

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def stop(self) -> None:
        self.kill()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
