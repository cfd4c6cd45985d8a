"""The seam between the Hub and where events are stored and numbered.

The Hub always fans events out locally the same way: per process and per channel one shared
buffer of encoded bytes that every local subscriber reads with its own cursor. A backend only
decides *ids* and *history*:

- `publish(channel, event, data)` stores the event somewhere and returns its id. The event
  reaches local subscribers when the backend calls the `deliver` callback it was bound to:
  the in-memory backend does so at once; a Redis Streams backend does so from ONE blocking
  `XREAD` reader per worker per channel, started by `open_channel` (first local subscriber)
  and stopped by `close_channel` (last one gone), so every worker's buffer gets the same
  events in the same order whichever worker published them.
- `history(channel, last_id, limit)` answers a resume the local buffer cannot (the id is
  older than the buffer, or this worker has not seen it): the missed events, or a reason to
  send `event: reset` instead.
- `sort_key(event_id)` orders ids so the Hub can drop events it would otherwise send twice
  (history fetched remotely overlapping events arriving locally).
- `position(channel)` is an id meaning "now" for a channel, even with no event yet; a page
  puts it in its SSE URL so nothing published between render and connect is lost ("" if it
  cannot be known). It is synchronous. Only with `local_history` does a new local buffer use
  it as its "floor" (resuming from exactly that id replays the whole buffer); otherwise a
  resume the buffer cannot answer goes to `history`.
- `connect()` (optional, async): called on the Hub's startup; raise `BackendUnavailable`
  with a clear message when the store cannot be reached.
- `ready(channel)` (optional, async): awaited before a stream opens; return once events
  published from now on are sure to reach the channel's local buffer.
- `local_history`: True when the Hub's buffer is the only history (memory backend). False
  (Redis): the Hub drops a channel's local buffer when its last local subscriber leaves,
  because `close_channel` stops the reader and the buffer would go stale.

Contract for `deliver`: call it from the event loop thread, in id order, once per event.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..validate import check_str
from ..wire import ResetReason

__all__ = ["Backend", "BackendUnavailable", "ChannelUnusable", "Deliver", "Replay", "StoredEvent", "backend_from_url"]


class BackendUnavailable(ConnectionError):
    """The backend's store (e.g. Redis) cannot be reached: publishing or a resume failed."""


class ChannelUnusable(BackendUnavailable):
    """This one channel cannot be streamed (e.g. its Redis key is not a stream): HTTP 409."""


@dataclass(frozen=True)
class StoredEvent:
    """An event as a backend keeps it: id, event name (None = "message") and data text."""

    id: str
    event: str | None
    data: str


@dataclass(frozen=True)
class Replay:
    """Answer to a resume: the missed events oldest first, or `reset` = why they cannot be sent."""

    events: list[StoredEvent] = field(default_factory=list)
    reset: ResetReason | None = None     # "unknown-id", "too-old" or "malformed"
    # Nothing was missed, and the channel's newest event is its `end` (Hub.end): this one, which
    # the hub sends again so the page finishes (a backend that cannot tell leaves it None).
    end: StoredEvent | None = None
    # With `reset`: none of what the hub's own buffer holds can be on the client (its id is of an
    # earlier boot, or older than the buffer), so the hub sends all of it after the reset.
    buffer_is_new: bool = False


# deliver(channel, event_id, event_name, data_text): append to the local shared buffer.
Deliver = Callable[[str, str, "str | None", str], None]


class Backend(Protocol):
    """What the Hub needs from a backend (see the module docstring)."""

    local_history: bool

    def bind(self, deliver: Deliver) -> None: ...
    async def publish(self, channel: str, event: str | None, data: str) -> str: ...
    def publish_nowait(self, channel: str, event: str | None, data: str) -> str: ...
    async def history(self, channel: str, last_id: str, limit: int) -> Replay: ...
    def sort_key(self, event_id: str) -> Any: ...
    def position(self, channel: str) -> str: ...
    def last_id(self, channel: str) -> str | None: ...
    def open_channel(self, channel: str) -> None: ...
    def close_channel(self, channel: str) -> None: ...
    async def aclose(self) -> None: ...


def backend_from_url(url: str) -> Backend:
    """A backend chosen by URL: `memory://` (the default, one process) or `redis://…`,
    `rediss://…` (TLS), `unix://…` (Redis Streams, needs the `redis` extra)."""
    if "://" not in check_str("backend", url):
        raise ValueError(f"backend: expected a URL such as memory:// or redis://host:6379/0, got {str(url)[:60]!r}")
    scheme = url.split("://", 1)[0].lower()
    if scheme == "memory":
        from .memory import MemoryBackend
        return MemoryBackend()
    if scheme in ("redis", "rediss", "unix"):
        from .redis import RedisBackend
        return RedisBackend(url)
    raise ValueError(f"backend: unknown scheme {scheme!r} (use memory://, redis://, rediss:// or unix://)")
