"""RESP2 replies parsed from the bytes of a connection, many per read: the Pub/Sub reader's parser.

A live event on the Pub/Sub connection is one small reply. redis-py's pure-Python parser reads each
reply with several awaits and a call per line, which was most of what an event cost the worker
(issue 27). The reader reads whatever the socket holds and parses every complete reply in it here,
with no await in between. Values are decoded as UTF-8 (undecodable bytes replaced, so a foreign
publisher's binary message cannot stop the reader), errors become `ResponseError`s, and a null is
None, as redis-py's `decode_responses=True` client gives them.
"""
from __future__ import annotations

from typing import Any

from redis.exceptions import InvalidResponse, ResponseError  # only imported with the `redis` extra

__all__ = ["ReplyParser"]


class ReplyParser:
    """Feed it bytes as they arrive; it returns the replies they complete, and keeps the rest."""

    def __init__(self) -> None:
        self.pending = b""

    def feed(self, data: bytes) -> list[Any]:
        """The replies completed by `data` (in order); raises `InvalidResponse` on bytes that are
        not RESP2, after which the connection is unusable."""
        buffer = self.pending + data if self.pending else data
        replies, pos = [], 0
        try:
            while pos < len(buffer) and (parsed := _parse(buffer, pos)) is not None:
                reply, pos = parsed
                replies.append(reply)
        except ValueError as exc:                       # a length or an integer that is not one
            raise InvalidResponse(f"Protocol error from Redis: {exc}") from None
        self.pending = buffer[pos:]
        return replies


def _parse(buffer: bytes, pos: int) -> tuple[Any, int] | None:
    """The reply starting at `pos` and the position after it, or None if it is not complete yet."""
    end = buffer.find(b"\r\n", pos)
    if end < 0:
        return None
    kind, line, pos = buffer[pos], buffer[pos + 1:end], end + 2
    if kind == 0x24:                                    # $ bulk string
        size = int(line)
        if size < 0:
            return None, pos
        if len(buffer) < pos + size + 2:
            return None
        return buffer[pos:pos + size].decode("utf-8", "replace"), pos + size + 2
    if kind == 0x2A:                                    # * array
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            parsed = _parse(buffer, pos)
            if parsed is None:
                return None
            item, pos = parsed
            items.append(item)
        return items, pos
    if kind == 0x3A:                                    # : integer
        return int(line), pos
    if kind == 0x2B:                                    # + simple string
        return line.decode("utf-8", "replace"), pos
    if kind == 0x2D:                                    # - error
        return ResponseError(line.decode("utf-8", "replace")), pos
    raise InvalidResponse(f"Protocol error from Redis: reply type byte {bytes([kind])!r}")
