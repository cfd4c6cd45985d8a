"""fasthtml-sse-monitor: trustworthy Server-Sent Events for FastHTML/htmx pages.

Browser side: a connection status indicator and a runtime that owns reconnection.
Server side: SSE encoding and a broadcast `Hub` with event ids, replay, heartbeats and graceful shutdown.
"""
from .backends import Backend, Replay, StoredEvent
from .backends.memory import MemoryBackend
from .hub import Hub, validate_channel
from .routes import StreamMount, add_stream_route
from .sse import ServerSentEvent, SSEParser, encode_comment, encode_event
from .stream import EventStream

__version__ = "0.1.0"

__all__ = [
    "Backend", "EventStream", "Hub", "MemoryBackend", "Replay", "SSEParser", "ServerSentEvent",
    "StoredEvent", "StreamMount", "add_stream_route", "encode_comment", "encode_event",
    "validate_channel",
]
