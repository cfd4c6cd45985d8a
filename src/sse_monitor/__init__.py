"""fasthtml-sse-monitor: trustworthy Server-Sent Events for FastHTML/htmx pages.

The public API is this module; the code lives in three parts (see ARCHITECTURE.md):
`browser/` a connection status indicator and a runtime that owns reconnection
(`SSEConnectionMonitor`); `server/` SSE encoding and a broadcast `Hub` with event ids, replay,
heartbeats and graceful shutdown; `scaleout/` where events are numbered and kept (in memory, or
Redis Streams across workers). `wire.py` is the contract the browser and the server share.
"""
from .browser.assets import monitor_assets_route, sse_headers, sse_monitor_headers
from .browser.config import SSEConnectionConfig
from .browser.element import SSEElement, sse_connect_attrs
from .browser.ids import HtmlIds, InteractionHtmlIds
from .browser.indicators import create_connection_status_indicators
from .browser.monitor import SSEConnectionMonitor, SSEConnectionMonitorScript, SSEStatus
from .scaleout import Backend, BackendUnavailable, Replay, StoredEvent, backend_from_url
from .scaleout.memory import MemoryBackend
from .scaleout.redis import RedisBackend
from .server.hub import Hub, validate_channel
from .server.hub_options import HubLimits, ShutdownPolicy
from .server.routes import StreamMount, add_stream_route
from .server.runs import RunFailed, Runs, RunState
from .server.sse import ServerSentEvent, SSEParser, encode_comment, encode_event
from .server.stream import EventStream, HubStream  # noqa: F401  (EventStream: old name, kept out of __all__)

__version__ = "0.1.0"

# Prometheus metrics need the optional `metrics` extra, so they load only when named (and stay out
# of __all__: `from sse_monitor import *` works without prometheus_client).
_METRICS = ("HubCollector", "metrics_endpoint", "start_metrics_server")


def __getattr__(name: str) -> object:
    if name in _METRICS:
        from .server import metrics
        return getattr(metrics, name)
    raise AttributeError(f"module 'sse_monitor' has no attribute {name!r}")

__all__ = [
    # browser side
    "HtmlIds", "InteractionHtmlIds", "SSEConnectionConfig", "SSEConnectionMonitor",
    "SSEConnectionMonitorScript", "SSEElement", "SSEStatus", "create_connection_status_indicators",
    "monitor_assets_route", "sse_connect_attrs", "sse_headers", "sse_monitor_headers",
    # server side
    "Backend", "BackendUnavailable", "Hub", "HubLimits", "HubStream", "MemoryBackend", "RedisBackend", "Replay",
    "SSEParser", "RunFailed", "RunState", "Runs", "ServerSentEvent", "ShutdownPolicy", "StoredEvent", "StreamMount",
    "add_stream_route", "backend_from_url", "encode_comment",
    "encode_event", "validate_channel",
]
