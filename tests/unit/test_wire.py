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
from sse_monitor.wire import (CLOSE_EVENT, HEARTBEAT_EVENT, LAST_EVENT_ID_PARAM, RESET_EVENT, RESET_REASONS,
                              ResetReason, close_frame, reset_frame)

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
    assert f'searchParams.set("{LAST_EVENT_ID_PARAM}"' in JS


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
