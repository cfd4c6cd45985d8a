"""The browser side: what goes into the page.

The status indicator (`indicators`), the SSE element (`element`) and its ids (`ids`), the runtime's
configuration (`config`, sent to it as JSON), the monitor components that put the runtime and its
configuration in the page (`monitor`), the route and headers that serve the runtime and htmx
(`assets`), and the runtime itself: `static/sse-monitor.js` (reconnection, the state machine, tab
sharing) with `static/sse-monitor.css`.

Public names are imported from `sse_monitor`. This module imports nothing: `sse_monitor.wire`
imports `server.sse`, and browser code imports `wire`, so re-exports here would load (or cycle
through) the whole package.
"""
