"""Connection ids and SSEConnectionConfig: validation with errors that name the argument."""
import json

import pytest

from sse_monitor.browser.config import SSEConnectionConfig
from sse_monitor.browser.ids import HtmlIds, InteractionHtmlIds
from sse_monitor.validate import validate_channel


def test_ids_keep_the_original_names():
    assert HtmlIds.sse_status("dashboard") == "sse-status-dashboard"
    assert HtmlIds.sse_element("data-stream_2") == "sse-element-data-stream_2"
    assert InteractionHtmlIds.sse_element("x") == "sse-element-x"
    assert HtmlIds.as_selector("sse-status-x") == "#sse-status-x"


@pytest.mark.parametrize("bad", ['a"b', "a'b", "a<b", "a&b", "a b", "", "-abc", "a" * 129, "é",
                                 "a\nb", "a]b", "a/b", "a#b"])
def test_unsafe_ids_are_rejected(bad):
    with pytest.raises(ValueError, match="connection_id: .*the same rule as channel names"):
        HtmlIds.sse_status(bad)


@pytest.mark.parametrize("name", ["job:1", "1abc", "user.42", "a" * 128, "answer-7_b"])
def test_every_valid_channel_name_is_a_valid_connection_id(name):
    """One rule for names: a job's channel name can be its monitor's id."""
    assert validate_channel(name) == name
    assert HtmlIds.sse_status(name) == f"sse-status-{name}"


def test_a_selector_escapes_what_css_reads_otherwise():
    assert HtmlIds.as_selector("sse-element-job:1.b") == "#sse-element-job\\:1\\.b"


@pytest.mark.parametrize("bad", [None, 3])
def test_ids_that_are_not_str_are_a_type_error(bad):
    with pytest.raises(TypeError, match="^connection_id:"):
        HtmlIds.sse_status(bad)


def test_defaults_and_json_for_the_runtime():
    config = SSEConnectionConfig()
    data = json.loads(config.to_json())
    assert data["maxReconnectAttempts"] == 30 and data["reconnectDelay"] == 1000
    assert data["maxBackoffMultiplier"] == 4 and data["stallTimeout"] == 45000
    assert data["closeEvent"] == "close" and data["heartbeatEvent"] == "heartbeat"
    assert data["reconnectOnOnline"] is True and data["monitorVisibility"] is True
    assert set(data) == {"maxReconnectAttempts", "reconnectDelay", "maxBackoffMultiplier", "monitorVisibility",
                         "logToConsole", "stallTimeout", "stallAfterHeartbeat", "closeEvent", "heartbeatEvent",
                         "resetEvent", "reconnectOnOnline", "jitter", "indicatorDelay", "showCountdown",
                         "shareAcrossTabs", "shareUnverifiedStreams"}
    assert data["shareAcrossTabs"] is True, "tabs share one stream unless the page turns it off"


def test_original_call_shape_still_works():
    config = SSEConnectionConfig(max_reconnect_attempts=5, reconnect_delay=2000, max_backoff_multiplier=3,
                                 log_to_console=False)
    assert config.max_reconnect_attempts == 5


@pytest.mark.parametrize("field, value", [
    ("max_reconnect_attempts", -1), ("reconnect_delay", 0), ("max_backoff_multiplier", 0),
    ("stall_timeout", -5), ("close_event", ""), ("heartbeat_event", "a\nb"),
    ("jitter", 1.5), ("jitter", float("nan")), ("jitter", -0.1),
])
def test_bad_values_name_the_field(field, value):
    with pytest.raises(ValueError, match=f"^{field}:"):
        SSEConnectionConfig(**{field: value})


@pytest.mark.parametrize("field, value", [
    ("max_reconnect_attempts", 1.5), ("max_reconnect_attempts", True), ("reconnect_delay", "1000"),
    ("indicator_delay", None), ("monitor_visibility", 1), ("log_to_console", "yes"),
    ("reconnect_on_online", None), ("reset_event", 5), ("show_countdown", 0), ("share_across_tabs", "no"),
    ("jitter", "0.5"), ("jitter", True),
])
def test_wrong_types_are_a_type_error_naming_the_field(field, value):
    """As in Starlette: a wrong type is a TypeError (not a ValueError); bool is not an int."""
    with pytest.raises(TypeError, match=f"^{field}:"):
        SSEConnectionConfig(**{field: value})


def test_assignment_after_construction_is_validated_on_use():
    config = SSEConnectionConfig()
    config.reconnect_delay = -3
    with pytest.raises(ValueError, match="reconnect_delay"):
        config.to_json()
