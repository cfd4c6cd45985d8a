"""The server side: events onto the wire.

`hub` (channels, ids, the replay buffer, fan-out, heartbeats, slow-client cut-off), `stream` (the
ASGI response streaming one subscription), `routes` (the SSE endpoint and its URL checks), `sse`
(SSE encoding and a parser) and `shutdown` (telling every client to go away on SIGTERM/SIGINT).

Public names are imported from `sse_monitor`. This module imports nothing: `sse_monitor.wire`
imports `server.sse`, and browser code imports `wire`, so re-exports here would load (or cycle
through) the whole package.
"""
