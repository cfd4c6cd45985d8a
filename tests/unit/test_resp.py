"""The Pub/Sub reader's RESP2 parser: every reply Redis sends on a Pub/Sub connection comes out as
redis-py's decoding client gives it, however the bytes are split across reads."""
from __future__ import annotations

import random

import pytest
from redis.exceptions import InvalidResponse, ResponseError

from sse_monitor.scaleout.resp import ReplyParser

# What a Pub/Sub connection carries: confirmations, live messages (one with a newline-laden,
# non-ASCII body, one empty), a PONG in subscribed mode, an integer, a null and an error.
BODY = "1-0\n0-0\ntok\n0\nété\r\n".encode()
WIRE = (b"*3\r\n$9\r\nsubscribe\r\n$6\r\nsse:c1\r\n:1\r\n"
        b"*3\r\n$7\r\nmessage\r\n$6\r\nsse:c1\r\n$%d\r\n%s\r\n" % (len(BODY), BODY) +
        b"*3\r\n$7\r\nmessage\r\n$6\r\nsse:c1\r\n$0\r\n\r\n"
        b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"
        b"+OK\r\n:42\r\n$-1\r\n*-1\r\n*0\r\n"
        b"-ERR unknown command\r\n")
REPLIES = [["subscribe", "sse:c1", 1],
           ["message", "sse:c1", "1-0\n0-0\ntok\n0\nété\r\n"],
           ["message", "sse:c1", ""],
           ["pong", ""],
           "OK", 42, None, None, []]


def parse_all(chunks: list[bytes]) -> list:
    parser = ReplyParser()
    replies = [reply for chunk in chunks for reply in parser.feed(chunk)]
    assert parser.pending == b"", "every complete reply is returned"
    return replies


def assert_wire_replies(replies: list) -> None:
    assert replies[:-1] == REPLIES
    assert isinstance(replies[-1], ResponseError) and str(replies[-1]) == "ERR unknown command"


def test_replies_in_one_read():
    assert_wire_replies(parse_all([WIRE]))


def test_replies_split_at_every_byte():
    for cut in range(1, len(WIRE)):
        assert_wire_replies(parse_all([WIRE[:cut], WIRE[cut:]]))
    assert_wire_replies(parse_all([WIRE[i:i + 1] for i in range(len(WIRE))]))


def test_replies_split_at_random_into_many_reads():
    rng = random.Random(27)
    for _ in range(200):
        cuts = sorted(rng.sample(range(1, len(WIRE)), rng.randint(1, 12)))
        assert_wire_replies(parse_all([WIRE[a:b] for a, b in zip([0, *cuts], [*cuts, len(WIRE)], strict=True)]))


def test_an_incomplete_reply_waits_for_its_bytes():
    parser = ReplyParser()
    assert parser.feed(b"*3\r\n$7\r\nmessage\r\n$6\r\nsse:c1\r\n$5\r\nhel") == []
    assert parser.feed(b"lo\r") == []
    assert parser.feed(b"\n") == [["message", "sse:c1", "hello"]]


def test_undecodable_bytes_are_replaced_not_fatal():
    assert parse_all([b"$2\r\n\xff\xfe\r\n"]) == ["\ufffd\ufffd"]


@pytest.mark.parametrize("wire", [b"HTTP/1.1 400 Bad Request\r\n", b"$ten\r\n", b"*2\r\n:x\r\n"])
def test_bytes_that_are_not_resp_are_a_protocol_error(wire):
    with pytest.raises(InvalidResponse):
        ReplyParser().feed(wire)
