"""The Server-Sent Events wire format: encode one event to bytes, parse a byte stream into events.

Encoding follows the WHATWG "server-sent events" section: every line break in `data`
(\\r\\n, \\r or \\n) starts a new `data:` line, and anything that would break the framing
(a line break in `event` or `id`, NUL in `id`, a negative `retry`) is rejected with a
ValueError naming the argument instead of being sent corrupted (a wrong type: TypeError).

The parser is incremental (feed it bytes as they arrive) and implements the spec's
interpretation rules, so tests and benchmarks see exactly what a browser's EventSource sees.
"""
from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from typing import Any

from ..validate import check_int, check_str

__all__ = ["ServerSentEvent", "SSEParser", "encode_event", "encode_comment", "render_data"]

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


def render_data(data: Any) -> str:
    """`data` as the text to send: str as is, FastHTML FT components (or `__ft__` objects) as HTML."""
    if isinstance(data, str):
        return data
    if data is None:
        return ""
    if isinstance(data, (bytes, bytearray)):
        raise TypeError("data: bytes are not accepted, pass str (or an FT component)")
    from fastcore.xml import to_xml  # FastHTML's renderer; imported lazily (only FT data needs it)

    if hasattr(data, "__ft__") or type(data).__name__ == "FT" or isinstance(data, (tuple, list)):
        return str(to_xml(data, indent=False))
    raise TypeError(f"data: expected str or an FT component, got {type(data).__name__}")


def _check_single_line(name: str, value: str) -> str:
    if "\r" in check_str(name, value) or "\n" in value:
        raise ValueError(f"{name}: must not contain a line break (CR or LF)")
    return value


def encode_event(data: Any = None, *, event: str | None = None, id: str | None = None,
                 retry: int | None = None, comment: str | None = None) -> bytes:
    """One SSE event as UTF-8 bytes, ending in the blank line that dispatches it.

    `data` is a str or an FT component (rendered with `to_xml`); `None` sends no `data:`
    line (useful for a `retry:`-only or comment-only message, which EventSource never
    dispatches as an event). `data=""` sends one empty `data:` line, which *is* dispatched.
    """
    parts: list[str] = []
    if comment is not None:
        for line in _LINE_BREAK.split(check_str("comment", comment)):
            parts.append(f": {line}\n" if line else ":\n")
    if event is not None:
        _check_single_line("event", event)
        if not event:
            raise ValueError("event: must not be empty (use None for the default 'message')")
        parts.append(f"event: {event}\n")
    if id is not None:
        _check_single_line("id", id)
        if "\0" in id:
            raise ValueError("id: must not contain NUL (browsers ignore such an id)")
        parts.append(f"id: {id}\n")
    if retry is not None:
        check_int("retry", retry, why=" (milliseconds)")
        parts.append(f"retry: {retry}\n")
    if data is not None:
        text = render_data(data)
        if "\n" in text or "\r" in text:
            parts.extend(f"data: {line}\n" for line in _LINE_BREAK.split(text))
        else:
            parts.append(f"data: {text}\n")
    if not parts:
        raise ValueError("data: nothing to encode (give data, event, id, retry or comment)")
    parts.append("\n")
    return "".join(parts).encode("utf-8")


def encode_comment(text: str = "") -> bytes:
    """A comment line (`: text`): keeps proxies from timing out, invisible to EventSource."""
    return encode_event(comment=text)


@dataclass(frozen=True)
class ServerSentEvent:
    """An event as EventSource dispatches it (`id` is the last event id in force at dispatch)."""

    data: str = ""
    event: str = "message"
    id: str = ""
    retry: int | None = None


class SSEParser:
    """Incremental SSE parser: `feed(bytes)` returns the events completed by those bytes.

    Follows the spec: UTF-8 with replacement, optional leading BOM, \\r\\n / \\r / \\n line
    ends (also split across chunks), comments ignored, fields without a colon, one leading
    space stripped from values, `id` containing NUL ignored, `retry` only when all digits,
    events with no data lines not dispatched. `last_event_id`, `retry` and `comments` keep
    the stream-level state.
    """

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._pending = ""          # text after the last complete line
        self._started = False       # BOM only stripped at the very beginning
        self._data: list[str] = []
        self._event = ""
        self._saw_data = False
        self.last_event_id = ""
        self.retry: int | None = None
        self.comments: list[str] = []

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        text = self._decoder.decode(chunk)
        return self._feed_text(text)

    def close(self) -> list[ServerSentEvent]:
        """End of stream: flush the decoder. An unterminated event is discarded (as the spec says)."""
        events = self._feed_text(self._decoder.decode(b"", final=True))
        if self._pending.endswith("\r"):
            events += self._lines([self._pending[:-1]])
        self._pending = ""
        return events

    def _feed_text(self, text: str) -> list[ServerSentEvent]:
        if not text:
            return []
        if not self._started:
            text = self._pending + text
            self._pending = ""
            if not text:
                return []
            self._started = True
            if text[0] == "\ufeff":
                text = text[1:]
        else:
            text = self._pending + text
        lines = _LINE_BREAK.split(text)
        rest = lines.pop()
        # A trailing "\r" may be the first half of "\r\n": keep it until the next chunk decides.
        if not rest and text.endswith("\r"):
            last = lines.pop()
            self._pending = last + "\r"
        else:
            self._pending = rest
        return self._lines(lines)

    def _lines(self, lines: list[str]) -> list[ServerSentEvent]:
        events: list[ServerSentEvent] = []
        for line in lines:
            if not line:
                ev = self._dispatch()
                if ev is not None:
                    events.append(ev)
                continue
            if line[0] == ":":
                self.comments.append(line[1:].removeprefix(" "))
                continue
            name, colon, value = line.partition(":")
            if colon and value.startswith(" "):
                value = value[1:]
            self._field(name, value)
        return events

    def _field(self, name: str, value: str) -> None:
        if name == "data":
            self._data.append(value)
            self._saw_data = True
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self.last_event_id = value
        elif name == "retry":
            if value and value.isascii() and value.isdigit():
                self.retry = int(value)

    def _dispatch(self) -> ServerSentEvent | None:
        data, event, saw = self._data, self._event, self._saw_data
        self._data, self._event, self._saw_data = [], "", False
        if not saw:
            return None
        return ServerSentEvent(data="\n".join(data), event=event or "message",
                               id=self.last_event_id, retry=self.retry)
