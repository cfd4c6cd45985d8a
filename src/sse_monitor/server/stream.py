"""The ASGI response that streams one subscription of a Hub channel.

Written as a raw ASGI callable (not StreamingResponse) to control every `send`: the hot path
is "take the new bytes from the shared buffer, one send". While a stream is parked, the Hub's
wake-up runs that send inline (`push`): an ASGI server's send completes at once unless the
connection is paused by flow control, and only then does the stream's own task take over the
rest of it. So a publish costs one task switch per channel, not one per subscriber
(SSE_MONITOR_PLAIN_SEND=1 turns that off for a plain `await send()`: see PLAIN_SEND).
Disconnects are noticed by a tiny watcher on `receive()` that wakes the stream at once;
heartbeats and slow-client cut-offs come from the Hub's single ticker.
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import socket
import struct
from collections.abc import Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from ..scaleout import BackendUnavailable, ChannelUnusable
from ..validate import check_str
from ..wire import LAST_EVENT_ID_PARAM, SHARE_PARAM, share_check_body, share_digest, share_frame
from .fanout import StreamHub, Subscriber

__all__ = ["HubStream", "EventStream", "error_response", "SSE_HEADERS"]

log = logging.getLogger("sse_monitor.stream")

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DEFAULT_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}


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
                    return str(value.decode("ascii"))
                except UnicodeDecodeError:
                    return "\x00malformed"     # not printable: answered with a reset
    value = request.query_params.get(LAST_EVENT_ID_PARAM)
    return value or None


def _find_transport(*callables: Any) -> Any:
    """Best effort: the server's transport behind `receive`/`send`, to abort a client that
    stopped reading (ASGI has no "abort"; closing a connection whose socket buffer is full
    waits forever for the peer to read).

    uvicorn's `receive` is a bound method of an object holding the transport. Middleware wraps
    it: Starlette's BaseHTTPMiddleware in a closure over a request object's `_receive`, plain
    ASGI middleware in a closure over the `receive` it was given. So follow closures, bound
    methods, `__wrapped__` and attributes named like receive/send, a few levels deep.
    """
    seen: set[int] = set()
    todo = [(c, 0) for c in callables]
    while todo:
        obj, depth = todo.pop(0)
        if obj is None or id(obj) in seen or depth > 8:
            continue
        seen.add(id(obj))
        transport = getattr(obj, "transport", None)
        if transport is not None and hasattr(transport, "abort") and hasattr(transport, "is_closing"):
            return transport
        nxt: list[Any] = []
        nxt.append(getattr(obj, "__self__", None))
        nxt.append(getattr(obj, "__wrapped__", None))
        nxt.append(getattr(obj, "func", None))           # functools.partial
        for cell in getattr(obj, "__closure__", None) or ():
            try:
                nxt.append(cell.cell_contents)
            except ValueError:                            # empty cell
                pass
        attrs = getattr(obj, "__dict__", None)
        if isinstance(attrs, dict) and not inspect.isfunction(obj):
            nxt.extend(v for k, v in attrs.items() if "receive" in k or "send" in k)
        todo.extend((o, depth + 1) for o in nxt
                    if o is not None and not isinstance(o, (str, bytes, int, float, dict)))
    return None


def _reset_on_close(transport: Any) -> None:
    """Make closing send a TCP reset: a plain close leaves the kernel holding the socket (and
    the megabytes queued for a peer that does not read) until its retries run out."""
    sock = transport.get_extra_info("socket")
    if sock is None:
        return
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except (OSError, AttributeError, ValueError):
        pass


# ---------------------------------------------------------------- the inline hot path
# By default a publish reaches every parked stream without a task switch per stream: the
# channel's wake-up calls each stream's `push` (`_inline_push`), which drives the server's
# `send` coroutine by hand (`coroutine.send(None)`). An ASGI server's send completes at once
# unless flow control pauses the connection; then the half-run coroutine is handed to the
# stream's task (`sub.blocked`), and `_finish` runs it to its end, clearing asyncio's private
# `_asyncio_future_blocking` flag that a Task would have cleared. This is the only code that
# relies on how asyncio runs coroutines.
#
# SSE_MONITOR_PLAIN_SEND=1 in the environment (read once, when this module is imported)
# switches it off: every publish wakes each stream's task, which sends with a plain
# `await send(...)`. Same bytes in the same order, one task switch per stream and event more.
# The test suite runs the unit and server tiers both ways (`make test`).
PLAIN_SEND = os.environ.get("SSE_MONITOR_PLAIN_SEND", "") not in ("", "0")


def _inline_push(hub: StreamHub, sub: Subscriber, send: Send) -> Callable[[], bool]:
    """The `push` a parked stream leaves with its channel: the channel's wake-up calls it to
    send what is new at once, from its own stack, instead of waking the stream's task."""
    ch = sub.channel
    loop = asyncio.get_running_loop()
    max_bytes = hub.max_send_bytes
    max_lag = hub.max_lag_events
    context = contextvars.copy_context()

    def push() -> bool:
        """Send what is new from the caller's stack; False: the task must handle it."""
        if sub.closed or hub.closing or sub.skip_key is not None or sub.ending or sub.finished:
            return False
        if ch.end_at and ch.end_at[-1] >= sub.cursor:
            return False                        # the channel's `end` is next: the task finishes it
        hb = hub.heartbeat_generation
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
            # A coroutine (ASGI servers' send is `async def`), driven by hand just below.
            sending: Any = send({"type": "http.response.body", "body": data, "more_body": True})
            try:
                waits_for = context.run(sending.send, None)
            except StopIteration:
                sub.cursor, sub.hb = cursor, hb
                continue
            except BaseException:
                # Not sent (cursor unchanged). Either the client is gone or this send cannot
                # run outside a task: with sniffio installed, anyio (BaseHTTPMiddleware's
                # memory stream) raises NoEventLoopError in a loop callback. The stream's
                # task sends it instead, now and from now on, and sees which it was.
                sub.push = None
                return False
            sub.cursor, sub.hb = cursor, hb
            sub.blocked = (sending, waits_for)   # paused by flow control: the task finishes it
            sub.sending_since = loop.time()
            return False

    return push


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


async def _watch_disconnect(receive: Receive, sub: Subscriber) -> None:
    try:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                break
    except Exception:
        pass
    sub.closed = True
    sub.wake()


async def refuse_unauthorized(hub: StreamHub, request: Request, channel: str, scope: Scope, receive: Receive,
                              send: Send) -> bool:
    """Ask `hub.authorize` whether `request` may follow `channel`; if not, answer 403 (counted as a
    refused stream) and return True."""
    if hub.authorize is None:
        return False
    allowed = hub.authorize(request, channel)
    if inspect.isawaitable(allowed):
        allowed = await allowed
    if allowed:
        return False
    hub.refused("forbidden")
    await error_response(403, "not allowed to subscribe to this channel")(scope, receive, send)
    return True


class HubStream(Response):
    """`text/event-stream` response for one client of `hub`'s `channel`.

    A Starlette `Response`: `headers` are the headers sent (add your own there or with
    `headers=`); there is no content-length, the body is the stream.
    """

    media_type = "text/event-stream"

    def __init__(self, hub: StreamHub, request: Request, channel: str, *,
                 last_event_id: str | None = None, headers: Mapping[str, str] | None = None,
                 authorized: bool = False) -> None:
        if last_event_id is not None:
            check_str("last_event_id", last_event_id)
        if headers is not None and not isinstance(headers, Mapping):
            raise TypeError(f"headers: expected a mapping of str to str, got {type(headers).__name__}")
        # Not Response.__init__: it would render an empty body and announce content-length: 0.
        self.status_code = 200
        self.background = None
        self.init_headers({**_DEFAULT_HEADERS, **{k.lower(): v for k, v in (headers or {}).items()}})
        self.hub = hub
        self.request = request
        self.channel = channel
        self.last_event_id = last_event_id
        self.authorized = authorized    # the caller (Runs) already asked hub.authorize for this request

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        hub = self.hub
        if not self.authorized and await refuse_unauthorized(hub, self.request, self.channel, scope, receive, send):
            return
        last_id = self.last_event_id if self.last_event_id is not None else _last_event_id(self.request)
        share = self.request.query_params.get(SHARE_PARAM)
        self.request = None  # type: ignore[assignment]  # not needed any more: keep the open stream small
        if share == "check":
            # Tab sharing asks what this request would be streamed (after the same authorization):
            # answered at once, no stream. Never cached: the answer belongs to these cookies, now.
            await Response(share_check_body(share_digest(self.channel)), media_type="application/json",
                           headers={"cache-control": "no-store"})(scope, receive, send)
            return
        start = {"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers}
        if scope.get("method") == "HEAD":
            await send(start)
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return
        close = hub.close_frame_for(None)
        if close is not None:     # shutting down: come back later (or not)
            hub.refused("shutdown")
            await send(start)
            await send({"type": "http.response.body", "body": hub.retry_bytes + close, "more_body": False})
            return
        if hub.draining:     # the load balancer moves it to another worker
            hub.refused("draining")
            await error_response(503, "server draining, retry another server",
                                 {"Retry-After": str(hub.retry_after)})(scope, receive, send)
            return
        refused = hub.refuse_reason(self.channel)
        if refused is not None:
            hub.refused("limit")
            await error_response(503, refused, {"Retry-After": str(hub.retry_after)})(scope, receive, send)
            return
        sub = hub.attach(self.channel)
        watcher: asyncio.Task[None] | None = None
        reason, tail = "error", 0
        try:
            sub.task = asyncio.current_task()
            sub.transport = _find_transport(receive, send)
            try:
                # A heartbeat first: the client knows at once that this stream is alive (after a
                # stall, the monitor shows Live only when something arrives).
                # A leader tab (tab sharing) asks for the digest first, before anything it relays.
                vouch = share_frame(share_digest(self.channel)) if share == "stream" else b""
                prelude = hub.retry_bytes + vouch + hub.heartbeat_bytes + await hub.resume(sub, last_id)
            except ChannelUnusable as exc:
                reason = "unusable"
                await error_response(409, str(exc))(scope, receive, send)
                return
            except BackendUnavailable:
                # Cannot tell what the client missed: let it come back later, losing nothing.
                reason = "unavailable"
                await error_response(503, "event store unavailable, retry later",
                                     {"Retry-After": str(hub.retry_after)})(scope, receive, send)
                return
            hub.streaming(sub, prelude)
            await send(start)
            watcher = asyncio.get_running_loop().create_task(_watch_disconnect(receive, sub))
            reason, tail = await self._pump(sub, send, prelude)
        finally:
            hub.detach(sub, reason, tail)
            if watcher is not None and not watcher.done():
                watcher.cancel()

    async def _pump(self, sub: Subscriber, send: Send, body: bytes) -> tuple[str, int]:
        """Send until the stream ends; returns why it ended (`activity.CLOSE_REASONS`) and the
        bytes of its own it sent last (a close frame), for the counts."""
        hub = self.hub
        ch = sub.channel
        loop = asyncio.get_running_loop()
        max_bytes = hub.max_send_bytes
        max_lag = hub.max_lag_events
        if not PLAIN_SEND:
            sub.push = _inline_push(hub, sub, send)
        try:
            while True:
                if sub.blocked is not None:
                    sending, waits_for = sub.blocked
                    sub.blocked = None
                    await _finish(sending, waits_for)
                    sub.sending_since = 0.0
                if sub.closed:
                    return "client-gone", 0
                if sub.ending:         # the channel cannot be streamed any more: end politely
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                    return "unusable", 0
                if sub.finished:       # its replay ends with the channel's `end`
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                    return "finished", 0
                if sub.cursor < ch.end:
                    if sub.skip_key is not None:
                        self._skip_replayed(sub)
                    stop = ch.next_end(sub.cursor)
                    got = ch.read(sub.cursor, max_bytes, stop) if sub.cursor < ch.end else (b"", sub.cursor)
                    if got is not None and stop is not None and got[1] > stop:
                        sub.finished = True    # sent below with the `end`: then the response ends
                    if got is None or (max_lag is not None and ch.end - sub.cursor > max_lag):
                        # fell behind the replay buffer: end it; it resumes (or resets) on reconnect
                        hub.count("slow_disconnects")
                        await send({"type": "http.response.body", "body": body, "more_body": False})
                        return "lagging", 0
                    body = body + got[0] if body else got[0]
                    sub.cursor = got[1]
                    if sub.finished:
                        await send({"type": "http.response.body", "body": body, "more_body": False})
                        return "finished", 0
                close = hub.close_frame_for(sub)
                if close is not None:
                    await send({"type": "http.response.body", "body": body + close, "more_body": False})
                    return ("shutdown" if hub.closing else "drain"), len(close)
                if sub.hb != hub.heartbeat_generation:
                    sub.hb = hub.heartbeat_generation
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
            return "client-gone", 0      # servers other than uvicorn may raise when the client is gone
        except asyncio.CancelledError:
            if not sub.cut_off:
                raise
            task = asyncio.current_task()
            if task is not None and hasattr(task, "uncancel"):   # Python >= 3.11
                task.uncancel()
            await self._abort(sub)
            return ("shutdown" if hub.closing else "send-timeout"), 0
        finally:
            sub.push = None
            if sub.blocked is not None:
                sub.blocked[0].close()
                sub.blocked = None

    def _skip_replayed(self, sub: Subscriber) -> None:
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
            sub.origin += 1                      # skipped, not sent: keep it out of the counts
            sub.origin_bytes += len(ch.payloads[i] or b"")

    async def _abort(self, sub: Subscriber) -> None:
        """Drop a connection we gave up on: abort the transport and wait briefly for the close.

        Without a transport (a server or wrapper we cannot see through) the stream stays
        counted against the limits, parked, until the server reports the client gone.
        """
        transport = sub.transport
        if transport is not None:
            _reset_on_close(transport)
            transport.abort()
            for _ in range(100):
                if sub.closed:
                    break
                await asyncio.sleep(0.01)
            return
        log.warning("sse_monitor: cannot abort a client that stopped reading (no transport found "
                    "behind this ASGI stack); it stays counted until the server drops it")
        sub.push = None
        while not sub.closed:
            waiter = asyncio.get_running_loop().create_future()
            sub.waiter = waiter
            await waiter


EventStream = HubStream   # the old name; not exported by `from sse_monitor import *` (FastHTML has its own)
