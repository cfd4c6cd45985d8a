"""fasthtml-sse-monitor: trustworthy Server-Sent Events for FastHTML/htmx pages.

Browser side: a connection status indicator and a runtime that owns reconnection
(`SSEConnectionMonitor`). Server side: SSE encoding and a broadcast `Hub` with event ids, replay,
heartbeats and graceful shutdown.
"""
from .assets import monitor_assets_route, sse_headers, sse_monitor_headers
from .backends import Backend, BackendUnavailable, Replay, StoredEvent, backend_from_url
from .backends.memory import MemoryBackend
from .backends.redis import RedisBackend
from .config import SSEConnectionConfig
from .element import SSEElement, sse_connect_attrs
from .hub import Hub, validate_channel
from .ids import HtmlIds, InteractionHtmlIds
from .indicators import create_connection_status_indicators
from .monitor import SSEConnectionMonitor, SSEConnectionMonitorScript, SSEStatus
from .routes import StreamMount, add_stream_route
from .sse import ServerSentEvent, SSEParser, encode_comment, encode_event
from .stream import EventStream, HubStream  # noqa: F401  (EventStream: old name, kept out of __all__)

__version__ = "0.1.0"

__all__ = [
    # browser side
    "HtmlIds", "InteractionHtmlIds", "SSEConnectionConfig", "SSEConnectionMonitor",
    "SSEConnectionMonitorScript", "SSEElement", "SSEStatus", "create_connection_status_indicators",
    "monitor_assets_route", "sse_connect_attrs", "sse_headers", "sse_monitor_headers",
    # server side
    "Backend", "BackendUnavailable", "Hub", "HubStream", "MemoryBackend", "RedisBackend", "Replay", "SSEParser",
    "ServerSentEvent", "StoredEvent", "StreamMount", "add_stream_route", "backend_from_url", "encode_comment",
    "encode_event", "validate_channel",
]
