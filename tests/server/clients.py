"""Real SSE clients for the server tests: raw asyncio sockets + our incremental parser.

Raw sockets (rather than httpx) let tests open hundreds of streams cheaply, send exact bytes
(non-UTF-8 headers, huge headers) and stop reading on purpose (a slow consumer).
"""
from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

from sse_monitor.server.sse import ServerSentEvent, SSEParser


@dataclass
class Opened:
    status: int
    headers: dict[str, str]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    parser: SSEParser = field(default_factory=SSEParser)
    events: list[ServerSentEvent] = field(default_factory=list)
    ended: bool = False
    greeted: bool = False      # the first event was the hub's opening heartbeat (skipped: tests count
    _first: bool = True        # what follows)
    body_bytes: int = 0        # de-chunked body bytes received so far
    _chunk_left: int = 0
    _raw: bytes = b""

    async def read_events(self, count: int = 1, timeout: float = 5.0,
                          until: str | None = None) -> list[ServerSentEvent]:
        """Read until `count` more events (or an event named `until`) arrived, or the stream ended."""
        deadline = time.monotonic() + timeout
        start = len(self.events)
        while not self.ended:
            got = self.events[start:]
            if until is not None and any(e.event == until for e in got):
                break
            if until is None and len(got) >= count:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"got {len(got)} events: {got[-3:]}")
            try:
                data = await asyncio.wait_for(self.reader.read(65536), left)
            except asyncio.TimeoutError:
                raise TimeoutError(f"got {len(got)} events: {got[-3:]}") from None
            if not data:
                self.ended = True
                break
            self._feed(data)
        return self.events[start:]

    async def read_all(self, timeout: float = 5.0) -> list[ServerSentEvent]:
        """Everything until the server ends the stream."""
        return await self.read_events(count=10**9, timeout=timeout)

    def _feed(self, data: bytes) -> None:
        """De-chunk (Transfer-Encoding: chunked) and parse what is complete."""
        self._raw += data
        body = bytearray()
        while True:
            if self._chunk_left > 0:           # inside a chunk's data (+ its trailing CRLF)
                if len(self._raw) < 1:
                    break
                take = self._raw[: self._chunk_left]
                self._raw = self._raw[len(take):]
                self._chunk_left -= len(take)
                body += take
                if self._chunk_left == 0:
                    del body[-2:]              # the chunk's CRLF
                continue
            line_end = self._raw.find(b"\r\n")
            if line_end < 0:
                break
            size = int(self._raw[:line_end].split(b";")[0], 16)
            self._raw = self._raw[line_end + 2:]
            if size == 0:
                self.ended = True
                self._raw = b""
                break
            self._chunk_left = size + 2
        self.body_bytes += len(body)
        parsed = self.parser.feed(bytes(body))
        if parsed and self._first:
            self._first = False
            if parsed[0].event == "heartbeat":
                self.greeted = True
                parsed = parsed[1:]
        self.events.extend(parsed)

    def close(self) -> None:
        self.writer.close()


async def open_stream(port: int, path: str, headers: dict[str, str] | None = None,
                      raw_headers: bytes = b"", timeout: float = 5.0,
                      rcvbuf: int | None = None) -> Opened:
    """GET `path` over a raw socket; returns status, headers and a reader for events."""
    if rcvbuf is not None:
        import socket
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
        reader, writer = await asyncio.open_connection(sock=sock, limit=2**20)
    else:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, limit=2**20), timeout)
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: text/event-stream"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    request = ("\r\n".join(lines) + "\r\n").encode() + raw_headers + b"\r\n"
    writer.write(request)
    await writer.drain()
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    status = int(status_line.split()[1])
    hdrs = {}
    for line in header_lines:
        if ":" in line:
            k, v = line.split(":", 1)
            hdrs[k.strip().lower()] = v.strip()
    opened = Opened(status, hdrs, reader, writer)
    if status != 200:
        length = int(hdrs.get("content-length", "0"))
        body = await asyncio.wait_for(reader.readexactly(length), timeout) if length else b""
        opened.headers["_body"] = body.decode("utf-8", "replace")
        opened.ended = True
    return opened


def run_tokens(events: list[ServerSentEvent]) -> list[str]:
    """The items of a run (`Runs(..., event="token")`) in the order they came."""
    return [e.data for e in events if e.event == "token"]


def run_outcome(events: list[ServerSentEvent]) -> dict | None:
    """The run's `end` ({"outcome", "detail"}), None if none came; more than one is a bug."""
    import json
    ends = [json.loads(e.data) for e in events if e.event == "end"]
    assert len(ends) <= 1, f"one end at most, got {ends}"
    return ends[0] if ends else None
