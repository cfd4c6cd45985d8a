"""Several uvicorn workers, each serving its own metrics on a port of its own (README: Metrics).

Each worker imports this module, so each calls `start_metrics_server` and takes the first free port
of METRICS_PORT and the one after it.
"""
from __future__ import annotations

import os

from fasthtml.common import fast_app

from sse_monitor import Hub, start_metrics_server

hub = Hub()
app, rt = fast_app(lifespan=hub.lifespan)
hub.route(app, "/events/{channel}")
start_metrics_server(hub, int(os.environ["METRICS_PORT"]), tries=2)
