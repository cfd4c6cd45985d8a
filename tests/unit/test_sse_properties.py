"""Property tests for the SSE wire format (`sse_monitor.server.sse`): encode -> parse round trips.

Every accepted event must come back from the parser exactly as a browser's EventSource would
dispatch it, and anything that could break the framing (a line break in `event`/`id`, NUL in
`id`, a bad `retry`) must raise ValueError instead of being emitted.

Two parsers check the encoder: the package's incremental `SSEParser` (fed whole and in random
chunks, which may split a UTF-8 sequence or a "\\r\\n" pair) and `reference_parse` below, a
deliberately naive, independent transcription of the WHATWG "event stream interpretation"
algorithm, so a bug shared by the encoder and the package parser cannot hide.

What the format cannot represent, and what the encoder documents for it:
  * "\\r\\n" and a lone "\\r" in data: every line break in data starts a new `data:` line, so a
    browser sees "\\n" for each of them (data normalised with `_normalise` below).
  * other characters Python's `str.splitlines` treats as line breaks (\\x0b \\x0c \\x1c-\\x1e \\x85
    \\u2028 \\u2029) are NOT line breaks in SSE and must pass through untouched.
  * an event name or id with CR/LF, an id with NUL, an empty event name: ValueError.
  * text that is not encodable as UTF-8 (lone surrogates): ValueError (UnicodeEncodeError).
"""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from sse_monitor.server.sse import ServerSentEvent, SSEParser, encode_comment, encode_event, render_data

SETTINGS = settings(max_examples=200, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# ---------------------------------------------------------------- an independent reference parser

_SPEC_BREAK = re.compile(r"\r\n|\r|\n")


def reference_parse(stream: bytes) -> tuple[list[ServerSentEvent], str, int | None, list[str]]:
    """WHATWG HTML "9.2.6 Interpreting an event stream", for a complete stream.

    Returns (dispatched events, last event id, reconnection time, comments). An unterminated
    last line is discarded, and so is an event not ended by a blank line ("Once the end of the
    file is reached, any pending data must be discarded").
    """
    text = stream.decode("utf-8", errors="replace")      # UTF-8 decode, errors -> U+FFFD
    if text.startswith("\ufeff"):                       # one leading BOM is ignored
        text = text[1:]
    lines = _SPEC_BREAK.split(text)
    lines.pop()                                           # text after the last line end: incomplete
    events: list[ServerSentEvent] = []
    comments: list[str] = []
    data_buffer, event_type, last_id_buffer, retry = "", "", "", None
    for line in lines:
        if line == "":                                    # dispatch the event
            if data_buffer == "":
                event_type = ""
                continue
            if data_buffer.endswith("\n"):
                data_buffer = data_buffer[:-1]
            events.append(ServerSentEvent(data=data_buffer, event=event_type or "message",
                                          id=last_id_buffer, retry=retry))
            data_buffer, event_type = "", ""
            continue
        if line.startswith(":"):
            comments.append(line[1:][1:] if line[1:].startswith(" ") else line[1:])
            continue
        if ":" in line:
            field, value = line.split(":", 1)
            if value.startswith(" "):
                value = value[1:]
        else:
            field, value = line, ""
        if field == "event":
            event_type = value
        elif field == "data":
            data_buffer += value + "\n"
        elif field == "id":
            if "\0" not in value:
                last_id_buffer = value
        elif field == "retry":
            if value and all(c in "0123456789" for c in value):
                retry = int(value)
        # any other field is ignored
    return events, last_id_buffer, retry, comments


def parse_whole(wire: bytes) -> tuple[list[ServerSentEvent], SSEParser]:
    parser = SSEParser()
    events = parser.feed(wire) + parser.close()
    return events, parser


def parse_chunked(wire: bytes, cuts: list[int]) -> list[ServerSentEvent]:
    """Feed `wire` split at the given offsets (any byte boundary, even inside UTF-8 or CRLF)."""
    parser = SSEParser()
    events: list[ServerSentEvent] = []
    last = 0
    for cut in sorted({c % (len(wire) + 1) for c in cuts}):
        events += parser.feed(wire[last:cut])
        last = cut
    events += parser.feed(wire[last:])
    return events + parser.close()


def _normalise(text: str) -> str:
    """The data a browser sees: every SSE line break (CRLF, CR, LF) becomes LF."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


# ---------------------------------------------------------------- strategies

# Characters that matter to the framing, and look-alikes that must NOT be treated as line
# breaks (str.splitlines splits on them, SSE does not), plus NUL, BOM, multi-byte text.
_TRICKY = st.sampled_from([
    "\r", "\n", "\r\n", "\n\r", "\r\r", "\n\n", "\r\n\r\n", ":", ": ", " ", "  ", "\0",
    "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029", "\ufeff", "\ufffd",
    "data:", "data: x", "event: evil", "id: 666", "retry: 1", "é", "日本語", "🎉", "\t",
])

text_pieces = st.one_of(st.text(), _TRICKY)


@st.composite
def data_text(draw) -> str:
    """Any text: random unicode, framing characters, blank lines, and sometimes very long lines."""
    parts = draw(st.lists(text_pieces, max_size=12))
    if draw(st.integers(0, 9)) == 0:                      # ~10 %: a line of up to ~100k chars
        unit = draw(st.text(min_size=1, max_size=8))
        repeat = draw(st.integers(1, 100_000 // len(unit)))
        parts.insert(draw(st.integers(0, len(parts))), unit * repeat)
    return "".join(parts)


def _single_line(text: str) -> bool:
    return "\r" not in text and "\n" not in text


# Valid values: no CR/LF (event also non-empty; id also no NUL). Spaces, colons, unicode,
# "message", look-alike line breaks are all fine and must survive.
event_names = st.one_of(
    st.none(),
    st.sampled_from(["message", "update", " leading-space", "with: colon", "é", "\x85", "\u2028",
                     ":", "data", "\0nul-is-fine-in-event"]),
    st.text(min_size=1).filter(_single_line),
)
event_ids = st.one_of(
    st.none(),
    st.sampled_from(["", "0", "abc-123", " ", "  two", "id: nested", "\u2028", "\ufeff", "é"]),
    st.text().filter(lambda t: _single_line(t) and "\0" not in t),
)
retries = st.one_of(st.none(), st.integers(0, 10**12))


# ---------------------------------------------------------------- round trips


@SETTINGS
@given(data=data_text(), event=event_names, id=event_ids, retry=retries,
       cuts=st.lists(st.integers(0, 10**6), max_size=8))
@example(data="a\r\nb\rc\nd", event="x", id="b-1", retry=None, cuts=[5])
@example(data="", event=None, id=None, retry=None, cuts=[])
@example(data="\r\n\r\n", event=None, id="", retry=0, cuts=[7, 8])
@example(data="\n\nevent: evil\ndata: injected\n\n", event="ok", id="1", retry=None, cuts=[])
@example(data="x" * 100_000 + "\r" + "y" * 99_999, event="big", id="big-1", retry=None, cuts=[3, 100_010])
@example(data="tail\r", event=None, id=None, retry=None, cuts=[12])
def test_any_event_round_trips_exactly(data, event, id, retry, cuts):
    wire = encode_event(data, event=event, id=id, retry=retry)
    expected = ServerSentEvent(data=_normalise(data), event=event or "message",
                               id=id or "", retry=retry)

    events, parser = parse_whole(wire)
    assert events == [expected]
    assert parser.last_event_id == (id or "")
    assert parser.retry == retry
    assert parse_chunked(wire, cuts) == [expected]

    ref_events, ref_last_id, ref_retry, ref_comments = reference_parse(wire)
    assert ref_events == [expected]
    assert (ref_last_id, ref_retry, ref_comments) == (id or "", retry, [])


@SETTINGS
@given(data=data_text(), event=event_names, id=event_ids)
@example(data="a\r\n\r\nb", event=None, id=None)
@example(data="\x85\u2028\x0b", event="e", id="i")
def test_wire_framing_is_exact(data, event, id):
    """The bytes themselves: LF-only lines, one blank line (the terminator), every line a field."""
    wire = encode_event(data, event=event, id=id)
    assert wire.endswith(b"\n\n")
    assert wire.count(b"\n\n") == 1                       # no early dispatch, nothing after it
    assert b"\r" not in wire                              # CR never reaches the wire
    text = wire.decode("utf-8")
    lines = text[:-2].split("\n")
    assert not text.startswith("\ufeff")
    fields = [line.split(":", 1)[0] for line in lines]
    assert set(fields) <= {"event", "id", "data"}
    assert fields.count("event") == (event is not None)
    assert fields.count("id") == (id is not None)
    # one data line per SSE line of data, each "data: " + that line
    assert [line[len("data: "):] for line in lines if line.startswith("data:")] == \
        _SPEC_BREAK.split(data)
    assert all(line.startswith("data: ") for line in lines if line.startswith("data"))


@SETTINGS
@given(data=data_text())
def test_non_line_breaks_are_preserved_verbatim(data):
    """\\x0b, \\x0c, \\x1c-\\x1e, \\x85, \\u2028, \\u2029 are not SSE line breaks: untouched."""
    (event,), _ = parse_whole(encode_event(data))
    for char in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\0\ufeff":
        assert event.data.count(char) == data.count(char)
    assert event.data.count("\n") == len(_SPEC_BREAK.findall(data))


# ---------------------------------------------------------------- many events on one stream

message = st.tuples(
    st.sampled_from(["event", "event", "event", "comment", "retry", "id-only"]),
    data_text(), event_names, event_ids, retries,
)


@SETTINGS
@given(messages=st.lists(message, max_size=25), bom=st.booleans(),
       cuts=st.lists(st.integers(0, 10**7), max_size=20))
@example(messages=[("event", "a\r", None, "1", None), ("event", "\rb", "x", None, None)],
         bom=False, cuts=[])
@example(messages=[("comment", "\n\ndata: injected\n\n", None, None, None),
                   ("event", "", None, None, None)], bom=True, cuts=[1, 2, 3])
def test_concatenated_events_parse_back_to_the_same_list(messages, bom, cuts):
    """Framing never leaks between events: N encoded messages on one stream give back exactly
    the N dispatchable events, each with the id in force at that point (ids persist until a
    new `id:` line), the last retry, and the comments; comments/retry/id-only never dispatch."""
    wire = b"\xef\xbb\xbf" if bom else b""
    expected: list[ServerSentEvent] = []
    expected_comments: list[str] = []
    last_id, retry = "", None
    for kind, data, event, id, retry_ms in messages:
        if kind == "comment":
            wire += encode_comment(data)
            expected_comments += _SPEC_BREAK.split(data)
        elif kind == "retry":
            wire += encode_event(retry=retry_ms if retry_ms is not None else 0)
            retry = retry_ms if retry_ms is not None else 0
        elif kind == "id-only":
            wire += encode_event(id=id if id is not None else "")
            last_id = id if id is not None else ""
        else:
            wire += encode_event(data, event=event, id=id, retry=retry_ms)
            if id is not None:
                last_id = id
            if retry_ms is not None:
                retry = retry_ms
            expected.append(ServerSentEvent(data=_normalise(data), event=event or "message",
                                            id=last_id, retry=retry))

    events, parser = parse_whole(wire)
    assert events == expected
    assert (parser.last_event_id, parser.retry, parser.comments) == (last_id, retry, expected_comments)
    assert parse_chunked(wire, cuts) == expected
    assert reference_parse(wire) == (expected, last_id, retry, expected_comments)


@SETTINGS
@given(comment=data_text())
@example(comment="\n\ndata: injected\n\n")
@example(comment="\r\nevent: x\rdata: y\n")
def test_comments_never_dispatch_or_inject(comment):
    wire = encode_comment(comment)
    assert wire.count(b"\n\n") == 1 and wire.endswith(b"\n\n")
    assert all(line.startswith(b":") for line in wire[:-2].split(b"\n"))
    events, parser = parse_whole(wire)
    assert events == []
    assert parser.comments == _SPEC_BREAK.split(comment)
    assert reference_parse(wire) == ([], "", None, _SPEC_BREAK.split(comment))


# ---------------------------------------------------------------- what must be rejected

_BREAKS = st.sampled_from(["\r", "\n", "\r\n"])


@st.composite
def with_inserted(draw, inserted, base=st.text()) -> str:  # noqa: B008 (a strategy, not a call per use)
    text = draw(base)
    at = draw(st.integers(0, len(text)))
    return text[:at] + draw(inserted) + text[at:]


@SETTINGS
@given(bad_event=with_inserted(_BREAKS), data=st.one_of(st.none(), data_text()), id=event_ids)
@example(bad_event="\n", data="x", id=None)
@example(bad_event="evil\n\ndata: injected", data="x", id="1")
def test_event_name_with_a_line_break_is_rejected(bad_event, data, id):
    with pytest.raises(ValueError, match="^event:"):
        encode_event(data, event=bad_event, id=id)


def test_empty_event_name_is_rejected():
    with pytest.raises(ValueError, match="^event:"):
        encode_event("x", event="")


@SETTINGS
@given(bad_id=st.one_of(with_inserted(_BREAKS), with_inserted(st.just("\0"))),
       data=st.one_of(st.none(), data_text()), event=event_names)
@example(bad_id="\0", data="x", event=None)
@example(bad_id="1\n\ndata: injected", data="x", event=None)
def test_id_with_a_line_break_or_nul_is_rejected(bad_id, data, event):
    with pytest.raises(ValueError, match="^id:"):
        encode_event(data, event=event, id=bad_id)


@SETTINGS
@given(retry=st.integers(max_value=-1))
def test_negative_retry_is_a_value_error(retry):
    with pytest.raises(ValueError, match="^retry:"):
        encode_event("x", retry=retry)


@SETTINGS
@given(retry=st.one_of(st.floats(allow_nan=True), st.booleans(), st.text(), st.just(b"100")))
def test_retry_that_is_not_an_int_is_a_type_error(retry):
    with pytest.raises(TypeError, match="^retry:"):
        encode_event("x", retry=retry)


@SETTINGS
@given(value=st.one_of(st.binary(), st.integers(), st.floats(), st.dictionaries(st.text(), st.text())))
def test_data_that_is_not_text_is_a_type_error(value):
    with pytest.raises(TypeError, match="^data:"):
        encode_event(value)


@SETTINGS
@given(text=with_inserted(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)),
       where=st.sampled_from(["data", "event", "id", "comment"]))
def test_text_not_encodable_as_utf8_raises_value_error(text, where):
    """Lone surrogates cannot go on the wire: a ValueError (UnicodeEncodeError), never bytes."""
    assume(_single_line(text) or where in ("data", "comment"))
    kwargs = {"data": "x", where: text}
    with pytest.raises(ValueError):
        encode_event(**kwargs)


# ---------------------------------------------------------------- render_data


@SETTINGS
@given(text=st.text())
def test_render_data_passes_text_through(text):
    assert render_data(text) == text


def test_render_data_none_is_empty_and_bytes_are_rejected():
    assert render_data(None) == ""
    with pytest.raises(TypeError, match="^data:"):
        render_data(b"x")
