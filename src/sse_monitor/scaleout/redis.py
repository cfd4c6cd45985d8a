"""Redis Streams backend: the Hub across workers and hosts.

One Redis stream per channel (`<prefix><channel>`, capped with `XADD … MAXLEN ~ maxlen`) is the
replay buffer, and event ids are the stream ids, so any worker can resume a client from any
`Last-Event-ID`. Events reach local subscribers through the worker's single reader task, which
hands each event to the Hub's shared-buffer fan-out (never one reader per client):

- `reader="pubsub"` (default, `redis_pubsub.py`): publishing is one script (`XADD` + `PUBLISH`),
  the worker keeps one Pub/Sub connection with one subscription per followed channel, and reads
  a stream only to catch a channel up; cost per event and per open/close, not per channel.
- `reader="xread"`: publishes the same way; one blocking `XREAD` over every followed channel,
  cancelled and re-issued when the set of channels changes (fine for tens of channels).

Redis lost while running: open streams stay up (heartbeats come from the Hub), `publish` raises
`BackendUnavailable`, and the reader retries with backoff and resumes from the last id it saw,
so connected clients get every event exactly once. A resume that Redis cannot answer without a
gap (trimmed beyond the cap, an id from another Redis, Redis data lost) is answered with a reset.

A different Redis instance (restart, failover) is noticed on the reader's next connection
(`redis_instance.InstanceWatch`), before anything is read from it, and every followed channel is
checked against it: where the events after our cursor cannot be proven present, local clients get
a reset. The reader task is supervised: whatever ends it but shutdown, it is restarted.

Needs the optional extra: `pip install fasthtml-sse-monitor[redis]`.
"""
from __future__ import annotations

import asyncio
import logging
import re
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

from ..validate import check_int, check_number, check_str
from ..wire import END_EVENT, ResetReason
from . import BackendUnavailable, ChannelUnusable, Deliver, Replay, StoredEvent

__all__ = ["RedisBackend"]

POOL_WAIT = 10.0     # seconds a command waits for one of the 100 pooled connections

log = logging.getLogger("sse_monitor.redis")

STREAM_ID_RE = re.compile(r"([0-9]{1,20})-([0-9]{1,20})")     # used with fullmatch
# One ':' and only at the end: the key `<prefix><channel>` then splits at its first ':', so two
# hubs with different prefixes never share a key (channels may contain ':').
PREFIX_RE = re.compile(r"[A-Za-z0-9_.\-{}]{1,63}:")
_MAX_PART = 2**64 - 1                         # a stream id is two unsigned 64-bit numbers
_DATA, _EVENT, _TOKEN = "d", "e", "t"      # stream entry fields; t: makes a retried XADD exact
_LOOKBACK = 1000                              # entries searched for a retried XADD's token
_CHECK_BATCH = 500                            # streams checked per pipelined round trip


def _fields(event: str | None, data: str) -> dict[str, str]:
    fields = {_DATA: data, _TOKEN: secrets.token_hex(8)}
    if event is not None:
        fields[_EVENT] = event
    return fields


def _find(entries: list[Any], token: str) -> str | None:
    return next((event_id for event_id, fields in entries if fields.get(_TOKEN) == token), None)


def _tail_id(newest: list[Any]) -> str:
    """The id from `XREVRANGE key + - COUNT 1`: the stream's newest entry, "0-0" if it has none."""
    return newest[0][0] if newest else "0-0"


def _parse_id(event_id: str) -> tuple[int, int] | None:
    match = STREAM_ID_RE.fullmatch(event_id)
    if not match:
        return None
    ms, seq = int(match[1]), int(match[2])
    return (ms, seq) if ms <= _MAX_PART and seq <= _MAX_PART else None


def redacted(url: str) -> str:
    """`url` with its password replaced by `***`, for error messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc[-1]}"))


class RedisBackend:
    """Hub backend on Redis Streams: `Hub(backend=RedisBackend("redis://host:6379/0"))`.

    `maxlen` caps each channel's stream (approximately, as Redis trims whole nodes); it is the
    longest outage a client can resume from. `block_ms` bounds one `XREAD` wait (the reader
    re-issues it). `retry_delay`/`max_retry_delay`: the reader's backoff while Redis is down,
    and before a crashed reader is restarted. `read_count`: entries one `XREAD` takes per
    channel; a worker catching up (after a pause) hands its streams that many at a time, so its
    clients keep up instead of falling behind the Hub's `replay_size` all at once. `reader`:
    "pubsub" (default; thousands of channels per worker) or "xread" (the previous reader; both
    publish with the same script, so workers with either reader share one Redis).
    """

    local_history = False    # Redis holds the history; the Hub's buffer is only a fan-out cache

    def __init__(self, url: str = "redis://127.0.0.1:6379/0", *, prefix: str = "sse-monitor:",
                 maxlen: int = 10_000, block_ms: int = 5_000, connect_timeout: float = 5.0,
                 retry_delay: float = 0.1, max_retry_delay: float = 2.0,
                 start_timeout: float = 5.0, read_count: int = 200, reader: str = "pubsub") -> None:
        if urlsplit(check_str("url", url)).scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"url: expected a redis://, rediss:// or unix:// URL, got {str(url)[:60]!r}")
        if "protocol" in parse_qs(urlsplit(url).query):
            raise ValueError("url: the protocol option is not supported (the backend speaks RESP2)")
        if not PREFIX_RE.fullmatch(check_str("prefix", prefix)):
            raise ValueError("prefix: expected 1-63 letters, digits or _ . - { } followed by one ':' "
                             f"(e.g. 'myapp-sse:'), got {str(prefix)[:70]!r}; a ':' elsewhere would let "
                             "two prefixes share keys, and an empty prefix would read any key")
        check_int("maxlen", maxlen, minimum=1)
        check_int("block_ms", block_ms, minimum=1)
        check_int("read_count", read_count, minimum=1)
        if reader not in ("xread", "pubsub"):
            raise ValueError(f"reader: expected 'xread' or 'pubsub', got {str(reader)[:40]!r}")
        for name, seconds in (("connect_timeout", connect_timeout), ("retry_delay", retry_delay),
                              ("max_retry_delay", max_retry_delay), ("start_timeout", start_timeout)):
            check_number(name, seconds)
        try:
            import redis.asyncio  # noqa: F401  (the optional extra)
        except ImportError:
            raise ImportError("RedisBackend needs the redis package: "
                              "pip install 'fasthtml-sse-monitor[redis]'") from None
        self.url = url
        self.prefix = prefix
        self.maxlen = maxlen
        self.block_ms = block_ms
        self.read_count = read_count
        self.reader = reader
        self.connect_timeout = float(connect_timeout)
        self.retry_delay = float(retry_delay)
        self.max_retry_delay = float(max_retry_delay)
        self.start_timeout = float(start_timeout)
        self._deliver: Deliver | None = None
        self._last: dict[str, str] = {}                  # newest id seen per channel
        self._cursors: dict[str, str | None] = {}        # channels the reader follows -> last id read
        self._started: dict[str, asyncio.Event] = {}     # set once a channel's cursor is known
        self._unusable: dict[str, str] = {}              # followed channels whose key is not a stream
        self._reset: Any = None                          # hub callback: reset(channel, reason)
        self._client: Any = None
        self._sync_client: Any = None
        self._reader_client: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._restart: asyncio.TimerHandle | None = None   # a crashed reader's scheduled restart
        self._crashes = 0                                # reader crashes since its last good read
        self._anchors: dict[str, str] = {}               # token of the entry each cursor is at
        from .redis_instance import InstanceWatch
        self._watch = InstanceWatch()                    # which Redis instance the cursors are from
        self._pubsub: Any = None                         # the Pub/Sub reader (reader="pubsub")
        if reader == "pubsub":
            from .redis_pubsub import PubSubReader
            self._pubsub = PubSubReader(self)
        self._fresh = False                              # reached Redis since the last backoff
        self._scripts: dict[str, Any] = {}              # the publish script per client ("a", "s")
        self._reading: asyncio.Future[Any] | None = None      # the XREAD in flight (cancelled to re-issue)
        self._rewake: asyncio.Future[None] | None = None       # set to stop waiting for that XREAD
        self._loop: asyncio.AbstractEventLoop | None = None
        self.connected = True                             # False while the reader cannot reach Redis
        # For operators (reader_stats, the metrics): counted where they happen, once each.
        self._reader_errors = 0                          # failed reader rounds (Redis errors, instance changes)
        self._reader_restarts = 0                        # reader tasks restarted by the supervisor
        self._read_lag = 0.0                             # delivery time - XADD time of the newest entry read

    def __repr__(self) -> str:
        return f"RedisBackend({redacted(self.url)!r}, prefix={self.prefix!r}, maxlen={self.maxlen})"

    def reader_stats(self) -> dict[str, Any]:
        """How this worker's reader is doing, for operators (`sse_monitor.metrics`): whether it
        reaches Redis, failed rounds and supervisor restarts since start, channels followed, and
        its lag: seconds between the newest entry's `XADD` (its id, Redis's clock) and its
        delivery here. A catch-up after an outage shows as a large lag until it is done."""
        return {"connected": self.connected, "errors": self._reader_errors,
                "restarts": self._reader_restarts, "channels": len(self._cursors),
                "lag_seconds": self._read_lag}

    # ------------------------------------------------------------ clients
    def _new_client(self, read_timeout: float | None) -> Any:
        """The client for commands (publish, history, runs). Its pool of at most 100 connections
        makes a command wait for a free one (up to POOL_WAIT seconds), instead of failing with
        "Too many connections" when more than 100 publish at once (a burst of answers)."""
        import redis.asyncio as aioredis
        pool = aioredis.BlockingConnectionPool.from_url(
            self.url, decode_responses=True, protocol=2, socket_connect_timeout=self.connect_timeout,
            socket_timeout=read_timeout, max_connections=100, timeout=POOL_WAIT)
        return aioredis.Redis.from_pool(pool)

    def _new_reader_client(self) -> Any:
        """The reader's client: no retries of its own (every error reaches `_read_loop`), and
        every connection checks which Redis instance it reached (`InstanceWatch.hook`)."""
        import redis.asyncio as aioredis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff
        return aioredis.from_url(self.url, decode_responses=True, protocol=2,
                                 socket_connect_timeout=self.connect_timeout,
                                 socket_timeout=self.block_ms / 1000 + self.connect_timeout,
                                 retry=Retry(NoBackoff(), 0), redis_connect_func=self._watch.hook)

    def _commands(self) -> Any:
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._loop = loop
            self._client = self._new_client(self.connect_timeout)
            self._reader_client = None
            self._reader = None
            self._restart = None
        return self._client

    def _sync_commands(self) -> Any:
        """A blocking client, for callers without a running loop and for `position`."""
        if self._sync_client is None:
            from redis import Redis
            self._sync_client = Redis.from_url(self.url, decode_responses=True, protocol=2,
                                               socket_connect_timeout=min(self.connect_timeout, 1.0),
                                               socket_timeout=self.connect_timeout)
        return self._sync_client

    def _unavailable(self, doing: str, exc: BaseException) -> BackendUnavailable:
        return BackendUnavailable(f"Redis at {redacted(self.url)} is unavailable: {doing} failed "
                                  f"({type(exc).__name__}: {exc})")

    def _publish_error(self, channel: str, exc: BaseException) -> BackendUnavailable:
        if "WRONGTYPE" in str(exc):
            return ChannelUnusable(self._wrong_type(channel))
        return self._unavailable(f"publishing to {channel!r}", exc)

    def _key(self, channel: str) -> str:
        return self.prefix + channel

    # ------------------------------------------------------------ Backend protocol
    def bind(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def bind_reset(self, reset: Any) -> None:
        """The Hub's `reset(channel, reason)`: a followed stream lost events (Redis data lost)."""
        self._reset = reset

    async def connect(self) -> None:
        """Check Redis answers (called on the Hub's startup): a clear error instead of a hang."""
        from redis.exceptions import RedisError
        try:
            await self._commands().ping()
        except (RedisError, OSError) as exc:
            raise self._unavailable("connecting", exc) from None

    async def publish(self, channel: str, event: str | None, data: str) -> str:
        from redis.exceptions import ConnectionError, RedisError, TimeoutError
        client, key, fields = self._commands(), self._key(channel), _fields(event, data)
        try:
            try:
                event_id = await self._add(client, key, fields)
            except (ConnectionError, TimeoutError):
                # A stale connection (e.g. Redis restarted): it may have died before or after
                # Redis stored the event. Look for it by its token, then add it once more.
                recent = await client.xrevrange(key, max="+", min="-", count=_LOOKBACK)
                event_id = _find(recent, fields[_TOKEN]) or await self._add(client, key, fields)
        except (RedisError, OSError) as exc:
            raise self._publish_error(channel, exc) from None
        self._note(channel, event_id)
        return str(event_id)

    def publish_nowait(self, channel: str, event: str | None, data: str) -> str:
        """Synchronous publish (no loop running in this thread): a blocking XADD."""
        from redis.exceptions import ConnectionError, RedisError, TimeoutError
        client, key, fields = self._sync_commands(), self._key(channel), _fields(event, data)
        try:
            try:
                event_id = self._add(client, key, fields)
            except (ConnectionError, TimeoutError):
                recent = client.xrevrange(key, max="+", min="-", count=_LOOKBACK)
                event_id = _find(recent, fields[_TOKEN]) or self._add(client, key, fields)
        except (RedisError, OSError) as exc:
            raise self._publish_error(channel, exc) from None
        self._note(channel, event_id)
        return str(event_id)

    def _add(self, client: Any, key: str, fields: dict[str, str]) -> Any:
        """The script doing XADD then PUBLISH, whichever reader this worker uses (so workers
        with either reader can share Redis); an awaitable for the async client, the id for the
        blocking one."""
        script = self._scripts.get(type(client).__name__)
        if script is None:
            from .redis_pubsub import PUBLISH_SCRIPT
            script = self._scripts[type(client).__name__] = client.register_script(PUBLISH_SCRIPT)
        event = fields.get(_EVENT)
        return script(keys=[key], args=[self.maxlen, fields[_TOKEN], "0" if event is None else "1",
                                        event or "", fields[_DATA]], client=client)

    async def history(self, channel: str, last_id: str, limit: int) -> Replay:
        """Events after `last_id` from the stream, or why they cannot be replayed without a gap."""
        from redis.exceptions import RedisError, ResponseError
        after = _parse_id(last_id)
        if after is None:
            return Replay(reset="malformed")
        await self.ready(channel)      # fix where live events start first: history + live = no gap
        client, key = self._commands(), self._key(channel)
        try:
            try:
                info = await client.xinfo_stream(key)
            except ResponseError as exc:
                if "WRONGTYPE" in str(exc):
                    raise ChannelUnusable(self._wrong_type(channel)) from None
                # no such key: Redis has never seen this channel
                return Replay() if after == (0, 0) else Replay(reset="unknown-id")
            reason = _gap(after, info)
            if reason is not None:
                return Replay(reset=reason)
            entries = await client.xrange(key, min="(" + last_id, max="+", count=limit + 1)
        except ResponseError as exc:
            if "WRONGTYPE" in str(exc):
                raise ChannelUnusable(self._wrong_type(channel)) from None
            return Replay(reset="unknown-id")   # e.g. no id after the largest possible one
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"reading the history of {channel!r}", exc) from None
        if len(entries) > limit:
            return Replay(reset="too-old")
        events = [StoredEvent(event_id, fields.get(_EVENT), fields.get(_DATA, ""))
                  for event_id, fields in entries]
        if events:
            self._note(channel, events[-1].id)
            return Replay(events=events)
        last = info.get("last-entry")
        if last and last[1].get(_EVENT) == END_EVENT and str(last[0]) == last_id:
            return Replay(end=StoredEvent(str(last[0]), END_EVENT, last[1].get(_DATA, "")))
        return Replay()

    async def ready(self, channel: str) -> None:
        """Wait until this worker's reader knows where `channel`'s live events start, so a
        stream opened after this gets every event published after it (no start-up window)."""
        started = self._started.get(channel)
        if started is not None and not started.is_set():
            try:
                await asyncio.wait_for(started.wait(), self.start_timeout)
            except asyncio.TimeoutError:
                raise BackendUnavailable(f"Redis at {redacted(self.url)} is unavailable: the "
                                         f"reader for {channel!r} did not start") from None
        if channel in self._unusable:
            raise ChannelUnusable(self._unusable[channel])

    def _wrong_type(self, channel: str) -> str:
        return (f"channel {channel!r} cannot be streamed: Redis key {self._key(channel)!r} "
                "holds something other than a stream")

    def sort_key(self, event_id: str) -> tuple[int, int]:
        return _parse_id(event_id) or (-1, -1)

    def position(self, channel: str) -> str:
        """The id of `channel`'s newest event ("0-0": none yet), "" when Redis cannot say.

        Known without asking while this worker's reader follows the channel; otherwise one
        blocking round trip to Redis (a page render for a channel this worker does not stream).
        """
        started = self._started.get(channel)
        if started is not None and started.is_set():
            return self._last.get(channel, "0-0")
        if not self.connected:
            return ""
        from redis.exceptions import RedisError
        try:
            newest = self._sync_commands().xrevrange(self._key(channel), max="+", min="-", count=1)
        except (RedisError, OSError):
            return ""
        if newest:
            self._note(channel, _tail_id(newest))
        return _tail_id(newest)

    def last_id(self, channel: str) -> str | None:
        return self._last.get(channel)

    def origin(self, channel: str) -> str:
        """The id before a channel's first event: resuming from it replays the whole stream."""
        return "0-0"

    def run_store(self) -> Any:
        """Where `Runs` claims and tracks runs: this Redis, for every worker."""
        from .redis_runs import RedisRunStore
        return RedisRunStore(self)

    async def expire(self, channel: str, ms: int) -> None:
        """Let `channel`'s stream expire in `ms` (a finished run's history, `Runs.keep_seconds`)."""
        from redis.exceptions import RedisError
        try:
            await self._commands().pexpire(self._key(channel), max(ms, 1))
        except (RedisError, OSError) as exc:
            raise self._unavailable(f"expiring {channel!r}", exc) from None
        if channel not in self._cursors:
            self._last.pop(channel, None)

    def open_channel(self, channel: str) -> None:
        if channel in self._cursors:
            return
        self._cursors[channel] = None          # the reader looks up where the stream is now
        self._started[channel] = asyncio.Event()
        if self._pubsub is not None:
            self._pubsub.opened(channel)
        self._wake_reader()

    def close_channel(self, channel: str) -> None:
        self._cursors.pop(channel, None)
        self._anchors.pop(channel, None)
        self._unusable.pop(channel, None)
        started = self._started.pop(channel, None)
        if started is not None:
            started.set()                      # let a waiting history() go on (and fail/answer)
        if self._pubsub is not None:
            self._pubsub.closed(channel)
        if not self._cursors:
            self._wake_reader()                # nothing to follow: free the blocked connection

    async def aclose(self) -> None:
        reader, self._reader = self._reader, None
        if self._restart is not None:
            self._restart.cancel()
            self._restart = None
        if reader is not None and not reader.done():
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)
        for name in ("_client", "_reader_client"):
            client = getattr(self, name)
            setattr(self, name, None)
            if client is not None:
                await client.aclose()
        if self._sync_client is not None:
            self._sync_client.close()
            self._sync_client = None

    # ------------------------------------------------------------ the reader
    def _note(self, channel: str, event_id: str) -> None:
        last = self._last.get(channel)
        if last is None or self.sort_key(event_id) > self.sort_key(last):
            self._last[channel] = event_id

    def _wake_reader(self) -> None:
        self._commands()
        if self._reader is None or self._reader.done():
            if self._cursors and self._restart is None:    # (a crashed reader restarts on its own)
                self._start_reader(check=False)
        elif self._reading is not None and not self._reading.done():
            self._reading.cancel()             # re-issue XREAD with the new set of channels
            if self._rewake is not None and not self._rewake.done():
                self._rewake.set_result(None)  # without waiting for the cancel to land (below)

    # ------------------------------------------------------------ supervision
    def _start_reader(self, check: bool) -> None:
        self._reader = asyncio.get_running_loop().create_task(
            self._read_loop(check), name="sse-monitor-redis-reader")
        self._reader.add_done_callback(self._reader_ended)

    def _reader_ended(self, task: asyncio.Task[None]) -> None:
        """The reader ends by itself only when no channel is followed; `aclose` forgets it first.
        Any other end (a bug, an exception we did not foresee, a stray cancel) would leave this
        worker's streams silent with heartbeats going on: restart it, with backoff, and have it
        look for lost events first (its clients get a reset if the stream moved past them)."""
        if task is not self._reader:
            return                             # aclose, or an old event loop's reader
        exc = None if task.cancelled() else task.exception()
        if not task.cancelled() and exc is None and not self._cursors:
            return                             # nothing left to follow
        self._reader = None
        delay = min(self.retry_delay * 2 ** self._crashes, self.max_retry_delay)
        self._crashes += 1
        self._reader_restarts += 1
        why = "it was cancelled" if task.cancelled() else f"{type(exc).__name__}: {exc}" if exc else "it ended"
        log.error("Redis reader for %s stopped (%s); restarting it in %.2f s",
                  redacted(self.url), why, delay, exc_info=exc)
        loop = task.get_loop()
        if not loop.is_closed():
            self._restart = loop.call_later(delay, self._restart_reader)

    def _restart_reader(self) -> None:
        self._restart = None
        if self._cursors and (self._reader is None or self._reader.done()):
            log.warning("Redis reader for %s restarted; checking followed streams for gaps",
                        redacted(self.url))
            self._start_reader(check=True)

    # ------------------------------------------------------------ the reader
    async def _read_loop(self, check: bool) -> None:
        """Follow every channel with local subscribers with one blocking `XREAD`. `check`: look
        for lost data before reading (after an error, or a restart of this task)."""
        from redis.exceptions import RedisError, ResponseError

        from .redis_instance import InstanceChanged
        delay = self.retry_delay
        if self._reader_client is None:
            self._reader_client = self._new_reader_client()
        client = self._reader_client
        while self._cursors:
            try:
                if self._watch.verified is None or self._watch.changed:
                    await self._verify_instance(client)
                if self._pubsub is not None:
                    if check:
                        await self._check_streams(client)
                        check = False
                    await self._pubsub.run(client)     # until an error, or no channel is left
                    continue
                await self._start_cursors(client)
                if check:
                    await self._check_streams(client)
                    check = False
                if None in self._cursors.values():
                    continue                   # opened during the awaits above: start it first, not
                                               # after an XREAD that leaves it out (up to block_ms)
                streams = {self._key(ch): cur for ch, cur in self._cursors.items() if cur is not None}
                if not streams:
                    continue
                self._reading = asyncio.ensure_future(self._xread(client, streams))
                # Wait for the reply or a change of channels. A cancelled XREAD can take until its
                # BLOCK ends to finish (redis-py 8 wraps it in a coroutine that a cancel does not
                # always reach at once), so the reader does not wait for it: it is left to end on its
                # own (redis-py drops its connection) and the new XREAD takes another connection.
                self._rewake = asyncio.get_running_loop().create_future()
                await asyncio.wait({self._reading, self._rewake}, return_when=asyncio.FIRST_COMPLETED)
                if not self._reading.done() or self._reading.cancelled():
                    continue                   # channels changed
                reply = self._reading.result()
            except InstanceChanged as exc:     # verified at the top of the next round
                self._reader_errors += 1
                log.warning("%s", exc)
                continue
            except ResponseError as exc:       # a followed key became something else than a stream
                self._reader_errors += 1
                log.warning("%s", self._unavailable("reading", exc))
                check = True
                await asyncio.sleep(delay)
                continue
            except (RedisError, OSError) as exc:
                self._reader_errors += 1
                check = True                   # Redis may come back without our streams' data
                if self.connected:
                    log.warning("%s", self._unavailable("reading", exc))
                self.connected = False
                if self._fresh:                # the Pub/Sub reader had reached Redis since
                    delay, self._fresh = self.retry_delay, False
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.max_retry_delay)
                continue
            finally:
                if self._reading is not None and not self._reading.done():
                    self._reading.cancel()     # our task is being cancelled, or channels changed
                    self._reading.add_done_callback(_consume)
                self._reading = self._rewake = None
            if not self.connected:
                log.warning("Redis at %s is reachable again; streams resume", redacted(self.url))
            self.connected, delay, self._crashes = True, self.retry_delay, 0
            if not reply:
                check = True                   # idle: cheap moment to notice a FLUSHALL
            self._dispatch(reply)

    def _reached(self) -> None:
        """The reader reached Redis (again)."""
        if not self.connected:
            log.warning("Redis at %s is reachable again; streams resume", redacted(self.url))
        self.connected, self._crashes, self._fresh = True, 0, True

    async def _xread(self, client: Any, streams: dict[str, str]) -> Any:
        """The blocking XREAD, created only once its task runs: a task cancelled before it
        starts then leaves no never-awaited redis-py coroutine behind."""
        return await client.xread(streams, count=self.read_count, block=self.block_ms)

    async def _verify_instance(self, client: Any) -> None:
        """Which Redis instance is this? The first one: note it. Another one than the cursors
        come from (restart, failover): check every followed channel against it before reading
        on (`_check_streams` with `trusted`); loop until the instance stays the same throughout."""
        from .redis_instance import describe
        watch = self._watch
        watch.verifying = True
        try:
            while True:
                run_id, durable = await describe(client)
                if watch.verified is not None and run_id != watch.verified:
                    log.warning("Redis at %s is another instance than before (restarted or failed "
                                "over; %s): checking followed streams", redacted(self.url),
                                "it keeps every acknowledged write" if durable and watch.durable
                                else "acknowledged writes may be lost")
                    await self._check_streams(client, trusted=durable and watch.durable)
                if (await describe(client))[0] == run_id:
                    break
            watch.verified, watch.durable, watch.changed = run_id, durable, False
        finally:
            watch.verifying = False

    async def _check_streams(self, client: Any, trusted: bool | None = None,
                             channels: list[str] | None = None) -> None:
        """Did a followed stream lose events after our cursor? Then its local subscribers get a
        reset, then every event the stream holds that they have not had. Never a silent gap.

        `trusted` None: the same Redis instance as before (after an error, or while idle): look
        for a stream re-created or truncated past our cursor (FLUSHALL, DEL). True/False: another
        instance (`_verify_instance`); a channel then goes on without a reset only if the new
        instance keeps every acknowledged write (True) and still holds the entry our cursor is
        at (or the cursor is at the start), since nothing else proves the events are there.
        `channels`: only those (the Pub/Sub reader's rolling sweep), else every followed one."""
        from redis.exceptions import ResponseError
        chosen = self._cursors if channels is None else {ch: self._cursors.get(ch) for ch in channels}
        followed = [(ch, cur) for ch, cur in chosen.items() if cur is not None]
        for start in range(0, len(followed), _CHECK_BATCH):
            batch = followed[start:start + _CHECK_BATCH]
            pipe = client.pipeline(transaction=False)
            for channel, cursor in batch:
                pipe.xinfo_stream(self._key(channel))
                if trusted is not None:
                    pipe.xrange(self._key(channel), min=cursor, max=cursor, count=1)
            replies = iter(await pipe.execute(raise_on_error=False))
            for channel, cursor in batch:
                info = next(replies)
                entry = next(replies) if trusted is not None else None
                if isinstance(info, ResponseError):
                    if "WRONGTYPE" in str(info):
                        self._give_up(channel)
                        if self._reset is not None:
                            self._reset(channel, "unusable")
                        continue
                    info = None                # no such key
                elif isinstance(info, Exception):
                    raise info
                if self._cursors.get(channel) != cursor:
                    continue                   # closed or moved on meanwhile
                anchored = cursor == "0-0" or (
                    isinstance(entry, list) and bool(entry)
                    and entry[0][1].get(_TOKEN) == self._anchors.get(channel, entry[0][1].get(_TOKEN)))
                reason, resume = _verdict(cursor, info, None if trusted is None else trusted and anchored)
                if reason is None:
                    continue
                log.warning("Redis stream %r lost events after %s (%s): resetting its clients",
                            self._key(channel), cursor, reason)
                self._cursors[channel] = resume    # the reset's id: resuming from it misses nothing
                self._anchors.pop(channel, None)
                self._last[channel] = resume
                if self._reset is not None:
                    self._reset(channel, reason)

    def _give_up(self, channel: str) -> None:
        """The channel's key is not a stream: stop following it (its streams get an error)."""
        self._unusable[channel] = self._wrong_type(channel)
        self._cursors.pop(channel, None)
        started = self._started.get(channel)
        if started is not None:
            started.set()

    async def _start_cursors(self, client: Any) -> None:
        """A newly followed channel starts after the stream's current last entry (repeat until
        none is left: channels opened while we were awaiting Redis count too)."""
        from redis.exceptions import ResponseError
        while pending := [ch for ch, cur in self._cursors.items() if cur is None]:
            for channel in pending:
                try:
                    newest = await client.xrevrange(self._key(channel), max="+", min="-", count=1)
                except ResponseError as exc:
                    if "WRONGTYPE" not in str(exc):
                        raise
                    if self._cursors.get(channel, "") is None:
                        self._give_up(channel)
                    continue
                if self._cursors.get(channel, "") is not None:
                    continue                   # closed (or closed and reopened) meanwhile
                start = _tail_id(newest)
                self._cursors[channel] = start
                if newest:
                    self._note(channel, start)
                    self._anchors[channel] = newest[0][1].get(_TOKEN)
                self._started[channel].set()

    def _dispatch(self, reply: Any) -> None:
        """Hand each entry to the Hub. A cursor moves past an entry once it is delivered; an
        entry the Hub cannot take (e.g. a foreign writer's bad event name) is skipped, logged,
        and its channel's clients get a reset, so one bad entry never stops the reader."""
        deliver = self._deliver
        if deliver is None or not reply:
            return
        prefix_len = len(self.prefix)
        for key, entries in reply:             # RESP2: [[key, [(id, fields), ...]], ...]
            channel = key[prefix_len:]
            if self._cursors.get(channel) is None:
                continue                       # closed, or closed and reopened: it starts afresh
            skipped = False
            for event_id, fields in entries:
                self._note(channel, event_id)
                try:
                    deliver(channel, event_id, fields.get(_EVENT), fields.get(_DATA, ""))
                except Exception:
                    log.exception("Redis stream %r: entry %s cannot be delivered; skipped, its "
                                  "clients get a reset", key, event_id)
                    skipped = True
                self._cursors[channel] = event_id
                self._anchors[channel] = fields.get(_TOKEN)
            if entries:
                added = _parse_id(entries[-1][0])
                if added is not None:
                    self._read_lag = max(0.0, time.time() - added[0] / 1000)
            if skipped and self._reset is not None:
                self._reset(channel, "data-lost")


def _consume(future: asyncio.Future[Any]) -> None:
    """Done callback of an abandoned XREAD: retrieve its outcome so asyncio logs nothing."""
    if not future.cancelled():
        future.exception()


def _verdict(cursor: str, info: dict[str, Any] | None, trusted: bool | None) -> tuple[ResetReason | None, str]:
    """(reset reason or None, where to read on) for a followed stream at `cursor`, from its XINFO
    STREAM (None: no such key). `trusted`: see `RedisBackend._check_streams`."""
    after = _parse_id(cursor) or (0, 0)
    if info is None:                           # a cursor past the start: its events are gone
        lost = after != (0, 0) or trusted is False
        return ("data-lost" if lost else None), "0-0"
    reason = _gap(after, info)
    reason = "data-lost" if reason == "unknown-id" or (reason is None and trusted is False) else reason
    last_generated = str(info.get("last-generated-id") or "0-0")
    first = info.get("first-entry")
    if after > (_parse_id(last_generated) or (0, 0)):
        resume = last_generated                # a stale copy: what it adds from now on is new
    elif first and after < (_parse_id(first[0]) or (0, 0)):
        resume = "0-0"                         # re-created or trimmed past us: all it holds is new
    else:
        resume = cursor
    return reason, resume


def _gap(after: tuple[int, int], info: dict[str, Any]) -> ResetReason | None:
    """Why resuming after `after` would skip events, from XINFO STREAM (None: no gap)."""
    last_generated = _parse_id(str(info.get("last-generated-id") or "0-0")) or (0, 0)
    max_deleted = _parse_id(str(info.get("max-deleted-entry-id") or "0-0")) or (0, 0)
    first = info.get("first-entry")
    first_id = _parse_id(first[0]) if first else None
    trimmed = int(info.get("entries-added") or 0) > int(info.get("length") or 0)   # Redis >= 7
    if after > last_generated:
        return "unknown-id"                    # not from this stream (another Redis, data lost)
    if max_deleted > after:
        return "too-old"                       # events after it were deleted
    if after < (first_id or last_generated) and after != last_generated:
        if trimmed:
            return "too-old"                   # the cap trimmed events after it
        if after != (0, 0) and first_id is not None:
            return "unknown-id"                # never in this stream (it was re-created)
    return None
