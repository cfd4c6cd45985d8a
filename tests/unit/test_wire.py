"""The wire contract (sse_monitor.wire): what the server sends is what the browser runtime expects.

A user needs the monitor on the page to recognise the server's heartbeats, `close` and `reset`
events, and a reconnect to resume from the query parameter the server reads; the runtime
(browser/static/sse-monitor.js) keeps its own copy of these names, so they are compared here.
"""
from __future__ import annotations

import json
import re
from importlib.resources import files
from typing import get_args

from sse_monitor.browser.config import SSEConnectionConfig
from sse_monitor.server.sse import SSEParser
from sse_monitor.wire import (
    CLOSE_EVENT,
    HEARTBEAT_EVENT,
    LAST_EVENT_ID_PARAM,
    RESET_EVENT,
    RESET_REASONS,
    SHARE_EVENT,
    SHARE_PARAM,
    SHARE_PROTOCOL,
    ResetReason,
    close_frame,
    reset_frame,
    share_check_body,
    share_digest,
    share_frame,
)

JS = (files("sse_monitor.browser") / "static" / "sse-monitor.js").read_text()


def parse(frame: bytes):
    parser = SSEParser()
    return parser.feed(frame)


def test_the_runtime_defaults_to_the_event_names_the_server_sends():
    for key, name in (("closeEvent", CLOSE_EVENT), ("heartbeatEvent", HEARTBEAT_EVENT), ("resetEvent", RESET_EVENT)):
        assert re.search(rf'\b{key}: "{re.escape(name)}"', JS), f"sse-monitor.js default {key} is not {name!r}"
    config = json.loads(SSEConnectionConfig().to_json())
    assert (config["closeEvent"], config["heartbeatEvent"], config["resetEvent"]) == (
        CLOSE_EVENT, HEARTBEAT_EVENT, RESET_EVENT)


def test_the_runtime_resumes_with_the_query_parameter_the_server_reads():
    assert f'return withParam(url, "{LAST_EVENT_ID_PARAM}", lastEventId)' in JS


def test_the_runtime_speaks_the_servers_tab_sharing_protocol():
    """Tabs share only what the hub vouches for: the runtime must ask with the parameter the hub reads,
    expect the event the hub sends and the protocol version it answers with."""
    assert re.search(rf'\bSHARE_PROTOCOL = {SHARE_PROTOCOL}\b', JS)
    assert f'SHARE_PARAM = "{SHARE_PARAM}"' in JS and f'SHARE_EVENT = "{SHARE_EVENT}"' in JS
    [vouch] = parse(share_frame(share_digest("news")))
    assert vouch.event == SHARE_EVENT and vouch.id == ""
    assert json.loads(vouch.data) == {"protocol": SHARE_PROTOCOL, "digest": share_digest("news")}
    assert json.loads(share_check_body("ab" * 16)) == {"protocol": SHARE_PROTOCOL, "digest": "ab" * 16}
    assert share_digest("user-alice") != share_digest("user-bob")
    assert re.fullmatch(r"[0-9a-f]{32}", share_digest("x"))


def test_a_close_without_return_is_the_plain_reason_and_with_return_says_when():
    [gone] = parse(close_frame("server-shutdown", None))
    assert (gone.event, gone.data) == ("close", "server-shutdown")
    [back] = parse(close_frame("server-drain", 1500))
    assert back.event == "close"
    assert json.loads(back.data) == {"reason": "server-drain", "reconnect_after_ms": 1500}


def test_a_reset_names_its_reason_and_the_newest_id_and_carries_the_current_position():
    [reset] = parse(reset_frame("too-old", "41", "42"))
    assert (reset.event, reset.id) == ("reset", "42")
    assert json.loads(reset.data) == {"reason": "too-old", "last_id": "41"}
    assert set(RESET_REASONS) == set(get_args(ResetReason)) >= {"unknown-id", "too-old", "malformed", "data-lost"}
