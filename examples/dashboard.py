"""A live dashboard: several channels on one page, each with its own stream and status indicator.

    python examples/dashboard.py       # then open http://127.0.0.1:5001

One `Hub` serves every channel; background tasks started with the app publish to them. Every stream
is served by `hub.mount`, the fastest path: it answers `/events/<channel>` before FastHTML's routing.
"""
import asyncio
import os
import random
import time

from fasthtml.common import *
from sse_monitor import Hub, SSEConnectionMonitor, SSEElement, sse_headers

hub = Hub()
PANELS = {"orders": "New orders", "load": "Server load", "alerts": "Alerts"}


async def publishers():
    """Stand-ins for real sources: an order every second, the load twice a second, an alert now and then."""
    order, tick = 0, 0
    while True:
        tick += 1
        await hub.publish("load", Span(f"{random.uniform(0.1, 2.0):.2f}", cls="value"))
        if tick % 2 == 0:
            order += 1
            await hub.publish("orders", Li(f"#{order} at {time.strftime('%H:%M:%S')}"))
        if tick % 6 == 0:
            await hub.publish("alerts", Li(f"Disk check at {time.strftime('%H:%M:%S')}"))
        await asyncio.sleep(0.5)


async def lifespan(app):
    async with hub.lifespan(app):
        task = asyncio.create_task(publishers())
        yield
        task.cancel()


fasthtml_app, rt = fast_app(lifespan=lifespan, hdrs=sse_headers())
app = hub.mount(fasthtml_app, prefix="/events/")        # run this one: streams + the FastHTML app


def Panel(channel: str, title: str):
    status, _ = SSEConnectionMonitor(channel, include_runtime=False)
    # The load is one value, replaced; orders and alerts are lists, newest first.
    swap = {"hx_swap": "innerHTML", "hx_target": f"#{channel}-data"} if channel == "load" else \
           {"hx_swap": "afterbegin", "hx_target": f"#{channel}-data"}
    body = Div(id=f"{channel}-data") if channel == "load" else Ul(id=f"{channel}-data")
    return Article(H3(title, " ", status), SSEElement(channel, hub.sse_url(f"/events/{channel}", channel), **swap),
                   body, id=f"panel-{channel}")


@rt("/")
def index():
    return Titled("Dashboard", Div(*[Panel(channel, title) for channel, title in PANELS.items()],
                                   style="display:grid; grid-template-columns:repeat(auto-fit, minmax(16rem, 1fr)); gap:1rem"))


if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "5001")))
