"""Private streams for the tab-sharing security tests: what a tab is streamed depends on who is logged in.

Two patterns users build, both on a real Hub:
- `/private`: one URL for everyone; a raw cookie (`who`) chooses the user's own channel `user-<who>`,
  and no cookie is a 403 ("my notifications").
- `/staff`: one channel for everyone; FastHTML session auth (Beforeware reading `session['auth']`)
  and the hub's `authorize` decide who may have it (only users in STAFF, which `/rights` changes).

`/login/<user>` and `/logout` set and clear both the cookie and the session. `/page/<stream>` is a
monitored page whose SSE element connects to that stream; `/publish/<channel>?n=` publishes events
`<li data-id="k" data-channel="...">`, `/open` says how many streams each channel has open, and
`/requests` lists every stream request (for a failing test's message; a page opened as
`/page/staff?tab=bob` is named in it).
"""
from __future__ import annotations

import json
import os
import time

from fasthtml.common import H1, Beforeware, Li, Meta, Script, Ul, fast_app
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from sse_monitor.browser.element import SSEElement
from sse_monitor.browser.monitor import SSEConnectionMonitor
from sse_monitor.server.hub import Hub
from sse_monitor.wire import SHARE_PARAM
from support.servers import REPO_DIR

HTMX = int(os.environ.get("SCRIPTED_HTMX", "2"))
HTMX_ASSETS = {2: ("htmx.org/dist/htmx.min.js", "htmx-ext-sse/dist/sse.js"),
               4: ("htmx4/dist/htmx.min.js", "htmx4/dist/ext/hx-sse.js")}
STAFF: set[str] = {"alice"}
published: dict[str, int] = {}
requests: list[dict] = []   # every stream request: when, whose session, which channel, the share step


def authorize(request, channel: str) -> bool:
    """The one channel `staff` is for staff only, as the session says who is logged in."""
    return channel != "staff" or request.session.get("auth") in STAFF


hub = Hub(heartbeat_interval=0.5, authorize=authorize)


def who_is_logged_in(request, session):
    """Beforeware, as FastHTML's auth examples do it: the session's user, for every route."""
    request.scope["auth"] = session.get("auth")


# The WebKit driver has no init scripts: it posts them to /control/init-script, run first in each page.
init_scripts: list[str] = []
HEAD = [Script(src="/control/init-script")]
HEAD += [Meta(name="htmx-config", content=json.dumps({"metaCharacter": "-"}))] if HTMX == 4 else []
HEAD += [Script(src=f"/assets/{path}") for path in HTMX_ASSETS[HTMX]]
app, rt = fast_app(pico=False, default_hdrs=False, hdrs=HEAD, secret_key="test-only-secret", lifespan=hub.lifespan,
                   before=Beforeware(who_is_logged_in, skip=[r"/assets/.*"]))


async def init_script(request):
    """POST: the WebKit driver's init scripts (a JSON list); GET: them, as the page's first script.
    A plain Starlette route: FastHTML's handlers take a JSON object only."""
    if request.method == "POST":
        init_scripts[:] = list(await request.json())
        return JSONResponse({"ok": True})
    return Response("\n;\n".join(init_scripts), media_type="text/javascript", headers={"Cache-Control": "no-store"})


# Ahead of FastHTML's catch-all static route, which would answer these .js files itself.
app.router.routes.insert(0, Mount("/assets", StaticFiles(directory=str(REPO_DIR / "node_modules"))))
app.router.routes.insert(0, Route("/control/init-script", init_script, methods=["GET", "POST"]))


@rt("/login/{user}")
def get(user: str, session):
    session["auth"] = user
    response = PlainTextResponse(f"logged in as {user}")
    response.set_cookie("who", user)
    return response


@rt("/logout")
def get(session):
    session.clear()
    response = PlainTextResponse("logged out")
    response.delete_cookie("who")
    return response


@rt("/rights/{user}/{staff}")
def get(user: str, staff: str):
    (STAFF.add if staff == "1" else STAFF.discard)(user)
    return JSONResponse(sorted(STAFF))


def page_of(request) -> str:
    """Which tab asked: the page's URL (its Referer), where a test may name the tab (`?tab=bob`)."""
    return request.headers.get("referer", "").partition("/page/")[2]


@rt("/private")
def get(request):
    who = request.cookies.get("who")
    requests.append({"time": time.time(), "auth": who, "channel": f"user-{who}", "page": page_of(request),
                     "share": request.query_params.get(SHARE_PARAM), "allowed": bool(who)})
    if not who:
        return PlainTextResponse("log in first", status_code=403)
    return hub.stream(request, f"user-{who}")


@rt("/staff")
def get(request):
    requests.append({"time": time.time(), "auth": request.session.get("auth"), "channel": "staff",
                     "page": page_of(request), "share": request.query_params.get(SHARE_PARAM),
                     "allowed": authorize(request, "staff")})
    return hub.stream(request, "staff")


@rt("/page/{stream}")
def get(stream: str, request):
    channel = f"user-{request.cookies.get('who')}" if stream == "private" else "staff"
    status, script = SSEConnectionMonitor("feed")
    element = SSEElement("feed", hub.sse_url(f"/{stream}", channel), htmx=HTMX, hx_swap="beforeend",
                         hx_target="#log-feed")
    return H1(stream), status, script, element, Ul(id="log-feed")


@rt("/publish/{channel}")
async def get(channel: str, n: int = 1):
    for _ in range(n):
        k = published[channel] = published.get(channel, 0) + 1
        await hub.publish(channel, Li(f"{channel} {k}", data_id=str(k), data_channel=channel))
    return JSONResponse({"published": published[channel]})


@rt("/open")
def get():
    return JSONResponse({name: hub.subscriber_count(name) for name in ("user-alice", "user-bob", "staff")})


@rt("/requests")
def get():
    return JSONResponse(requests)


@rt("/favicon.ico")
def get():
    return Response(status_code=204)
