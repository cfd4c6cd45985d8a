"""Indicators and the monitor's markup: structure, accessibility, escaping, fallbacks, assets."""
import json
from html.parser import HTMLParser

import pytest
from fasthtml.common import B, Span, to_xml
from starlette.applications import Starlette
from starlette.testclient import TestClient

from sse_monitor.browser.assets import monitor_assets_route, sse_monitor_headers
from sse_monitor.browser.config import SSEConnectionConfig
from sse_monitor.browser.indicators import STATES, create_connection_status_indicators
from sse_monitor.browser.monitor import (
    SSEConnectionMonitor,
    SSEConnectionMonitorScript,
    SSEStatus,
    resolve_indicators,
    runtime_js,
)


class Collect(HTMLParser):
    def __init__(self):
        super().__init__()
        self.elements, self.scripts, self._in_script, self.text = [], [], False, []

    def handle_starttag(self, tag, attrs):
        self.elements.append((tag, dict(attrs)))
        self._in_script = tag == "script"

    def handle_endtag(self, tag):
        self._in_script = False

    def handle_data(self, data):
        (self.scripts if self._in_script else self.text).append(data)


def parse(ft) -> Collect:
    parser = Collect()
    parser.feed(to_xml(ft) if not isinstance(ft, tuple) else "".join(to_xml(x) for x in ft))
    return parser


def test_indicators_have_every_state_and_original_keys():
    indicators = create_connection_status_indicators()
    assert set(indicators) == set(STATES)
    labels = {state: "".join(parse(ft).text) for state, ft in indicators.items()}
    assert labels["active"] == "Live" and labels["disconnected"] == "Disconnected"
    assert labels["error"] == "Error" and labels["reconnecting"] == "Reconnecting..."
    assert labels["offline"] == "Offline" and labels["connecting"] == "Connecting..."


def test_daisyui_theme_uses_status_classes():
    indicators = create_connection_status_indicators(status_size="md", theme="daisyui")
    classes = [attrs.get("class", "") for _, attrs in parse(indicators["active"]).elements]
    assert "status status-success status-md" in classes
    assert any("hidden sm:inline" in c for c in classes)
    no_text = create_connection_status_indicators(show_text=False, theme="daisyui")
    assert "".join(parse(no_text["active"]).text) == ""


@pytest.mark.parametrize("kwargs, name", [({"status_size": "huge"}, "status_size"), ({"theme": "bootstrap"}, "theme"),
                                          ({"text_size": "a\"b"}, "text_size")])
def test_indicator_arguments_are_validated(kwargs, name):
    with pytest.raises(ValueError, match=name):
        create_connection_status_indicators(**kwargs)


@pytest.mark.parametrize("name", ["show_text", "hide_text_on_mobile"])
def test_indicator_flags_that_are_not_bool_are_a_type_error(name):
    with pytest.raises(TypeError, match=f"^{name}:"):
        create_connection_status_indicators(**{name: "no"})


def test_status_container_markup():
    status, script = SSEConnectionMonitor("feed", config=SSEConnectionConfig(stall_timeout=1000),
                                          container_cls="ml-2")
    parsed = parse(status)
    tag, attrs = parsed.elements[0]
    assert tag == "div" and attrs["id"] == "sse-status-feed" and attrs["role"] == "status"
    assert attrs["aria-live"] == "polite" and attrs["data-state"] == "connecting" and attrs["tabindex"] == "0"
    assert attrs["data-sse-element"] == "sse-element-feed" and "ml-2" in attrs["class"]
    assert json.loads(attrs["data-sse-config"])["stallTimeout"] == 1000
    spans = [a for t, a in parsed.elements if "data-sse-state" in a]
    assert [a["data-sse-state"] for a in spans] == list(STATES)
    assert [s for s in spans if "hidden" not in s] == [spans[0]], "only 'connecting' is visible at first"
    assert "".join(parse(script).scripts) == runtime_js(), "the runtime goes in verbatim"


def test_hostile_strings_render_as_text_never_markup():
    hostile = "`${alert(1)}`</script><script>x()</script>\"'&"
    status = SSEStatus("feed", {"active": hostile, "error": Span(hostile, title=hostile)})
    html = to_xml(status)
    assert "<script>" not in html and "</script>" not in html
    parsed = parse(status)
    assert hostile in "".join(parsed.text)
    assert parsed.scripts == []


def test_custom_indicators_fall_back_sensibly():
    original_four = {"active": "A", "disconnected": "D", "error": "E", "reconnecting": "R"}
    resolved = resolve_indicators(original_four)
    assert resolved["connecting"] == "R" and resolved["offline"] == "D"
    only_active = resolve_indicators({"active": B("up")})
    assert "".join(parse(only_active["offline"]).text) == "Offline"


@pytest.mark.parametrize("bad, error", [({"sleeping": "z"}, ValueError), ({"active": 3}, TypeError),
                                        (["active"], TypeError)])
def test_bad_indicator_dicts_are_rejected(bad, error):
    """An unknown state is a wrong value; a list, or an indicator that is neither FT nor str, a wrong type."""
    with pytest.raises(error, match="status_indicators"):
        resolve_indicators(bad)


def test_monitor_script_carries_indicators_and_config_for_a_page_built_container():
    carrier = SSEConnectionMonitorScript("feed", {"active": "Up"}, include_runtime=False)
    tag, attrs = parse(carrier).elements[0]
    assert tag == "template" and attrs["data-sse-status"] == "sse-status-feed"
    with pytest.raises(TypeError, match="config"):
        SSEConnectionMonitorScript("feed", None, config={"reconnect_delay": 5})
    script = SSEConnectionMonitorScript("feed", None, nonce="abc123")
    assert [a.get("nonce") for t, a in parse(script).elements if t in ("script", "style")] == ["abc123"] * 2


def test_assets_are_served_once_with_cache_headers():
    app = Starlette(routes=[monitor_assets_route()])
    client = TestClient(app)
    js = client.get("/_sse_monitor/sse-monitor.js")
    assert js.status_code == 200 and js.text == runtime_js()
    assert js.headers["content-type"].startswith("text/javascript")
    assert "immutable" in js.headers["cache-control"]
    again = client.get("/_sse_monitor/sse-monitor.js", headers={"If-None-Match": js.headers["etag"]})
    assert again.status_code == 304
    assert client.get("/_sse_monitor/other.js").status_code == 404
    tags = "".join(to_xml(t) for t in sse_monitor_headers(nonce="n1"))
    assert 'src="/_sse_monitor/sse-monitor.js?v=' in tags and 'nonce="n1"' in tags
    with pytest.raises(ValueError, match="prefix"):
        monitor_assets_route("no-slash")


def test_stall_timeout_tells_the_runtime_when_it_arms():
    """Default: 45 s, armed once the stream has sent a heartbeat (servers without heartbeats are never
    cut off). Given explicitly, even with the default's value: armed always."""
    default = json.loads(SSEConnectionConfig().to_json())
    assert default["stallTimeout"] == 45000 and default["stallAfterHeartbeat"] is True
    for value in (45000, 1500, 0):
        explicit = json.loads(SSEConnectionConfig(stall_timeout=value).to_json())
        assert explicit["stallTimeout"] == value and explicit["stallAfterHeartbeat"] is False
    assert json.loads(SSEConnectionConfig(stall_timeout=None).to_json())["stallAfterHeartbeat"] is True
    with pytest.raises(TypeError, match="stall_timeout"):
        SSEConnectionConfig(stall_timeout="45s")


def test_runtime_can_be_inlined_in_a_script_element():
    """The runtime goes verbatim into a <script>: nothing in it may end or comment out that element."""
    source = runtime_js().lower()
    assert "</script" not in source and "<!--" not in source
