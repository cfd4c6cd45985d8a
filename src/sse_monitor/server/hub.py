"""Hub: named channels, event ids, a bounded replay buffer and cheap fan-out to many streams.

Data path (per process, per channel): `publish` encodes the event ONCE into bytes and appends
it to the channel's shared buffer (`Channel`), then wakes the channel's parked subscribers with
one loop callback. Each subscriber (`Subscriber`, in its stream's task) keeps only a cursor into
that buffer; when it wakes it takes everything it has not sent yet (up to `max_send_bytes`)
and writes it with ONE `send`. No per-client queues, timers or re-encoding.

One shared ticker per Hub drives heartbeats (a generation counter every subscriber compares
with its own), cuts off clients stuck in a send for longer than `send_timeout`, and finishes
a shutdown. Where ids and history come from is the backend's business (`sse_monitor.scaleout`).
"""
from __future__ import annotations

import asyncio
import logging
import math
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from starlette.responses import Response
from starlette.routing import Route

from ..scaleout import Backend, Replay, backend_from_url
from ..scaleout.memory import MemoryBackend
from ..validate import check_event_name, check_int, check_number, check_str, validate_channel
from ..wire import (
    CLOSE_EVENT,
    END_EVENT,
    HEARTBEAT_EVENT,
    LAST_EVENT_ID_PARAM,
    OUTCOMES,
    RESET_EVENT,
    ResetReason,
    close_frame,
    end_data,
    reset_frame,
)
from .activity import CLOSE_REASONS, REFUSE_REASONS, Activity
from .fanout import Authorize, Channel, Subscriber
from .hub_options import HubLimits, ShutdownPolicy, merged
from .phases import HUB_MOVES, STREAM_MOVES, HubPhase, StreamPhase, move, move_unless_ended
from .routes import StreamMount, add_stream_route
from .shutdown import install_signal_handlers, register_hub
from .sse import encode_event, render_data
from .stream import HubStream, error_response

__all__ = ["Hub", "Channel", "Subscriber", "validate_channel"]

MAX_ID_LENGTH = 200
log = logging.getLogger("sse_monitor.hub")


class Hub:
    """Broadcast hub: `publish` events to named channels, `stream` them to SSE clients.

    Replay: each channel keeps the last `replay_size` events (and, with `replay_max_age`, only
    those younger than that many seconds). A client resuming with `Last-Event-ID` header or
    `lastEventId` query parameter gets exactly what it missed; an id the hub cannot resume from
    gets one `event: reset` and then live events.

    Event names: `heartbeat_event`, `close_event` and `reset_event` rename the events the hub
    sends (defaults in `sse_monitor.wire`); give the page's `SSEConnectionConfig` the same names.

    Limits and the shutdown policy come grouped (`limits=HubLimits(...)`,
    `shutdown_policy=ShutdownPolicy(...)`, server/hub_options.py, which says what each does) or as
    keywords of their own, as before; one option given both ways is a ValueError.
    """

    def __init__(
        self,
        backend: Backend | str | None = None,
        *,
        replay_size: int = 1000,
        replay_max_age: float | None = None,
        heartbeat_interval: float = 15.0,
        heartbeat_event: str = HEARTBEAT_EVENT,
        close_event: str = CLOSE_EVENT,
        reset_event: str = RESET_EVENT,
        retry_ms: int = 1000,
        max_streams: int | None = None,
        max_streams_per_channel: int | None = None,
        retry_after: int = 5,
        authorize: Authorize | None = None,
        send_timeout: float = 10.0,
        max_send_bytes: int = 65536,
        max_lag_events: int | None = None,
        close_reconnect_after_ms: int | None = 2000,
        close_window_ms: int | None = None,
        close_rate: int = 500,
        shutdown_timeout: float = 0.5,
        handle_signals: bool = True,
        limits: HubLimits | None = None,
        shutdown_policy: ShutdownPolicy | None = None,
    ) -> None:
        # wrong types raise TypeError, wrong values ValueError (sse_monitor.validate)
        limit = merged(HubLimits, "limits", limits, {
            "max_streams": max_streams, "max_streams_per_channel": max_streams_per_channel,
            "retry_after": retry_after, "send_timeout": send_timeout, "max_send_bytes": max_send_bytes,
            "max_lag_events": max_lag_events})
        policy = merged(ShutdownPolicy, "shutdown_policy", shutdown_policy, {
            "close_reconnect_after_ms": close_reconnect_after_ms, "close_window_ms": close_window_ms,
            "close_rate": close_rate, "shutdown_timeout": shutdown_timeout, "handle_signals": handle_signals})
        check_int("replay_size", replay_size, minimum=1)
        check_number("replay_max_age", replay_max_age, optional=True)
        check_number("heartbeat_interval", heartbeat_interval)
        check_int("retry_ms", retry_ms, why=" (milliseconds)")
        if authorize is not None and not callable(authorize):
            raise TypeError("authorize: expected a callable (request, channel) -> bool")
        if isinstance(backend, str):
            backend = backend_from_url(backend)
        elif backend is not None and not all(hasattr(backend, m) for m in ("bind", "publish", "history")):
            raise TypeError(f"backend: expected a Backend, a URL str or None, got {type(backend).__name__}")
        self.backend: Backend = backend if backend is not None else MemoryBackend()
        self.replay_size = replay_size
        self.replay_max_age = replay_max_age
        self.heartbeat_interval = float(heartbeat_interval)
        self.heartbeat_event = check_event_name("heartbeat_event", heartbeat_event)
        self.close_event = check_event_name("close_event", close_event)
        self.reset_event = check_event_name("reset_event", reset_event)
        self.retry_ms = retry_ms
        self.authorize = authorize
        # The groups are a way to pass options; the hub keeps each as an attribute of its own, the
        # one place it is read (streams read some on every send).
        self.max_streams = limit.max_streams
        self.max_streams_per_channel = limit.max_streams_per_channel
        self.retry_after = limit.retry_after
        self.send_timeout = float(limit.send_timeout)
        self.max_send_bytes = limit.max_send_bytes
        self.max_lag_events = limit.max_lag_events
        self.close_reconnect_after_ms = policy.close_reconnect_after_ms
        self.close_window_ms = policy.close_window_ms
        self.close_rate = policy.close_rate
        self.shutdown_timeout = float(policy.shutdown_timeout)
        self.handle_signals = policy.handle_signals
        # pre-encoded constant frames
        self.heartbeat_bytes = encode_event("", event=heartbeat_event)
        self.retry_bytes = encode_event(retry=retry_ms)

        self._channels: dict[str, Channel] = {}
        self._streams = 0
        self.heartbeat_generation = 0     # bumped by the ticker at every heartbeat interval
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._ticker_wake: asyncio.Future[None] | None = None
        self.phase = HubPhase.SERVING          # phases.py: serving, draining, closing (`_enter`)
        self.closing = False                   # phase is CLOSING (read by streams on every send)
        self.draining = False                  # phase is DRAINING
        self._closing_since = 0.0
        self.close_bytes = b""
        self._pace: _Pace | None = None         # how the returns of told streams are spread
        self._told: dict[Subscriber, bytes] = {}   # streams told to go, with their close event
        self._drainer: asyncio.Task[None] | None = None
        self._counters = {"slow_disconnects": 0, "resets": 0, "rejected": 0, "opened": 0}
        self.activity = Activity()    # everything else stats() and the metrics count
        self.backend.bind(self._deliver)
        bind_reset = getattr(self.backend, "bind_reset", None)
        if bind_reset is not None:
            bind_reset(self._backend_reset)
        register_hub(self)
        # Awaited first when the app shuts down (`Runs.aclose`: its runs end `interrupted` at once).
        self.on_close: list[Callable[[], Awaitable[None]]] = []
        self._closing_task: asyncio.Task[None] | None = None

    def _enter(self, phase: HubPhase) -> None:
        """Move to `phase` (phases.HUB_MOVES). `closing` and `draining` mirror it as plain
        attributes: every stream reads them on every send, where a property costs."""
        if move(self, phase, HUB_MOVES):
            self.closing = phase is HubPhase.CLOSING
            self.draining = phase is HubPhase.DRAINING

    # ---------------------------------------------------------------- publishing
    async def publish(self, channel: str, data: Any, event: str | None = None) -> str:
        """Publish `data` (str or FT) to `channel`; returns the event id. O(1) in subscribers."""
        validate_channel(channel)
        text = _checked(data, event)
        return await self._publish(channel, event, text)

    async def _publish(self, channel: str, event: str | None, text: str) -> str:
        event_id = await self.backend.publish(channel, event, text)
        self.activity.published += 1
        return event_id

    def publish_nowait(self, channel: str, data: Any, event: str | None = None) -> str:
        """`publish` for synchronous code: in the loop's thread, or any other thread (e.g. a
        sync FastHTML route or a worker thread), where it hands over to the loop and waits."""
        validate_channel(channel)
        text = _checked(data, event)
        loop = self._loop
        if loop is not None and loop.is_running():
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is not loop:
                future = asyncio.run_coroutine_threadsafe(self._publish(channel, event, text), loop)
                return future.result(timeout=10)
        event_id = self.backend.publish_nowait(channel, event, text)
        self.activity.published += 1
        return event_id

    async def end(self, channel: str, outcome: str = "done", detail: str | None = None) -> str:
        """Finish `channel` (a job, a generated answer): its streams get one `end` event, JSON
        {"outcome", "detail"}, and finish; the page shows the outcome and does not reconnect.

        `outcome`: "done", "cancelled", "error" or "interrupted" (`wire.OUTCOMES`); `detail`: a
        short text for the user (why it failed, say), or None. The `end` is an event of the
        channel, with an id, so a page that comes later (a reload, a second tab, another worker
        on Redis) gets the events and then the `end` at once from replay. Publishing to the
        channel again starts it anew: streams opened after that follow the new events.
        Returns the event id."""
        validate_channel(channel)
        return await self._publish(channel, END_EVENT, _end_text(outcome, detail))

    def end_nowait(self, channel: str, outcome: str = "done", detail: str | None = None) -> str:
        """`end` for synchronous code, as `publish_nowait` is for `publish`."""
        validate_channel(channel)
        return self.publish_nowait(channel, _end_text(outcome, detail), event=END_EVENT)

    def forget(self, channel: str) -> bool:
        """Free what this process keeps of `channel` (its replay buffer, and the in-memory
        backend's numbering): for a finished channel nobody will ask for again (`Runs` does it
        `keep_seconds` after a run ends). False, and nothing freed, while a stream still reads it.
        A page that comes back later with one of its ids gets a `reset`."""
        ch = self._channels.get(validate_channel(channel))
        if ch is not None:
            if ch.subscribers:
                return False
            del self._channels[channel]
        forget = getattr(self.backend, "forget", None)
        if forget is not None:
            forget(channel)
        return True

    def _deliver(self, channel: str, event_id: str, event: str | None, data: str) -> None:
        """Backend callback: encode once, append to the local shared buffer, wake subscribers."""
        payload = encode_event(data, event=event, id=event_id)
        ch = self._channel(channel)
        ch.append(event_id, payload)
        if event == END_EVENT:
            ch.mark_end()
        self.activity.received += 1

    def _backend_reset(self, channel: str, reason: ResetReason) -> None:
        """Backend callback: the channel's history lost events (e.g. Redis restarted without
        persistence). Local subscribers get one `event: reset`, then live events; "unusable":
        the channel cannot be streamed any more, its streams end (and reconnect to an error)."""
        ch = self._channels.get(channel)
        if ch is None or not ch.subscribers:
            return
        if reason == "unusable":
            for sub in list(ch.subscribers):
                move_unless_ended(sub, StreamPhase.ENDING, STREAM_MOVES)   # one cut off stays so
                sub.wake()
            return
        payload = self._reset_bytes(channel, reason, streams=len(ch.subscribers))
        key = self.backend.position(channel)
        if not key or key in ch.index:          # buffer keys are unique (the wire id may repeat)
            key = f"\x00reset-{self._counters['resets']}"
        ch.append(key, payload)

    def _channel(self, name: str) -> Channel:
        ch = self._channels.get(name)
        if ch is None:
            # The floor is where a full replay of this buffer starts. Only a backend whose history
            # IS this buffer knows it; otherwise resumes not found in the buffer ask the backend.
            floor = self.backend.position(name) if self.backend.local_history else ""
            ch = Channel(name, floor, self.replay_size, self.replay_max_age)
            ch.fanout = self.activity.fanout
            self._channels[name] = ch
        return ch

    # ---------------------------------------------------------------- queries
    def last_event_id(self, channel: str) -> str | None:
        """The id of the newest event published to `channel`, or None."""
        return self.backend.last_id(validate_channel(channel))

    def sse_url(self, path: str, channel: str) -> str:
        """`path` with `lastEventId=<current position>`, for a page's `sse-connect` URL.

        An event published between rendering the page and the browser connecting is then
        replayed instead of lost (a fresh EventSource sends no Last-Event-ID of its own).
        """
        if not check_str("path", path):
            raise ValueError("path: expected a non-empty URL path")
        position = self.backend.position(validate_channel(channel))
        sep = "&" if "?" in path else "?"
        return f"{path}{sep}{urlencode({LAST_EVENT_ID_PARAM: position})}"

    def stats(self) -> dict[str, Any]:
        """Counts for tests and monitoring (JSON-ready; `sse_monitor.metrics` exports them).

        Open streams (`streams`, and by `phases`: starting, live, sending: a send paused by
        flow control, closing: told to go), per-channel subscribers and buffer; what streams
        did since start: `opened`, `closed` and `refused` by reason, `events_sent` and
        `bytes_sent` (every stream's, open or ended), `resumes` by what answered them,
        `replayed_events`, `reset_reasons`; events `published` by this process and `received`
        into its buffers; streams `told` to close; `fanout_seconds` (see `LatencyHistogram`);
        `browser_states`, the state changes browsers reported (`reports_route`).
        O(open streams): read from the streams' cursors, never counted per send.
        """
        activity = self.activity
        phases = {"starting": 0, "live": 0, "sending": 0, "closing": 0}
        events, sent = activity.ended_events, activity.ended_bytes
        for ch in self._channels.values():
            for sub in ch.subscribers:
                if sub.origin < 0:
                    phases["starting"] += 1
                    continue
                if self.closing or sub in self._told:
                    phases["closing"] += 1
                elif sub.sending_since or sub.blocked is not None:
                    phases["sending"] += 1
                else:
                    phases["live"] += 1
                n, b = self._sent(sub)
                events += n
                sent += b
        fanout = activity.fanout
        return {
            "streams": self._streams,
            "closing": self.closing,
            "draining": self.draining,
            "channels": {name: {"subscribers": len(ch.subscribers), "buffered": len(ch),
                                "last_id": self.backend.last_id(name)}
                         for name, ch in self._channels.items()},
            **self._counters,
            "phases": phases,
            "closed": dict(activity.closed),
            "refused": dict(activity.refused),
            "events_sent": events,
            "bytes_sent": sent,
            "published": activity.published,
            "received": activity.received,
            "resumes": dict(activity.resumes),
            "replayed_events": activity.replayed_events,
            "browser_states": activity.browser.as_dict(),
            "reset_reasons": dict(activity.resets),
            "told": activity.told,
            "fanout_seconds": {"bounds": list(fanout.BOUNDS), "counts": list(fanout.counts), "sum": fanout.sum},
        }

    def _sent(self, sub: Subscriber) -> tuple[int, int]:
        """(events, bytes) `sub` has sent since it started streaming, less its prelude: read
        from its cursor and heartbeat generation. Bytes are 0 once the buffer has forgotten
        where the cursor is (a stream that fell that far behind is being ended)."""
        if sub.origin < 0:
            return 0, 0
        through = sub.channel.bytes_before(sub.cursor)
        sent = 0 if through is None else through + sub.hb * len(self.heartbeat_bytes) - sub.origin_bytes
        return sub.cursor - sub.origin, sent

    def subscriber_count(self, channel: str | None = None) -> int:
        """Open streams on `channel`, or in the whole hub."""
        if channel is None:
            return self._streams
        ch = self._channels.get(channel)
        return len(ch.subscribers) if ch is not None else 0    # not `if ch`: an empty buffer is falsy

    # ---------------------------------------------------------------- streaming
    def stream(self, request: Any, channel: str, *, last_event_id: str | None = None,
               headers: dict[str, str] | None = None) -> Response:
        """The Starlette response (`HubStream`) streaming `channel` to this client (for a GET
        route); `headers` are added to the SSE headers."""
        try:
            validate_channel(channel)
        except ValueError as exc:
            return error_response(400, str(exc))
        return HubStream(self, request, channel, last_event_id=last_event_id, headers=headers)

    def route(self, app: Any, path: str = "/events/{channel}", *, channel: str | None = None) -> Route:
        """Add a GET route streaming `channel` (or the `{channel}` path parameter) to `app`."""
        return add_stream_route(self, app, path, channel=channel)

    def mount(self, app: Any = None, prefix: str = "/events/") -> StreamMount:
        """An ASGI app serving `GET {prefix}{channel}` streams directly and the rest with `app`."""
        return StreamMount(self, app, prefix)

    def metrics_route(self, app: Any = None, path: str = "/metrics", *, channels: Any = (),
                      registry: Any = None) -> Route:
        """`GET path` answering this hub's Prometheus metrics, added to `app` (when given);
        returns the Route. Needs the `metrics` extra (prometheus_client); `channels` and
        `registry` as in `sse_monitor.server.metrics.metrics_endpoint`."""
        from .metrics import metrics_endpoint  # the optional extra: imported only when asked for
        if not check_str("path", path).startswith("/"):
            raise ValueError(f"path: expected a URL path starting with '/', got {path!r}")
        route = Route(path, metrics_endpoint(self, channels=channels, registry=registry), methods=["GET"])
        if app is not None:
            getattr(app, "router", app).routes.insert(0, route)   # ahead of any catch-all route
        return route

    def reports_route(self, app: Any = None, path: str = "/sse-monitor/reports") -> Route:
        """`POST path` counting the state changes browsers report (`navigator.sendBeacon` of an
        `sse-monitor:state` event's `{state, reason}`; the README has the recipe), added to `app`
        (when given); returns the Route. The counts are in `stats()["browser_states"]` and the
        metric `sse_monitor_browser_states_total`; what a post may say is bounded (reports.py)."""
        from .reports import reports_endpoint
        if not check_str("path", path).startswith("/"):
            raise ValueError(f"path: expected a URL path starting with '/', got {path!r}")
        route = Route(path, reports_endpoint(self.activity.browser), methods=["POST"])
        if app is not None:
            getattr(app, "router", app).routes.insert(0, route)   # ahead of any catch-all route
        return route

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The event loop the hub runs on (None until it starts or streams): the metrics read
        the hub's state there when they are scraped from another thread."""
        return self._loop

    # ---------------------------------------------------------------- the StreamHub seam (fanout.py)
    # What HubStream calls; public inside the package, not meant for apps.
    def refuse_reason(self, channel: str) -> str | None:
        """Why a new stream on `channel` is refused now (a limit is reached), or None."""
        if self.max_streams is not None and self._streams >= self.max_streams:
            return "too many open streams on this server"
        if self.max_streams_per_channel is not None:
            ch = self._channels.get(channel)
            if ch is not None and len(ch.subscribers) >= self.max_streams_per_channel:
                return "too many open streams on this channel"
        return None

    def attach(self, channel: str) -> Subscriber:
        """Register a live subscriber at the channel's end (no await: limits stay exact)."""
        self._bind_loop()
        ch = self._channel(channel)
        sub = Subscriber(ch, ch.end, self.heartbeat_generation)
        ch._loop = self._loop
        if not ch.subscribers:
            self.backend.open_channel(channel)
        ch.subscribers.add(sub)
        self._streams += 1
        self._counters["opened"] += 1
        self._ensure_ticker()
        return sub

    async def resume(self, sub: Subscriber, last_id: str | None) -> bytes:
        """Position `sub` after `last_id`; returns the bytes to send first (replay or reset)."""
        ready = getattr(self.backend, "ready", None)
        if ready is not None:
            await ready(sub.channel.name)   # a shared backend: live events flow from here on
        ch = sub.channel
        if not last_id:
            self._at_end(sub)
            return b""
        if len(last_id) > MAX_ID_LENGTH or not last_id.isprintable():
            return self._reset_bytes(ch.name, "malformed")
        activity = self.activity
        pos = ch.position_after(last_id)
        if pos is not None:
            sub.cursor = pos
            self._at_end(sub)
            activity.resumes["buffer"] += 1
            activity.replayed_events += ch.end - sub.cursor   # sent from the cursor: counted as sent there
            return b""
        replay: Replay = await self.backend.history(ch.name, last_id, self.replay_size)
        if replay.reset is not None or not replay.events:
            if replay.reset is not None and replay.buffer_is_new and len(ch):
                # An id of an earlier boot (a restart) or older than the buffer: the page learns that
                # it missed events (`reset`), then gets every event the buffer holds, none of which
                # it has seen, so a simple appended feed shows all the server still knows. The reset
                # carries the id just before them: a reconnect right after it replays them again.
                sub.cursor = ch.start
                activity.replayed_events += ch.end - ch.start
                return self._reset_bytes(ch.name, replay.reset, event_id=ch.floor_id or None)
            if replay.reset is not None:
                return self._reset_bytes(ch.name, replay.reset)
            activity.resumes["history"] += 1
            if replay.end is not None:    # it resumes at a finished channel's `end`: send it again
                move_unless_ended(sub, StreamPhase.FINISHING, STREAM_MOVES)
                return encode_event(replay.end.data, event=END_EVENT, id=replay.end.id)
            self._at_end(sub)
            return b""
        events = replay.events
        for i, e in enumerate(events):
            if e.event == END_EVENT:          # the channel finished in what was missed: stop there
                events = events[:i + 1]
                move_unless_ended(sub, StreamPhase.FINISHING, STREAM_MOVES)
                break
        sub.skip_key = self.backend.sort_key(events[-1].id)
        activity.resumes["history"] += 1
        activity.replayed_events += len(events)
        activity.ended_events += len(events)      # sent in the prelude, not from the cursor
        return b"".join(encode_event(e.data, event=e.event, id=e.id) for e in events)

    def _at_end(self, sub: Subscriber) -> None:
        """A stream starting at the end of a finished channel (nothing published after its `end`)
        gets that `end` again, and finishes: a page that comes after the end shows it at once."""
        ch = sub.channel
        if sub.cursor >= ch.end and ch.ended():
            sub.cursor = ch.end - 1

    def _reset_bytes(self, channel: str, reason: ResetReason, streams: int = 0,
                     event_id: str | None = None) -> bytes:
        """The `event: reset` frame for `channel`; `streams`: how many get it (0: one resume);
        `event_id`: its id (default: the channel's position now: a reconnect resumes from now)."""
        self._counters["resets"] += 1
        if not streams:
            self.activity.resumes["reset"] += 1
        self.activity.reset_sent(reason, streams or 1)
        return reset_frame(reason, self.backend.last_id(channel) or "",
                           event_id if event_id is not None else self.backend.position(channel), self.reset_event)

    def refused(self, reason: str) -> None:
        """A stream was refused before it started (one of `activity.REFUSE_REASONS`)."""
        if reason in ("limit", "draining"):
            self._counters["rejected"] += 1
        key = reason if reason in REFUSE_REASONS else "limit"
        self.activity.refused[key] += 1

    def streaming(self, sub: Subscriber, prelude: bytes) -> None:
        """`sub` is about to send `prelude` (retry, heartbeat, replay or reset): count it, and
        mark where its cursor and heartbeat generation start, to read what it sends later."""
        through = sub.channel.bytes_before(sub.cursor)
        sub.origin = sub.cursor
        sub.origin_bytes = (through or 0) + sub.hb * len(self.heartbeat_bytes)
        self.activity.ended_bytes += len(prelude)

    def detach(self, sub: Subscriber, reason: str = "error", tail: int = 0) -> None:
        """The stream ended (`reason`, one of `activity.CLOSE_REASONS`, after `tail` bytes of its
        own, a close frame): forget `sub` (and what it was told), add what it sent to the counts."""
        self._told.pop(sub, None)
        ch = sub.channel
        if sub in ch.subscribers:
            activity = self.activity
            events, sent = self._sent(sub)
            activity.ended_events += events
            activity.ended_bytes += sent + tail
            activity.closed[reason if reason in CLOSE_REASONS else "error"] += 1
            ch.subscribers.discard(sub)
            self._streams -= 1
            if not ch.subscribers:
                self.backend.close_channel(ch.name)
                # Forget the local buffer if it never had an event, or if the backend keeps the
                # history itself (Redis): its reader stops now, so this buffer would go stale.
                if (ch.end == 0 or not self.backend.local_history) \
                        and self._channels.get(ch.name) is ch:
                    del self._channels[ch.name]
        sub.waiter = None

    def close_frame_for(self, sub: Subscriber | None) -> bytes | None:
        """The `event: close` frame for `sub` if it must end now (shutdown, or told by a drain),
        else None. `sub=None`: the frame for a stream opened during shutdown."""
        told = self._told.pop(sub, None) if sub is not None else None
        if told is not None:
            return told
        if not self.closing:
            return None
        pace = self._pace
        return pace.any() if pace is not None else self.close_bytes

    def count(self, name: str) -> None:
        """Add one to the counter `name` of `stats()`."""
        self._counters[name] += 1

    def _cut_off(self, sub: Subscriber, slow: bool = True) -> None:
        """End a stream stuck in a send: cancel its task (it aborts the connection)."""
        if sub.phase is StreamPhase.CUT_OFF:
            return
        move(sub, StreamPhase.CUT_OFF, STREAM_MOVES)
        if slow:
            self._counters["slow_disconnects"] += 1
        if sub.task is not None and not sub.task.done():
            sub.task.cancel()

    # ---------------------------------------------------------------- ticker
    def _bind_loop(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._ticker = None
            if self.handle_signals:
                install_signal_handlers()

    def _ensure_ticker(self) -> None:
        if self._ticker is None or self._ticker.done():
            self._ticker = asyncio.get_running_loop().create_task(self._tick_loop(),
                                                                  name="sse-monitor-hub-ticker")

    async def _tick_loop(self) -> None:
        """The one timer of the hub: heartbeats, slow-client checks, shutdown deadline."""
        loop = asyncio.get_running_loop()
        interval = self.heartbeat_interval
        check = min(1.0, self.send_timeout / 2)
        next_hb = loop.time() + interval
        while self._streams > 0:
            now = loop.time()
            delay = min(next_hb - now, check)
            if self.closing:
                delay = min(delay, max(0.0, self._closing_since + self.shutdown_timeout - now) + 0.01)
            if delay > 0:
                waiter = self._ticker_wake = loop.create_future()
                timer = loop.call_later(delay, _resolve, waiter)
                await waiter
                timer.cancel()
                self._ticker_wake = None
            now = loop.time()
            if now >= next_hb:
                self.heartbeat_generation += 1
                next_hb = now + interval
                for ch in self._channels.values():
                    ch.wake_all()
            limit = now - self.send_timeout
            stop_all = self.closing and now >= self._closing_since + self.shutdown_timeout
            for ch in list(self._channels.values()):
                for sub in list(ch.subscribers):
                    transport = sub.transport
                    if transport is not None and not sub.client_gone and transport.is_closing():
                        # Gone without an http.disconnect reaching this stream (uvicorn sends
                        # none to a stream with a pipelined request queued behind it).
                        sub.client_gone = True
                        sub.wake()
                    if stop_all:
                        self._cut_off(sub, slow=sub.sending_since != 0.0)
                    elif sub.sending_since and (sub.sending_since < limit or sub.cursor < ch.start):
                        self._cut_off(sub)

    # ---------------------------------------------------------------- shutdown and drain
    def close_window(self, streams: int | None = None) -> int:
        """Milliseconds over which the return of `streams` clients (default: open now) is spread.

        `close_window_ms` if set, else `streams / close_rate` seconds, between 1 s and 120 s: a
        worker with 5,000 streams spreads them over 10 s, so the survivors take ~500 returns/s
        instead of 5,000 within a second (Phoenix, NATS and Centrifugo pace the same way).
        """
        if self.close_window_ms is not None:
            return self.close_window_ms
        n = self._streams if streams is None else streams
        return int(min(120_000, max(1000, n * 1000 / self.close_rate)))

    def begin_shutdown(self, reason: str = "shutdown", reconnect_after_ms: int | None = None,
                       *, permanent: bool = False, window_ms: int | None = None) -> None:
        """Tell every open stream to send `event: close` and end (synchronous, idempotent).

        Every stream is told at once; only the clients' return is spread: data is JSON
        {"reason", "reconnect_after_ms"} where each stream gets its own delay, drawn over
        [after, after + window) on a jittered grid so returns arrive evenly (`after` defaults to
        `close_reconnect_after_ms`, `window_ms` to `close_window()`; 0 = everyone the same).
        The plain `reason` text when `permanent` (or `close_reconnect_after_ms=None`): don't return.
        """
        _check_close(reason, reconnect_after_ms, window_ms)
        if self.closing:
            return
        after = reconnect_after_ms if reconnect_after_ms is not None else self.close_reconnect_after_ms
        permanent = permanent or after is None
        self.close_bytes = close_frame(reason, None if permanent else after, self.close_event)
        # streams a drain already told keep what they were told
        waiting = [sub for ch in self._channels.values() for sub in ch.subscribers
                   if sub not in self._told]
        window = self.close_window(len(waiting)) if window_ms is None else window_ms
        pace = self._pace = _Pace(reason, None if permanent else after, window, len(waiting), self.close_event)
        self._enter(HubPhase.CLOSING)
        if self._drainer is not None:
            self._drainer.cancel()
        loop = self._loop
        self._closing_since = loop.time() if loop is not None and not loop.is_closed() else 0.0
        for sub in waiting:
            self._told[sub] = pace.next()
            sub.wake()
        self.activity.told += len(waiting)
        if self._ticker_wake is not None:
            _resolve(self._ticker_wake)

    async def shutdown(self, reason: str = "shutdown", reconnect_after_ms: int | None = None,
                       *, permanent: bool = False, window_ms: int | None = None) -> None:
        """`begin_shutdown`, then wait (at most ~`shutdown_timeout` + 0.5 s) until streams ended."""
        self.begin_shutdown(reason, reconnect_after_ms, permanent=permanent, window_ms=window_ms)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout + 0.5
        while self._streams > 0 and loop.time() < deadline:
            await asyncio.sleep(0.01)
        await self.backend.aclose()

    def begin_drain(self, reason: str = "server-drain", *, window_ms: int | None = None,
                    batch_interval: float = 0.1) -> None:
        """Drain without exiting, for a rolling deploy behind a load balancer (idempotent).

        From now on new streams get `503` with `Retry-After` (nginx's `proxy_next_upstream
        http_503` moves them to another worker at once), and the open ones are told `event: close`
        in batches every `batch_interval` s over `window_ms` (default `close_window()`), each
        with a short `reconnect_after_ms` spread over one batch interval. Publishing still works.
        """
        _check_close(reason, None, window_ms)
        check_number("batch_interval", batch_interval)
        if self.phase is not HubPhase.SERVING:
            return
        self._enter(HubPhase.DRAINING)
        self._bind_loop()
        self._drainer = asyncio.get_running_loop().create_task(
            self._drain(reason, window_ms, float(batch_interval)), name="sse-monitor-hub-drain")

    async def drain(self, reason: str = "server-drain", *, window_ms: int | None = None,
                    batch_interval: float = 0.1) -> None:
        """`begin_drain`, then wait until every stream that was open has been told and ended."""
        self.begin_drain(reason, window_ms=window_ms, batch_interval=batch_interval)
        if self._drainer is not None:
            try:
                await asyncio.shield(self._drainer)
            except asyncio.CancelledError:
                if not self.closing:     # our own caller was cancelled, not the drain
                    raise
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.shutdown_timeout + 0.5
        while self._streams > 0 and loop.time() < deadline:
            await asyncio.sleep(0.01)

    async def _drain(self, reason: str, window_ms: int | None, interval: float) -> None:
        waiting = [sub for ch in self._channels.values() for sub in ch.subscribers]
        random.shuffle(waiting)
        window = (self.close_window(len(waiting)) if window_ms is None else window_ms) / 1000
        batches = max(1, math.ceil(window / interval))
        size = math.ceil(len(waiting) / batches)
        pace = _Pace(reason, 0, int(interval * 1000), size, self.close_event)
        for i in range(0, len(waiting), size):
            pace.restart()
            for sub in waiting[i:i + size]:
                if not sub.client_gone and sub in sub.channel.subscribers:
                    self._told[sub] = pace.next()
                    self.activity.told += 1
                    sub.wake()
            await asyncio.sleep(interval)     # a busy loop stretches the drain, never bunches it

    def _signal_shutdown(self) -> None:
        """Called (thread-safely) from the chained SIGTERM/SIGINT handler: the `on_close` hooks
        first (a run ends `interrupted`, and its pages are told so before the streams close)."""
        if not self.on_close:
            self.begin_shutdown("server-shutdown")
            return
        self._closing_task = asyncio.get_running_loop().create_task(self._close_then_shutdown())

    async def _close_then_shutdown(self) -> None:
        await self._run_close_hooks()
        self.begin_shutdown("server-shutdown")

    async def _run_close_hooks(self) -> None:
        for close in self.on_close:
            try:
                await asyncio.wait_for(close(), self.shutdown_timeout)
            except Exception:                 # a stuck or failing hook must not keep the server up
                log.exception("hub: a shutdown hook failed")

    # ---------------------------------------------------------------- app wiring
    def lifespan(self, app: Any = None) -> _HubLifespan:
        """Lifespan for Starlette (`lifespan=hub.lifespan`) and FastHTML (`fast_app(lifespan=hub.lifespan)`).

        Works both as an async context manager (Starlette) and as an async generator (FastHTML).
        """
        return _HubLifespan(self)

    async def on_startup(self) -> None:
        """Bind to the running loop, chain SIGTERM/SIGINT handlers, check the backend answers."""
        self._bind_loop()
        connect = getattr(self.backend, "connect", None)
        if connect is not None:
            await connect()

    async def on_shutdown(self) -> None:
        await self._run_close_hooks()
        await self.shutdown("server-shutdown")


class _HubLifespan:
    """Startup/shutdown of a Hub as an async context manager and as a one-shot async generator."""

    def __init__(self, hub: Hub) -> None:
        self.hub = hub

    async def __aenter__(self) -> None:
        await self.hub.on_startup()

    async def __aexit__(self, *exc: Any) -> None:
        await self.hub.on_shutdown()

    async def _run(self) -> AsyncIterator[None]:
        await self.hub.on_startup()
        try:
            yield
        finally:
            await self.hub.on_shutdown()

    def __aiter__(self) -> AsyncIterator[None]:
        return self._run()


class _Pace:
    """Close events whose `reconnect_after_ms` fill [after, after + window) evenly.

    The k-th of n streams gets a random point of the k-th of n equal slices (a jittered grid):
    every stream its own delay, and the returns arrive at a steady rate rather than in clumps.
    """

    def __init__(self, reason: str, after: int | None, window: int, n: int, event: str) -> None:
        self.reason, self.after, self.window, self.n = reason, after, window, max(1, n)
        self.event = event
        self.k = 0

    def restart(self) -> None:
        self.k = 0

    def next(self) -> bytes:
        slot = self.k % self.n
        self.k += 1
        return self._encode((slot + random.random()) / self.n)

    def any(self) -> bytes:
        return self._encode(random.random())

    def _encode(self, fraction: float) -> bytes:
        if self.after is None:
            return close_frame(self.reason, None, self.event)
        return close_frame(self.reason, self.after + int(fraction * self.window), self.event)


def _check_close(reason: Any, reconnect_after_ms: Any, window_ms: Any) -> None:
    if not check_str("reason", reason) or "\r" in reason or "\n" in reason:
        raise ValueError("reason: expected a non-empty single-line str")
    check_int("reconnect_after_ms", reconnect_after_ms, optional=True)
    check_int("window_ms", window_ms, optional=True)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_FRAMED = re.compile(r"(?:(?:event|data|id|retry):[^\n]*\n)+\n*")   # used with fullmatch


def _end_text(outcome: Any, detail: Any) -> str:
    """Validate `Hub.end`'s arguments: returns the `end` event's data."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome: expected one of {', '.join(map(repr, OUTCOMES))}, got {outcome!r}")
    if detail is not None and (not isinstance(detail, str) or len(detail) > 1000):
        raise ValueError("detail: expected None or a text of at most 1000 characters for the user, "
                         f"got {type(detail).__name__}" + (f" of {len(detail)}" if isinstance(detail, str) else ""))
    return end_data(outcome, detail)


def _checked(data: Any, event: str | None) -> str:
    """Validate an event before it is stored: returns the data text."""
    text = data_text(data)
    if event is not None:
        encode_event(None, event=event, comment="")   # raises ValueError("event: ...")
    return text


def data_text(data: Any) -> str:
    """An event's data as the hub stores it (str, or an FT rendered), checked not to be framed SSE."""
    text = render_data(data)
    if text.endswith("\n\n") and _FRAMED.fullmatch(text):
        raise ValueError("data: is already an SSE message (e.g. from sse_message()); the hub frames "
                         "events itself: pass the content, as publish(channel, data, event=...)")
    return text
