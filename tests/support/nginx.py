"""Debian's nginx as a reverse proxy for tests and benchmarks: the tested config from
examples/deploy, with only its ports, certificate paths (and optionally proxy_read_timeout)
changed, run as our own process on free ports with its own prefix, never the system service."""
from __future__ import annotations

import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from .servers import REPO_DIR, free_port, wait_for_port

EXAMPLE = REPO_DIR / "examples" / "deploy" / "sse-monitor.nginx.conf"
EXAMPLE_UPSTREAMS = ("127.0.0.1:8001", "127.0.0.1:8002")

MAIN_CONF = """daemon off;
worker_processes 1;
worker_rlimit_nofile {nofile};
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections {connections}; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/tmp/body;
    proxy_temp_path {prefix}/tmp/proxy;
    fastcgi_temp_path {prefix}/tmp/fastcgi;
    uwsgi_temp_path {prefix}/tmp/uwsgi;
    scgi_temp_path {prefix}/tmp/scgi;
    include {prefix}/sse-monitor.conf;
}}
"""


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """A throwaway self-signed certificate for 127.0.0.1 (openssl CLI)."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


def render(upstream_ports: list[int], http_port: int, https_port: int, cert: Path, key: Path,
           read_timeout: str | None = None) -> str:
    """The example config for these ports and paths (and upstreams, one line per worker)."""
    text = EXAMPLE.read_text()
    lines = "\n".join(f"    server 127.0.0.1:{port};" for port in upstream_ports)
    text, n = re.subn(r"(    server 127\.0\.0\.1:800\d;\n)+", lines + "\n", text)
    assert n == 1, "examples/deploy config: upstream servers not found"
    for old, new in (("listen 8080;", f"listen 127.0.0.1:{http_port};"),
                     ("listen 8443 ssl", f"listen 127.0.0.1:{https_port} ssl"),
                     ("/etc/nginx/sse-monitor/cert.pem", str(cert)),
                     ("/etc/nginx/sse-monitor/key.pem", str(key))):
        assert old in text, f"examples/deploy config: {old!r} not found"
        text = text.replace(old, new)
    if read_timeout is not None:
        text, n = re.subn(r"proxy_read_timeout \S+;", f"proxy_read_timeout {read_timeout};", text)
        assert n == 1
    return text


class Nginx:
    """`nginx -p <tmp> -c <tmp>/nginx.conf` in front of `upstream_ports`, on free loopback ports."""

    def __init__(self, upstream_ports: list[int], read_timeout: str | None = None) -> None:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(binary):
            raise RuntimeError("nginx is not installed (apt-get install nginx); the deploy suite needs it")
        self.binary = binary
        self.prefix = Path(tempfile.mkdtemp(prefix="sse-monitor-nginx-"))
        self.prefix.chmod(0o755)        # nginx's worker runs as nobody when we are root
        self.port, self.https_port = free_port(), free_port()
        self.cert, self.key = make_certificate(self.prefix)
        (self.prefix / "sse-monitor.conf").write_text(
            render(upstream_ports, self.port, self.https_port, self.cert, self.key, read_timeout))
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.prefix / "tmp" / sub).mkdir(parents=True)
        nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        nofile = 40000 if nofile == resource.RLIM_INFINITY else min(nofile, 40000)
        (self.prefix / "nginx.conf").write_text(
            MAIN_CONF.format(prefix=self.prefix, nofile=nofile, connections=nofile - 100))
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def start(self) -> Nginx:
        log = open(self.prefix / "stderr.log", "ab")
        self.proc = subprocess.Popen([self.binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")],
                                     stdout=log, stderr=log, start_new_session=True)
        try:
            wait_for_port(self.port, 10)
            wait_for_port(self.https_port, 10)
        except TimeoutError:
            self.stop()
            raise RuntimeError("nginx did not start: " + self.errors()) from None
        return self

    def errors(self) -> str:
        return "".join((self.prefix / name).read_text() for name in ("stderr.log", "error.log")
                       if (self.prefix / name).exists())[-2000:]

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)     # master and its worker: our group only
            self.proc.wait(10)
        self.proc = None
        shutil.rmtree(self.prefix, ignore_errors=True)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
