"""The Pub/Sub reader of `RedisBackend(reader="pubsub")`: live events at a cost per event, not per channel.

The XREAD reader re-issues one `XREAD` over every followed key whenever a channel opens or
closes, and each of those costs Redis and the worker time in proportion to the channel count
(36 ms over 10,000 keys). Here:

- Publishing is one Lua script (`PUBLISH_SCRIPT`): `XADD`, then `PUBLISH` on the stream's key of
  `id`, `prev` (the stream's newest id before this entry), token, event and data. Atomic, one
  round trip, and the live message says which entry came just before it.
- Each worker keeps ONE Pub/Sub connection (with the same `run_id` check on connect as the XREAD
  reader) and sends `SUBSCRIBE`/`UNSUBSCRIBE` for one channel when it opens/closes.
- No gap, no duplicate: a live message is delivered at once only when its `prev` is the channel's
  cursor. Otherwise (the subscription is new, the connection was lost, a writer bypassed the
  script, data was lost) the channel catches up: `XINFO STREAM` + `XRANGE` from its cursor
  (pipelined over many channels), resetting its clients where the stream cannot prove the events
  are there; live messages arriving meanwhile are held and released after it, and ids at or
  below the cursor are dropped.

The reader runs as the backend's supervised reader task (`RedisBackend._read_loop`); everything
it delivers goes through `RedisBackend._dispatch`, exactly like the XREAD reader's entries.
"""
from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from .resp import ReplyParser

if TYPE_CHECKING:
    from .redis import RedisBackend

__all__ = ["PUBLISH_SCRIPT", "PubSubReader", "parse_message"]

# KEYS[1] stream key; ARGV: maxlen, token, has-event ("0"/"1"), event, data.
PUBLISH_SCRIPT = """
local newest = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
local prev = '0-0'
if #newest > 0 then prev = newest[1][1] end
local id
if ARGV[3] == '1' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[5], 't', ARGV[2], 'e', ARGV[4])
else
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'd', ARGV[5], 't', ARGV[2])
end
local nl = '\\n'
redis.call('PUBLISH', KEYS[1], id .. nl .. prev .. nl .. ARGV[2] .. nl .. ARGV[3] .. ARGV[4] .. nl .. ARGV[5])
return id
"""
_BATCH = 500          # channels per SUBSCRIBE command and per pipelined catch-up round trip
_SWEEP = 100          # channels whose key type one sweep checks


def parse_message(text: str) -> tuple[str, str, dict[str, str]] | None:
    """(id, prev, stream fields) from a live message, None if it is not one of ours."""
    parts = text.split("\n", 4)
    if len(parts) != 5 or parts[3][:1] not in ("0", "1"):
        return None
    event_id, prev, token, event, data = parts
    fields = {"d": data, "t": token}
    if event[0] == "1":
        fields["e"] = event[1:]
    return event_id, prev, fields


def _socket_stream(connection: Any) -> asyncio.StreamReader | None:
    """The StreamReader under a redis-py asyncio connection (its `_reader`, in redis-py 5 to 8), if
    it has one: the reader then parses replies itself."""
    stream = getattr(connection, "_reader", None)
    return stream if isinstance(stream, asyncio.StreamReader) else None


def _reply_reader(connection: Any) -> Callable[[], Awaitable[list[Any]]]:
    """A function that waits for the next replies on `connection`: all that its socket's next read
    completes (`ReplyParser`), or, without the socket's stream (another redis-py), one reply by
    redis-py's own parser."""
    from redis.exceptions import ConnectionError as RedisConnectionError

    stream = _socket_stream(connection)
    if stream is None:
        async def one_reply() -> list[Any]:
            return [await connection.read_response(timeout=None)]
        return one_reply
    parser = ReplyParser()

    async def replies_of_one_read() -> list[Any]:
        data = await stream.read(65536)
        if not data:
            raise RedisConnectionError("Redis closed the Pub/Sub connection")
        return parser.feed(data)
    return replies_of_one_read


class PubSubReader:
    """One worker's Pub/Sub connection and the per-channel catch-up state (see the module doc).

    `run(client)` runs inside the backend's reader task until an error ends it; the backend then
    reconnects, which subscribes every followed channel again and catches each one up."""

    def __init__(self, backend: RedisBackend) -> None:
        self.backend = backend
        self.to_subscribe: dict[str, None] = {}     # channels opened, SUBSCRIBE not sent yet
        self.to_unsubscribe: dict[str, None] = {}   # channels closed, UNSUBSCRIBE not sent yet
        self.unconfirmed: dict[str, int] = {}       # SUBSCRIBEs sent and not yet confirmed
        self.held: dict[str, list[tuple[str, str, dict[str, str]]]] = {}   # live, held meanwhile
        self.catch_up: dict[str, None] = {}         # channels to read from their cursor
        self.wake: asyncio.Future[None] | None = None
        self.connection: Any = None
        self.sweep_from = 0                         # where the next rolling sweep starts

    # ------------------------------------------------------------ called by the backend
    def opened(self, channel: str) -> None:
        self.to_unsubscribe.pop(channel, None)
        self.to_subscribe[channel] = None
        self.held[channel] = []                     # held until its cursor is known
        self._wake()

    def closed(self, channel: str) -> None:
        self.to_subscribe.pop(channel, None)
        self.held.pop(channel, None)
        self.catch_up.pop(channel, None)
        self.to_unsubscribe[channel] = None
        self._wake()

    def _wake(self) -> None:
        if self.wake is not None and not self.wake.done():
            self.wake.set_result(None)

    # ------------------------------------------------------------ the loop
    async def run(self, client: Any) -> None:
        """Connect, subscribe every followed channel, then serve messages, subscription changes and
        catch-ups until the connection fails (the exception propagates to the reader loop)."""
        backend = self.backend
        self.connection = connection = backend._reader_client.connection_pool.make_connection()
        reading: asyncio.Future[Any] | None = None
        try:
            await connection.connect()             # runs InstanceWatch.hook: another Redis raises
            backend._reached()
            self.unconfirmed.clear()
            self.to_unsubscribe.clear()
            self.to_subscribe = dict.fromkeys(backend._cursors)
            for channel in backend._cursors:
                self.held.setdefault(channel, [])   # all of them catch up once subscribed again
            loop, period = asyncio.get_running_loop(), backend.block_ms / 1000
            sweep_at = loop.time() + period
            while backend._cursors or self.unconfirmed:
                # A wake-up from here on (a channel opened or closed, a reply that brings work)
                # ends the wait below at once: this round's awaits (SUBSCRIBE, a sweep) may come
                # after it, and it must not wait for the next sweep.
                self.wake = loop.create_future()
                await self._send(connection)
                # catch up in batches: once the SUBSCRIBEs sent are all confirmed (they come
                # together), or a batch is full; not one round trip per confirmation
                if self.catch_up and (not self.unconfirmed or len(self.catch_up) >= _BATCH):
                    await self._catch_up(client)
                    continue
                if loop.time() >= sweep_at:
                    await self._sweep(client)
                    await connection.send_command("PING")   # prove the connection is alive
                    sweep_at = loop.time() + period
                if reading is None:                 # replies are handled as they come, by
                    reading = asyncio.ensure_future(self._receive(connection))   # their own loop
                done, _ = await asyncio.wait({reading, self.wake}, timeout=max(sweep_at - loop.time(), 0),
                                             return_when=asyncio.FIRST_COMPLETED)
                if reading in done:
                    reading.result()                # the connection failed: raise it
        finally:
            self.wake = None
            if reading is not None and not reading.done():
                reading.cancel()
                await asyncio.gather(reading, return_exceptions=True)
            self.connection = None
            await connection.disconnect()

    async def _sweep(self, client: Any) -> None:
        """Every `block_ms`, ask `TYPE` of the next `_SWEEP` followed channels and check those whose
        key is gone or is no longer a stream (`_check_streams`: reset, or end their streams).
        Nothing else notices that on a channel nobody publishes to; any other loss shows at the
        channel's next event (its `prev` is not the cursor). Costs the same whatever the channel
        count; each channel is seen every `block_ms × channels / _SWEEP`."""
        channels = list(self.backend._cursors)
        if not channels:
            return
        start = self.sweep_from % len(channels)
        chosen = channels[start:start + _SWEEP]
        self.sweep_from = start + len(chosen)
        pipe = client.pipeline(transaction=False)
        for channel in chosen:
            pipe.type(self.backend._key(channel))
        types = await pipe.execute()
        odd = [ch for ch, kind in zip(chosen, types, strict=True) if kind != "stream"]
        if odd:
            await self.backend._check_streams(client, channels=odd)

    async def _send(self, connection: Any) -> None:
        while self.to_unsubscribe:
            batch = list(self.to_unsubscribe)[:_BATCH]
            for channel in batch:
                del self.to_unsubscribe[channel]
            await connection.send_command("UNSUBSCRIBE", *map(self.backend._key, batch))
        while self.to_subscribe:
            batch = list(self.to_subscribe)[:_BATCH]
            for channel in batch:
                del self.to_subscribe[channel]
                self.unconfirmed[channel] = self.unconfirmed.get(channel, 0) + 1
            await connection.send_command("SUBSCRIBE", *map(self.backend._key, batch))

    async def _receive(self, connection: Any) -> None:
        """Read and handle replies as they come (`_reply_reader`: every reply a read holds, with no
        await in between, so a live event costs one parse and one `deliver`); wake `run` when
        there is work for it."""
        from redis.exceptions import ResponseError

        read = _reply_reader(connection)
        while True:
            for reply in await read():
                if isinstance(reply, ResponseError):
                    raise reply
                self._on_reply(reply)
            if self._has_work():
                self._wake()

    def _has_work(self) -> bool:
        """Is there something for `run` to do now that a reply came? A catch-up it would start (as it
        decides), or nothing left to follow. A live event delivered is not: waking `run` for each
        one cost more than the event itself."""
        if self.catch_up and (not self.unconfirmed or len(self.catch_up) >= _BATCH):
            return True
        return not self.unconfirmed and not self.backend._cursors

    def _on_reply(self, reply: Any) -> None:
        if not isinstance(reply, list) or len(reply) < 3:
            return                                  # e.g. a PONG
        kind, key = reply[0], reply[1]
        channel = key[len(self.backend.prefix):]
        if kind == "subscribe":
            left = self.unconfirmed.get(channel, 1) - 1
            if left > 0:
                self.unconfirmed[channel] = left
                return
            self.unconfirmed.pop(channel, None)
            if channel in self.backend._cursors:
                self.catch_up[channel] = None       # start (or resume) from the stream itself
        elif kind == "message":
            self._on_message(channel, reply[2])

    def _on_message(self, channel: str, text: str) -> None:
        backend = self.backend
        cursor = backend._cursors.get(channel, "")
        if cursor == "" or channel in backend._unusable:
            return                                  # not followed (closed meanwhile)
        message = parse_message(text)
        if message is None:
            self.held.setdefault(channel, [])
            self.catch_up[channel] = None           # a foreign PUBLISH: read the stream instead
            return
        held = self.held.get(channel)
        if held is not None or cursor is None:
            self.held.setdefault(channel, []).append(message)
            return
        self._release(channel, [message])

    def _release(self, channel: str, messages: list[tuple[str, str, dict[str, str]]]) -> None:
        """Deliver the messages that follow the cursor; at the first that does not, catch up."""
        backend = self.backend
        for n, (event_id, prev, fields) in enumerate(messages):
            cursor = backend._cursors.get(channel)
            if cursor is None:
                return                              # closed meanwhile
            if prev != cursor:
                if backend.sort_key(event_id) <= backend.sort_key(cursor):
                    continue                        # had it already
                self.held[channel] = messages[n:]
                self.catch_up[channel] = None
                return
            backend._dispatch([[backend._key(channel), [(event_id, fields)]]])   # the next one

    async def _catch_up(self, client: Any) -> None:
        """One pipelined round trip for up to `_BATCH` channels: new ones learn where their stream
        ends; others read on from their cursor (a reset first where the stream lost events)."""
        from redis.exceptions import ResponseError

        from .redis import _tail_id, _verdict
        backend = self.backend
        batch = list(self.catch_up)[:_BATCH]
        cursors = {ch: backend._cursors.get(ch, "") for ch in batch}
        pipe = client.pipeline(transaction=False)
        for channel, cursor in cursors.items():
            key = backend._key(channel)
            if cursor is None:
                pipe.xrevrange(key, max="+", min="-", count=1)
            elif cursor:
                pipe.xinfo_stream(key)
                pipe.xrange(key, min="(" + cursor, max="+", count=backend.read_count)
        replies = iter(await pipe.execute(raise_on_error=False))
        for channel, cursor in cursors.items():
            self.catch_up.pop(channel, None)
            if cursor == "":
                continue                            # closed before the round trip
            first = next(replies)
            second = next(replies) if cursor is not None else None
            if backend._cursors.get(channel, "") != cursor:
                continue                            # closed or reopened meanwhile: its own turn
            failed = next((r for r in (first, second) if isinstance(r, Exception)), None)
            if failed is not None:
                if isinstance(failed, ResponseError) and "WRONGTYPE" in str(failed):
                    backend._give_up(channel)
                    if cursor is not None and backend._reset is not None:
                        backend._reset(channel, "unusable")
                    continue
                if not (isinstance(failed, ResponseError) and cursor is not None):
                    raise failed
                first = None                        # no such key (XINFO): it has no entries
            if cursor is None:
                start = _tail_id(first)
                backend._cursors[channel] = start
                if first:
                    backend._note(channel, start)
                    backend._anchors[channel] = first[0][1].get("t")
                backend._started[channel].set()
            else:
                reason, resume = _verdict(cursor, first, None)
                if reason is not None:
                    backend._cursors[channel] = resume
                    backend._anchors.pop(channel, None)
                    backend._last[channel] = resume
                    if backend._reset is not None:
                        backend._reset(channel, reason)
                    self.catch_up[channel] = None   # read on from where the reset put it
                    continue
                entries = second or []
                if entries:
                    backend._dispatch([[backend._key(channel), entries]])
                if len(entries) >= backend.read_count:
                    self.catch_up[channel] = None   # more to read: the next round
                    continue
            held = self.held.pop(channel, [])
            self._release(channel, held)
