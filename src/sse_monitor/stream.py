"""The ASGI response that streams one subscription of a Hub channel.

Written as a raw ASGI callable (not StreamingResponse) to control every `send`: the hot path
is "take the new bytes from the shared buffer, one send". While a stream is parked, the Hub's
wake-up runs that send inline (`push`): an ASGI server's send completes at once unless the
connection is paused by flow control, and only then does the stream's own task take over the
rest of it. So a publish costs one task switch per channel, not one per subscriber.
Disconnects are noticed by a tiny watcher on `receive()` that wakes the stream at once;
heartbeats and slow-client cut-offs come from the Hub's single ticker.
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from .backends import BackendUnavailable

if TYPE_CHECKING:
    from .hub import Hub, Subscriber

__all__ = ["EventStream", "error_response", "SSE_HEADERS"]

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]


def error_response(status: int, reason: str, headers: dict[str, str] | None = None) -> Response:
    """A short plain-text error (the reason never contains event data)."""
    return PlainTextResponse(reason, status_code=status, headers=headers)


def _last_event_id(request: Request) -> str | None:
    """`Last-Event-ID` header (wins) or `lastEventId` query parameter; undecodable -> malformed."""
    for name, value in request.scope.get("headers", ()):
        if name == b"last-event-id":
            value = value.strip(b" \t")     # optional whitespace (RFC 9110); h11 strips it, httptools not
            if value:
                try:
                    return value.decode("ascii")
                except UnicodeDecodeError:
                    return "\x00malformed"     # not printable: answered with a reset
    value = request.query_params.get("lastEventId")
    return value or None


def _find_transport(receive: Any) -> Any:
    """Best effort: uvicorn's transport behind `receive`, to abort a client that stopped reading.

    ASGI has no "abort"; closing a connection whose socket buffer is full waits forever for the
    peer to read. Starlette passes uvicorn's bound `receive` through unchanged in most stacks.
    """
    owner = getattr(receive, "__self__", None)
    transport = getattr(owner, "transport", None)
    return transport if hasattr(transport, "abort") else None


async def _finish(sending: Any, waits_for: Any) -> None:
    """Run a send coroutine that `push` started and that had to wait (flow control) to its end."""
    try:
        while True:
            if waits_for is None:
                await asyncio.sleep(0)     # a bare yield
            else:
                # It was yielded to no task: clear the flag a task would have cleared on receipt.
                waits_for._asyncio_future_blocking = False
                await waits_for
            waits_for = sending.send(None)
    except StopIteration:
        pass
    finally:
        sending.close()


async def _watch_disconnect(receive: Any, sub: "Subscriber") -> None:
    try:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                break
    except Exception:
        pass
    sub.closed = True
    sub.wake()


class EventStream(Response):
    """`text/event-stream` response for one client of `hub`'s `channel`."""

    media_type = "text/event-stream"

    def __init__(self, hub: "Hub", request: Request, channel: str, *,
                 last_event_id: str | None = None) -> None:
        super().__init__(status_code=200)
        self.hub = hub
        self.request = request
        self.channel = channel
        self.last_event_id = last_event_id

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        hub = self.hub
        if hub.authorize is not None:
            allowed = hub.authorize(self.request, self.channel)
            if inspect.isawaitable(allowed):
                allowed = await allowed
            if not allowed:
                await error_response(403, "not allowed to subscribe to this channel")(scope, receive, send)
                return
        last_id = self.last_event_id if self.last_event_id is not None else _last_event_id(self.request)
        self.request = None       # not needed any more: keep the open stream small
        if scope.get("method") == "HEAD":
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        if hub.closing:
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            await send({"type": "http.response.body", "body": hub.retry_bytes + hub.close_bytes,
                        "more_body": False})
            return
        refused = hub._open_limits(self.channel)
        if refused is not None:
            hub._counters["rejected"] += 1
            await error_response(503, refused, {"Retry-After": str(hub.retry_after)})(scope, receive, send)
            return
        sub = hub._attach(self.channel)
        watcher: asyncio.Task | None = None
        try:
            sub.task = asyncio.current_task()
            sub.transport = _find_transport(receive)
            try:
                # A heartbeat first: the client knows at once that this stream is alive (after a
                # stall, the monitor shows Live only when something arrives).
                prelude = hub.retry_bytes + hub.heartbeat_bytes + await hub._resume(sub, last_id)
            except BackendUnavailable:
                # Cannot tell what the client missed: let it come back later, losing nothing.
                await error_response(503, "event store unavailable, retry later",
                                     {"Retry-After": str(hub.retry_after)})(scope, receive, send)
                return
            await send({"type": "http.response.start", "status": 200, "headers": SSE_HEADERS})
            watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, sub))
            await self._pump(sub, send, prelude)
        finally:
            hub._detach(sub)
            if watcher is not None and not watcher.done():
                watcher.cancel()

    async def _pump(self, sub: "Subscriber", send: Any, body: bytes) -> None:
        hub = self.hub
        ch = sub.channel
        loop = asyncio.get_running_loop()
        max_bytes = hub.max_send_bytes
        max_lag = hub.max_lag_events
        context = contextvars.copy_context()

        def push() -> bool:
            """Send what is new from the caller's stack; False: the task must handle it."""
            if sub.closed or hub.closing or sub.skip_key is not None:
                return False
            hb = hub._hb_gen
            while True:
                cursor, data = sub.cursor, b""
                if cursor < ch.end:
                    if max_lag is not None and ch.end - cursor > max_lag:
                        return False
                    got = ch.read(cursor, max_bytes)
                    if got is None:
                        return False
                    data, cursor = got
                if sub.hb != hb:
                    data += hub.heartbeat_bytes
                if not data:
                    return True
                sending = send({"type": "http.response.body", "body": data, "more_body": True})
                try:
                    waits_for = context.run(sending.send, None)
                except StopIteration:
                    sub.cursor, sub.hb = cursor, hb
                    continue
                except BaseException:
                    sub.closed = True        # the client is gone; the task ends the stream
                    return False
                sub.cursor, sub.hb = cursor, hb
                sub.blocked = (sending, waits_for)   # paused by flow control: the task finishes it
                sub.sending_since = loop.time()
                return False

        sub.push = push
        try:
            while True:
                if sub.blocked is not None:
                    sending, waits_for = sub.blocked
                    sub.blocked = None
                    await _finish(sending, waits_for)
                    sub.sending_since = 0.0
                if sub.closed:
                    return
                if sub.cursor < ch.end:
                    if sub.skip_key is not None:
                        self._skip_replayed(sub)
                    got = ch.read(sub.cursor, max_bytes) if sub.cursor < ch.end else (b"", sub.cursor)
                    if got is None or (max_lag is not None and ch.end - sub.cursor > max_lag):
                        # fell behind the replay buffer: end it; it resumes (or resets) on reconnect
                        hub._counters["slow_disconnects"] += 1
                        await send({"type": "http.response.body", "body": body, "more_body": False})
                        return
                    body = body + got[0] if body else got[0]
                    sub.cursor = got[1]
                if hub.closing:
                    await send({"type": "http.response.body", "body": body + hub.close_bytes,
                                "more_body": False})
                    return
                if sub.hb != hub._hb_gen:
                    sub.hb = hub._hb_gen
                    body = body + hub.heartbeat_bytes if body else hub.heartbeat_bytes
                if body:
                    sub.sending_since = loop.time()
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    sub.sending_since = 0.0
                    body = b""
                    continue
                waiter = loop.create_future()
                sub.waiter = waiter
                await waiter
        except OSError:
            return      # servers other than uvicorn may raise when the client is gone
        except asyncio.CancelledError:
            if not sub.cut_off:
                raise
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await self._abort(sub)
        finally:
            sub.push = None
            if sub.blocked is not None:
                sub.blocked[0].close()
                sub.blocked = None

    def _skip_replayed(self, sub: "Subscriber") -> None:
        """Drop local events already sent from the backend's history (resume overlap)."""
        ch = sub.channel
        key = self.hub.backend.sort_key
        while sub.cursor < ch.end:
            i = sub.cursor - ch.offset
            if i < ch.head:
                return
            event_id = ch.ids[i]
            if event_id is not None and key(event_id) > sub.skip_key:
                sub.skip_key = None
                return
            sub.cursor += 1

    async def _abort(self, sub: "Subscriber") -> None:
        """Drop a connection we gave up on: abort the transport and wait briefly for the close."""
        transport = sub.transport
        if transport is not None:
            transport.abort()
            for _ in range(100):
                if sub.closed:
                    break
                await asyncio.sleep(0.01)
