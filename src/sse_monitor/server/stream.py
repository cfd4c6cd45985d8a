"""The ASGI response that streams one subscription of a Hub channel.

Written as a raw ASGI callable (not StreamingResponse) to control every `send`: the hot path
is "take the new bytes from the shared buffer, one send". While a stream is parked, the Hub's
wake-up runs that send inline (`push`): an ASGI server's send completes at once unless the
connection is paused by flow control, and only then does the stream's own task take over the
rest of it. So a publish costs one task switch per channel, not one per subscriber
(SSE_MONITOR_PLAIN_SEND=1 turns that off for a plain `await send()`: see PLAIN_SEND).
Disconnects are noticed by a watcher on `receive()` that wakes the stream at once (without a
task of its own under uvicorn: `_DisconnectWatch`); heartbeats and slow-client cut-offs come
from the Hub's single ticker.
"""
from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import os
import socket
import struct
from collections.abc import Mapping
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send

from ..scaleout import BackendUnavailable, ChannelUnusable
from ..validate import check_str
from ..wire import LAST_EVENT_ID_PARAM, SHARE_PARAM, share_check_body, share_digest, share_frame
from .fanout import StreamHub, Subscriber
from .phases import STREAM_MOVES, StreamPhase, move

__all__ = ["HubStream", "EventStream", "error_response", "SSE_HEADERS"]

log = logging.getLogger("sse_monitor.stream")

# Why a stream ends after what it sends next, by its phase (`activity.CLOSE_REASONS`); None: it goes on.
ENDINGS = {StreamPhase.ENDING: "unusable", StreamPhase.FINISHING: "finished"}

SSE_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),
]
_DEFAULT_HEADERS = {"cache-control": "no-cache", "x-accel-buffering": "no"}
# What Response.init_headers makes of _DEFAULT_HEADERS for a text/event-stream response.
_DEFAULT_RAW_HEADERS = ((b"cache-control", b"no-cache"), (b"x-accel-buffering", b"no"),
                        (b"content-type", b"text/event-stream; charset=utf-8"))


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
# channel's wake-up calls each stream's `push` (`_InlinePush`), which drives the server's
# `send` coroutine by hand (`coroutine.send(None)`). An ASGI server's send completes at once
# unless flow control pauses the connection; then the half-run coroutine is handed to the
# stream's task (`sub.blocked`), and `_finish` runs it to its end, clearing asyncio's private
# `_asyncio_future_blocking` flag that a Task would have cleared. This and `_DisconnectWatch`
# are the only code that relies on how asyncio runs coroutines.
#
# SSE_MONITOR_PLAIN_SEND=1 in the environment (read once, when this module is imported)
# switches it off: every publish wakes each stream's task, which sends with a plain
# `await send(...)`. Same bytes in the same order, one task switch per stream and event more.
# The test suite runs the unit and server tiers both ways (`make test`).
PLAIN_SEND = os.environ.get("SSE_MONITOR_PLAIN_SEND", "") not in ("", "0")


class _InlinePush:
    """The `push` a parked stream leaves with its channel: the channel's wake-up calls it to
    send what is new at once, from its own stack, instead of waking the stream's task.
    An object with four slots, not a closure: it is held for as long as the stream is open."""

    __slots__ = ("hub", "sub", "send", "context")

    def __init__(self, hub: StreamHub, sub: Subscriber, send: Send) -> None:
        self.hub = hub
        self.sub = sub
        self.send = send
        self.context = contextvars.copy_context()   # the server's send runs in the stream's context

    def __call__(self) -> bool:
        """Send what is new from the caller's stack; False: the task must handle it."""
        hub, sub = self.hub, self.sub
        if sub.phase is not StreamPhase.STREAMING or sub.client_gone or hub.closing or sub.skip_key is not None:
            return False
        ch = sub.channel
        if ch.end_at and ch.end_at[-1] >= sub.cursor:
            return False                        # the channel's `end` is next: the task finishes it
        max_lag = hub.max_lag_events
        hb = hub.heartbeat_generation
        while True:
            cursor, data = sub.cursor, b""
            if cursor < ch.end:
                if max_lag is not None and ch.end - cursor > max_lag:
                    return False
                got = ch.read(cursor, hub.max_send_bytes)
                if got is None:
                    return False
                data, cursor = got
            if sub.hb != hb:
                data += hub.heartbeat_bytes
            if not data:
                return True
            # A coroutine (ASGI servers' send is `async def`), driven by hand just below.
            sending: Any = self.send({"type": "http.response.body", "body": data, "more_body": True})
            try:
                waits_for = self.context.run(sending.send, None)
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
            sub.sending_since = asyncio.get_running_loop().time()
            return False


async def _finish(sub: Subscriber) -> None:
    """Run the send coroutine that `push` started and that had to wait (flow control) to its end."""
    sending, waits_for = sub.blocked
    sub.blocked = None
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
        sub.sending_since = 0.0


def _uncancel() -> None:
    """The stream's task was cancelled to cut its client off and goes on to end the response: it
    is not being cancelled any more (Python >= 3.11 counts cancellations)."""
    task = asyncio.current_task()
    if task is not None and hasattr(task, "uncancel"):
        task.uncancel()


async def _watch_disconnect(receive: Receive, sub: Subscriber) -> None:
    try:
        while True:
            message = await receive()
            if message.get("type") == "http.disconnect":
                break
    except Exception:
        pass
    sub.client_gone = True
    sub.wake()


def _receive_runs_without_a_task(receive: Receive) -> bool:
    """True for uvicorn's own `receive` (a method of its request cycle, not wrapped by middleware):
    it waits on an asyncio.Event and needs no current task, so `_DisconnectWatch` can drive it."""
    owner = getattr(receive, "__self__", None)
    return owner is not None and type(owner).__module__.startswith("uvicorn.protocols.http.")


class _DisconnectWatch:
    """Notices the client leaving: runs the server's `receive()` until it returns
    `http.disconnect`, then marks the stream's subscriber closed and wakes the stream.

    With uvicorn's own `receive` it has no task of its own: calling it drives the `receive()`
    coroutine by hand, and it is itself the done-callback of the future that coroutine waits on
    (an open stream then holds about 0.7 KB less). Any other `receive` (middleware, another
    server), and every one under SSE_MONITOR_PLAIN_SEND=1, runs in a task (`_watch_disconnect`)."""

    __slots__ = ("receive", "sub", "pending", "task", "stopped")

    def __init__(self, receive: Receive, sub: Subscriber) -> None:
        self.receive = receive
        self.sub = sub
        self.pending: Any = None       # the receive() coroutine driven by hand, while it waits
        self.task: asyncio.Task[None] | None = None
        self.stopped = False
        if PLAIN_SEND or not _receive_runs_without_a_task(receive):
            self.task = asyncio.get_running_loop().create_task(_watch_disconnect(receive, sub))
        else:
            self()

    def __call__(self, _done: object = None) -> None:
        """Run `receive()` until it waits (then come back when what it waits for is done) or says
        the client is gone."""
        if self.stopped:
            return
        try:
            while True:
                if self.pending is None:
                    self.pending = self.receive()
                try:
                    waits_for = self.pending.send(None)
                except StopIteration as returned:
                    self.pending = None
                    if returned.value.get("type") == "http.disconnect":
                        break
                    continue
                if waits_for is None:          # a bare yield
                    asyncio.get_running_loop().call_soon(self)
                else:
                    # Yielded to no task: clear the flag a task would have cleared on receipt.
                    waits_for._asyncio_future_blocking = False
                    # In the stream's context: the push's copy of it when there is one (not a second).
                    push = self.sub.push
                    context = push.context if isinstance(push, _InlinePush) else None
                    waits_for.add_done_callback(self, context=context)
                return
        except asyncio.CancelledError:
            self.pending = None                # what it waited for was cancelled: stop watching
            return
        except Exception:
            self.pending = None
        self.sub.client_gone = True
        self.sub.wake()

    def stop(self) -> None:
        """The stream ended: stop watching (a coroutine still waiting is closed, so it leaves
        whatever it waited on)."""
        self.stopped = True
        if self.task is not None and not self.task.done():
            self.task.cancel()
        pending, self.pending = self.pending, None
        if pending is not None:
            pending.close()


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
    # Slots, not the instance dict, for what an open stream holds (Starlette's Response has a dict:
    # anything else set on it still works).
    __slots__ = ("status_code", "background", "raw_headers", "hub", "request", "channel", "last_event_id",
                 "authorized")

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
        if headers:
            self.init_headers({**_DEFAULT_HEADERS, **{k.lower(): v for k, v in headers.items()}})
        else:   # the same headers for every stream, held once (a list of its own when edited: `headers`)
            self.raw_headers = _DEFAULT_RAW_HEADERS  # type: ignore[assignment]
        self.hub = hub
        self.request = request
        self.channel = channel
        self.last_event_id = last_event_id
        self.authorized = authorized    # the caller (Runs) already asked hub.authorize for this request

    async def _open(self, scope: Scope, receive: Receive, send: Send) -> tuple[Subscriber | None, bytes]:
        """Everything before the stream: authorization, the short answers (a tab-sharing check,
        HEAD, refused) and the resume. Returns the attached subscriber and the first bytes to
        send, or (None, b"") when the request has been answered."""
        hub = self.hub
        if not self.authorized and await refuse_unauthorized(hub, self.request, self.channel, scope, receive, send):
            return None, b""
        last_id = self.last_event_id if self.last_event_id is not None else _last_event_id(self.request)
        share = self.request.query_params.get(SHARE_PARAM)
        self.request = None  # type: ignore[assignment]  # not needed any more: keep the open stream small
        if share == "check":
            # Tab sharing asks what this request would be streamed (after the same authorization):
            # answered at once, no stream. Never cached: the answer belongs to these cookies, now.
            await Response(share_check_body(share_digest(self.channel)), media_type="application/json",
                           headers={"cache-control": "no-store"})(scope, receive, send)
            return None, b""
        if scope.get("method") == "HEAD":
            await send(self._start())
            await send({"type": "http.response.body", "body": b"", "more_body": False})
            return None, b""
        close = hub.close_frame_for(None)
        if close is not None:     # shutting down: come back later (or not)
            hub.refused("shutdown")
            await send(self._start())
            await send({"type": "http.response.body", "body": hub.retry_bytes + close, "more_body": False})
            return None, b""
        if hub.draining:     # the load balancer moves it to another worker
            hub.refused("draining")
            await error_response(503, "server draining, retry another server",
                                 {"Retry-After": str(hub.retry_after)})(scope, receive, send)
            return None, b""
        refused = hub.refuse_reason(self.channel)
        if refused is not None:
            hub.refused("limit")
            await error_response(503, refused, {"Retry-After": str(hub.retry_after)})(scope, receive, send)
            return None, b""
        sub = hub.attach(self.channel)
        try:
            sub.task = asyncio.current_task()
            sub.transport = _find_transport(receive, send)
            # A heartbeat first: the client knows at once that this stream is alive (after a
            # stall, the monitor shows Live only when something arrives).
            # A leader tab (tab sharing) asks for the digest first, before anything it relays.
            vouch = share_frame(share_digest(self.channel)) if share == "stream" else b""
            prelude = hub.retry_bytes + vouch + hub.heartbeat_bytes + await hub.resume(sub, last_id)
            hub.streaming(sub, prelude)
            return sub, prelude
        except ChannelUnusable as exc:
            hub.detach(sub, "unusable", 0)
            await error_response(409, str(exc))(scope, receive, send)
        except BackendUnavailable:
            # Cannot tell what the client missed: let it come back later, losing nothing.
            hub.detach(sub, "unavailable", 0)
            await error_response(503, "event store unavailable, retry later",
                                 {"Retry-After": str(hub.retry_after)})(scope, receive, send)
        except BaseException:
            hub.detach(sub, "error", 0)
            raise
        return None, b""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream until the stream ends, or give the short answer (`_open`). The send loop is
        in here, not in a coroutine of its own, and keeps few locals: an open stream holds this
        one frame (the checks, the reads and the abort run in helpers that have returned)."""
        sub, body = await self._open(scope, receive, send)
        if sub is None:
            return
        watch: _DisconnectWatch | None = None
        reason, tail = "error", 0      # why it ended (`activity.CLOSE_REASONS`), its own last bytes
        try:
            await send(self._start())
            if not PLAIN_SEND:
                sub.push = _InlinePush(self.hub, sub, send)
            watch = _DisconnectWatch(receive, sub)
            while True:
                if sub.blocked is not None:
                    await _finish(sub)
                if sub.client_gone:
                    reason = "client-gone"
                    return
                ending = ENDINGS.get(sub.phase)
                if ending is None and sub.cursor < sub.channel.end:
                    body, ending = self._read(sub, body)
                if ending is not None:     # the channel cannot be streamed any more, or it ended
                    await send({"type": "http.response.body", "body": body, "more_body": False})
                    reason = ending
                    return
                close = self.hub.close_frame_for(sub)
                if close is not None:
                    await send({"type": "http.response.body", "body": body + close, "more_body": False})
                    reason, tail = ("shutdown" if self.hub.closing else "drain"), len(close)
                    return
                if sub.hb != self.hub.heartbeat_generation:
                    sub.hb = self.hub.heartbeat_generation
                    body = body + self.hub.heartbeat_bytes if body else self.hub.heartbeat_bytes
                if body:
                    sub.sending_since = asyncio.get_running_loop().time()
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                    sub.sending_since = 0.0
                    body = b""
                    continue
                sub.waiter = asyncio.get_running_loop().create_future()
                await sub.waiter
        except OSError:
            reason = "client-gone"   # servers other than uvicorn may raise when the client is gone
            return
        except asyncio.CancelledError:
            if sub.phase is not StreamPhase.CUT_OFF:
                raise
            _uncancel()
            await self._abort(sub)
            reason = "shutdown" if self.hub.closing else "send-timeout"
            return
        finally:
            sub.push = None
            if sub.blocked is not None:
                sub.blocked[0].close()
                sub.blocked = None
            self.hub.detach(sub, reason, tail)
            if watch is not None:
                watch.stop()

    def _read(self, sub: Subscriber, body: bytes) -> tuple[bytes, str | None]:
        """`body` plus what the channel has next for `sub` (at most `max_send_bytes`, up to its
        `end` if one is next), and why the stream ends after sending that: "finished" (it holds
        the channel's `end`), "lagging" (`sub` fell behind the replay buffer: it resumes, or
        resets, on reconnect) or None."""
        hub = self.hub
        ch = sub.channel
        if sub.skip_key is not None:
            self._skip_replayed(sub)
        if sub.cursor >= ch.end:
            return body, None
        stop = ch.next_end(sub.cursor)
        got = ch.read(sub.cursor, hub.max_send_bytes, stop)
        if got is not None and stop is not None and got[1] > stop:
            move(sub, StreamPhase.FINISHING, STREAM_MOVES)   # sent with the `end`: then the response ends
        max_lag = hub.max_lag_events
        if got is None or (max_lag is not None and ch.end - sub.cursor > max_lag):
            hub.count("slow_disconnects")
            return body, "lagging"
        sub.cursor = got[1]
        return (body + got[0] if body else got[0]), ENDINGS.get(sub.phase)

    @property
    def headers(self) -> MutableHeaders:
        """The headers to send, editable until the response starts."""
        if isinstance(self.raw_headers, tuple):
            self.raw_headers = list(self.raw_headers)
        return super().headers

    def _start(self) -> dict[str, Any]:
        """The `http.response.start` message, made when sent (an open stream does not hold it), with
        a list of headers of its own (middleware may append to it)."""
        return {"type": "http.response.start", "status": self.status_code, "headers": list(self.raw_headers)}

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
                if sub.client_gone:
                    break
                await asyncio.sleep(0.01)
            return
        log.warning("sse_monitor: cannot abort a client that stopped reading (no transport found "
                    "behind this ASGI stack); it stays counted until the server drops it")
        sub.push = None
        while not sub.client_gone:
            waiter = asyncio.get_running_loop().create_future()
            sub.waiter = waiter
            await waiter


EventStream = HubStream   # the old name; not exported by `from sse_monitor import *` (FastHTML has its own)
