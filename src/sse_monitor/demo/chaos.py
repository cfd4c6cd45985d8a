"""Faults the demo can inject into its stream route, so a person can watch every monitor state.

`Chaos.wrap(response)` wraps a hub stream: a `drop` ends it abruptly, a `close` sends the server's
`event: close` and ends it. `stall` ends the open streams and makes new ones send headers and then
nothing at all (not even heartbeats) until the stall is over, like a stuck proxy: every card leaves
Live within the monitor's `stall_timeout` and stays off Live until data flows again. `unavailable`
answers 503 like a proxy whose backend is down.
"""
from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

from starlette.responses import PlainTextResponse, Response, StreamingResponse
from starlette.types import Message, Receive, Scope, Send

from ..server.sse import encode_event


class Chaos:
    def __init__(self) -> None:
        self.stall_until = 0.0
        self.unavailable_until = 0.0
        self._ending: asyncio.Future[bytes] | None = None

    def _end_streams(self, last_words: bytes) -> None:
        if self._ending is not None and not self._ending.done():
            self._ending.set_result(last_words)
        self._ending = None

    def drop(self) -> None:
        """End every open stream without a word, like a crashed server or a cut connection."""
        self._end_streams(b"")

    def close(self, data: str) -> None:
        """Send `event: close` with `data` on every open stream, then end them."""
        self._end_streams(encode_event(data, event="close"))

    def stall(self, seconds: float) -> None:
        self.stall_until = time.monotonic() + seconds
        self.drop()

    def unavailable(self, seconds: float) -> None:
        self.unavailable_until = time.monotonic() + seconds
        self.drop()

    def wrap(self, response: Response) -> Response:
        now = time.monotonic()
        if now < self.unavailable_until:
            return PlainTextResponse("Service Unavailable (demo)", status_code=503, headers={"Retry-After": "5"})
        if now < self.stall_until:
            return StreamingResponse(_silence(self.stall_until), media_type="text/event-stream")
        if self._ending is None:
            self._ending = asyncio.get_running_loop().create_future()
        return _Interruptible(response, self._ending)


async def _silence(until: float) -> AsyncIterator[bytes]:
    """Headers, then nothing until the stall is over; then the stream ends (the proxy recovered)."""
    while time.monotonic() < until:
        await asyncio.sleep(0.25)
    yield b""


class _Interruptible(Response):
    """Runs the wrapped stream until `ending` resolves, then sends its last words and ends."""

    def __init__(self, inner: Response, ending: asyncio.Future[bytes]) -> None:
        self.inner, self.ending = inner, ending
        self.status_code, self.background = 200, None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = asyncio.get_running_loop().create_future()

        async def tracking_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not started.done():
                started.set_result(None)
            await send(message)

        stream = asyncio.ensure_future(self.inner(scope, receive, tracking_send))
        waits: set[asyncio.Future[Any]] = {stream, self.ending}
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        if stream.done():
            return stream.result()
        stream.cancel()
        await asyncio.gather(stream, return_exceptions=True)
        if started.done():
            await send({"type": "http.response.body", "body": self.ending.result(), "more_body": False})
