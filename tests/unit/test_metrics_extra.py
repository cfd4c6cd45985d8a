"""The metrics are an optional extra: without prometheus_client the error says what to install,
and nothing else of the library needs it."""
from __future__ import annotations

import subprocess
import sys

import pytest

from sse_monitor import Hub
from sse_monitor.server.metrics import HubCollector, start_metrics_server

WITHOUT_PROMETHEUS = "import sys; sys.modules['prometheus_client'] = None\n"   # as if not installed


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", WITHOUT_PROMETHEUS + code], capture_output=True, text=True,
                          timeout=60)


def test_without_prometheus_client_the_error_names_the_extra():
    for code in ("import sse_monitor.server.metrics",
                 "from sse_monitor import HubCollector",
                 "from sse_monitor import Hub\nHub(handle_signals=False).metrics_route()"):
        result = _run(code)
        assert result.returncode != 0, code
        assert "ImportError: " in result.stderr and "pip install 'fasthtml-sse-monitor[metrics]'" in result.stderr, \
            result.stderr


def test_without_prometheus_client_everything_else_works():
    result = _run("from sse_monitor import *\nHub(handle_signals=False).stats()\nprint('ok')")
    assert result.returncode == 0 and result.stdout.strip() == "ok", result.stderr


def test_bad_arguments_name_themselves():
    hub = Hub(handle_signals=False)
    with pytest.raises(ValueError, match="^channels: "):
        HubCollector(hub, channels=["news", "no spaces"])
    with pytest.raises(TypeError, match="^channels: "):
        HubCollector(hub, channels="news")                 # a str is not a list of names
    with pytest.raises(TypeError, match="^hub: "):
        HubCollector(object())  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="^path: "):
        hub.metrics_route(path="metrics")
    with pytest.raises(ValueError, match="^port: "):
        start_metrics_server(hub, 65535, tries=2)
    with pytest.raises(ValueError, match="^tries: "):
        start_metrics_server(hub, 9100, tries=0)


def test_listed_channels_get_their_own_series_even_before_they_have_streams():
    hub = Hub(handle_signals=False)
    names = {m.name: m for m in HubCollector(hub, channels=["news", "news"]).collect()}
    streams = names["sse_monitor_channel_streams"].samples
    assert [(s.labels, s.value) for s in streams] == [({"channel": "news"}, 0)]   # listed twice: one series
    assert "sse_monitor_redis_reader_connected" not in names                       # memory: no reader
