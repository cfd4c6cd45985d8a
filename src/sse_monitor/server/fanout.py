"""The seam between the Hub and its streams.

The Hub fans events out through these two classes, and a stream (`HubStream`, stream.py) reads
them directly on its hot path:

- `Channel`: one channel's shared buffer of encoded events, addressed by absolute position;
- `Subscriber`: one open stream's cursor into that buffer plus a little state.

Everything else a stream needs from its hub is the `StreamHub` protocol below, which `Hub`
implements. stream.py depends on this module only, never on hub.py, so the hub can import its
streams and routes without an import cycle.
"""
from __future__ import annotations

import asyncio
import time
from bisect import bisect_right
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

from .phases import StreamPhase

if TYPE_CHECKING:
    from ..scaleout import Backend
    from .activity import LatencyHistogram

__all__ = ["Channel", "Subscriber", "StreamHub", "Authorize"]

Authorize = Callable[[Any, str], "bool | Awaitable[bool]"]


class StreamHub(Protocol):
    """What a `HubStream` needs from its hub: settings, state flags and six calls.

    Attributes are read on every send, so they are plain attributes, not properties.
    """

    backend: Backend                  # sort_key() drops replayed events seen again live
    authorize: Authorize | None       # asked before a stream opens
    closing: bool                     # shutting down: send `event: close` and end (Hub.phase)
    draining: bool                    # rolling deploy: refuse new streams with 503 (Hub.phase)
    retry_after: int                  # Retry-After seconds of a 503
    retry_bytes: bytes                # the `retry:` frame opening every stream
    heartbeat_bytes: bytes            # the encoded heartbeat event
    heartbeat_generation: int         # bumped by the ticker: a stream behind it sends a heartbeat
    max_send_bytes: int               # bytes coalesced into one send
    max_lag_events: int | None        # a stream further behind is ended

    def refuse_reason(self, channel: str) -> str | None:
        """Why a new stream on `channel` is refused now (a limit is reached), or None."""

    def attach(self, channel: str) -> Subscriber:
        """Register a new subscriber at the channel's end (synchronous: limits stay exact)."""

    def refused(self, reason: str) -> None:
        """A stream was refused before it started (`activity.REFUSE_REASONS`), for the counts."""

    def streaming(self, sub: Subscriber, prelude: bytes) -> None:
        """`sub` is about to send `prelude`: count it, and what it sends from its cursor on."""

    async def resume(self, sub: Subscriber, last_id: str | None) -> bytes:
        """Position `sub` after `last_id`; returns the bytes to send first (replay or reset)."""

    def detach(self, sub: Subscriber, reason: str = "error", tail: int = 0) -> None:
        """The stream ended (`reason`, one of `activity.CLOSE_REASONS`, after sending `tail`
        bytes of its own: a close frame): forget `sub` (and what it was told)."""

    def close_frame_for(self, sub: Subscriber | None) -> bytes | None:
        """The `event: close` frame for `sub` if it must end now (shutdown, or told by a drain);
        None while it may stay. `sub=None`: the frame for a stream opened during shutdown."""

    def count(self, name: str) -> None:
        """Add one to the counter `name` of `Hub.stats()` (e.g. "rejected", "slow_disconnects")."""


class Subscriber:
    """One open stream: a cursor into its channel's shared buffer, its phase (`StreamPhase`, moved
    only through `phases.move`), and a little state."""

    __slots__ = ("channel", "cursor", "waiter", "task", "phase", "client_gone", "hb",
                 "sending_since", "skip_key", "transport", "push", "blocked", "origin", "origin_bytes")

    def __init__(self, channel: Channel, cursor: int, hb: int) -> None:
        self.channel = channel
        self.cursor = cursor                 # absolute position of the next event to send
        self.waiter: asyncio.Future[None] | None = None   # set while parked
        self.task: asyncio.Task[Any] | None = None
        self.phase = StreamPhase.STREAMING   # how this side means to end it (phases.py; `move`)
        self.client_gone = False             # the client went away (in any phase)
        self.hb = hb                         # heartbeat generation last sent
        self.sending_since = 0.0             # loop time a send started, 0 when not sending
        self.skip_key: Any = None            # drop local events with sort_key <= this (resume overlap)
        self.transport: Any = None           # best effort: uvicorn transport, to abort a stuck client
        self.push: Callable[[], bool] | None = None  # sends new bytes inline; False = wake the task
        self.blocked: Any = None             # a send paused by flow control: (send coroutine, what it
                                             # waits for), left to the stream's task to finish
        # What it has sent is read from its cursor, never counted per send (see server/activity.py):
        self.origin = -1                     # cursor when it started streaming; -1: not yet
        self.origin_bytes = 0                # channel bytes before `origin`, less heartbeats (Hub.sent)

    def wake(self) -> None:
        waiter = self.waiter
        if waiter is not None:
            self.waiter = None
            if not waiter.done():
                waiter.set_result(None)


class Channel:
    """A channel's shared buffer of encoded events, addressed by absolute position.

    Event at absolute position p lives at list index `p - offset`; entries before `head` are
    evicted (kept as None until the lists are compacted, which is amortised O(1)).
    `floor_id` is the id just before the oldest buffered event: resuming from it replays all.
    `ends` are running byte totals since the channel was created (`base_bytes`: the total before
    `offset`), so what a stream has sent is a difference of two totals (`bytes_before`).
    """

    __slots__ = ("name", "payloads", "ids", "times", "ends", "index", "offset", "head",
                 "floor_id", "subscribers", "maxlen", "max_age", "_wake_pending", "_loop",
                 "base_bytes", "fanout", "_pending_since", "end_at")

    def __init__(self, name: str, floor_id: str, maxlen: int, max_age: float | None) -> None:
        self.name = name
        self.payloads: list[bytes | None] = []
        self.ids: list[str | None] = []
        self.times: list[float] = []
        self.ends: list[int] = []            # cumulative byte count through each event
        self.index: dict[str, int] = {}      # id -> absolute position
        self.offset = 0
        self.head = 0
        self.floor_id = floor_id
        self.subscribers: set[Subscriber] = set()
        self.maxlen = maxlen
        self.max_age = max_age
        self._wake_pending = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self.base_bytes = 0
        self.fanout: LatencyHistogram | None = None   # observes append -> parked streams written
        self._pending_since = 0.0                     # monotonic time of the first unwoken append
        self.end_at: list[int] = []                   # positions of `end` events (Hub.end), oldest first

    @property
    def start(self) -> int:
        return self.offset + self.head

    @property
    def end(self) -> int:
        return self.offset + len(self.payloads)

    def __len__(self) -> int:
        return len(self.payloads) - self.head

    def append(self, event_id: str, payload: bytes) -> None:
        now = time.monotonic()
        ends = self.ends
        self.index[event_id] = self.offset + len(self.payloads)
        self.payloads.append(payload)
        self.ids.append(event_id)
        self.times.append(now)
        ends.append((ends[-1] if ends else self.base_bytes) + len(payload))
        self.evict(now)
        if self.subscribers and not self._wake_pending:
            loop = self._loop
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:            # another thread (publish_nowait before the hub was bound)
                running = None
            if loop is None or loop.is_closed():
                loop = self._loop = running
            if loop is None:
                return
            self._wake_pending = True
            self._pending_since = now
            if loop is running:
                loop.call_soon(self.wake_all)
            else:
                loop.call_soon_threadsafe(self.wake_all)

    def evict(self, now: float | None = None) -> None:
        """Drop events beyond `maxlen` or older than `max_age` seconds."""
        payloads, ids = self.payloads, self.ids
        n = len(payloads)
        head = self.head
        while n - head > self.maxlen:
            head = self._drop(head)
        if self.max_age is not None:
            limit = (now if now is not None else time.monotonic()) - self.max_age
            times = self.times
            while head < n and times[head] < limit:
                head = self._drop(head)
        self.head = head
        if head > 64 and head * 2 > n:   # compact
            self.base_bytes = self.ends[head - 1]
            del payloads[:head], ids[:head], self.times[:head], self.ends[:head]
            self.offset += head
            self.head = 0

    def _drop(self, head: int) -> int:
        event_id = self.ids[head]
        assert event_id is not None   # positions before head are never dropped twice
        del self.index[event_id]
        self.floor_id = event_id
        self.payloads[head] = None
        self.ids[head] = None
        return head + 1

    def mark_end(self) -> None:
        """The event just appended is the channel's `end`: a stream sends it and finishes."""
        self.end_at.append(self.end - 1)

    def next_end(self, cursor: int) -> int | None:
        """Position of the first `end` event at or after `cursor`, if any (evicted ones forgotten)."""
        ends = self.end_at
        while ends and ends[0] < self.start:
            ends.pop(0)
        for position in ends:
            if position >= cursor:
                return position
        return None

    def ended(self) -> bool:
        """Is the newest event an `end` (nothing was published after it)?"""
        return bool(self.end_at) and self.end_at[-1] == self.end - 1

    def position_after(self, event_id: str) -> int | None:
        """Absolute position just after `event_id`, if the buffer can resume from it."""
        pos = self.index.get(event_id)
        if pos is not None:
            return pos + 1
        if event_id == self.floor_id:
            return self.start
        return None

    def bytes_before(self, position: int) -> int | None:
        """Bytes of every event before absolute `position` since the channel was created; None
        once the buffer has forgotten (compacted) that position."""
        i = position - self.offset
        if i < 0 or i > len(self.ends):
            return None
        return self.ends[i - 1] if i else self.base_bytes

    def read(self, cursor: int, max_bytes: int, stop: int | None = None) -> tuple[bytes, int] | None:
        """Bytes of the events from `cursor` (coalesced up to ~max_bytes, and not past absolute
        position `stop`) and the new cursor.

        None when `cursor` was already evicted: that subscriber could not keep up.
        """
        i = cursor - self.offset
        if i < self.head:
            return None
        payloads = self.payloads
        n = len(payloads) if stop is None else min(len(payloads), stop + 1 - self.offset)
        if i + 1 == n:
            return payloads[i], cursor + 1   # type: ignore[return-value]
        ends = self.ends
        first = payloads[i]
        start_byte = ends[i] - len(first)    # type: ignore[arg-type]
        stop = bisect_right(ends, start_byte + max_bytes, i + 1, n)
        if stop <= i:
            stop = i + 1
        return b"".join(payloads[i:stop]), cursor + (stop - i)   # type: ignore[arg-type]

    def wake_all(self) -> None:
        """Bring every parked subscriber up to date: inline where its send cannot block (no task
        switch per subscriber), otherwise by waking its task."""
        self._wake_pending = False
        since, self._pending_since = self._pending_since, 0.0
        for sub in self.subscribers:
            waiter = sub.waiter
            if waiter is not None:
                push = sub.push
                if push is not None and push():
                    continue
                sub.waiter = None
                if not waiter.done():
                    waiter.set_result(None)
        if since and self.fanout is not None:
            self.fanout.observe(time.monotonic() - since)
