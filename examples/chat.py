"""A chat with rooms. Switching rooms swaps the room in place; the status indicator stays where it is.

    python examples/chat.py            # then open http://127.0.0.1:5001 (in two windows)

Nothing is lost: a room is rendered with its history and a stream URL from `hub.sse_url`, so a
message sent between rendering and connecting is replayed, and one sent while you were in another
room is in the history when you come back.
"""
import os
from collections import defaultdict, deque

from fasthtml.common import *
from sse_monitor import Hub, SSEConnectionMonitor, SSEElement, sse_headers

ROOMS = ("general", "random", "help")
hub = Hub()
app, rt = fast_app(lifespan=hub.lifespan, hdrs=sse_headers())
history: dict[str, deque] = defaultdict(lambda: deque(maxlen=100))


def Message(room: str, text: str):
    return Li(text, cls="message", data_room=room)


def Room(room: str):
    """The part of the page that changes with the room: its messages, its stream and its form."""
    return Div(
        H3(f"# {room}"),
        SSEElement("chat", hub.sse_url(f"/rooms/{room}/events", room), hx_swap="beforeend", hx_target="#messages"),
        Ul(*history[room], id="messages"),
        Form(Input(name="text", placeholder=f"Message #{room}", required=True, autocomplete="off"),
             Button("Send"), hx_post=f"/rooms/{room}", hx_swap="none",
             # Empty the box once sent, unless the next message was typed meanwhile: the message can
             # arrive on the stream before the POST's answer, and a plain reset would wipe that text.
             hx_on__before_request="this.dataset.sent = this.elements.text.value",
             hx_on__after_request="if (this.elements.text.value === this.dataset.sent) this.reset()"),
        id="room", data_room=room)


@rt("/")
def index():
    status, _ = SSEConnectionMonitor("chat", include_runtime=False)
    return Titled("Chat",
        Nav(*[Button(room, hx_get=f"/rooms/{room}", hx_target="#room", hx_swap="outerHTML") for room in ROOMS],
            status),
        Room(ROOMS[0]))


@rt("/rooms/{room}")
def get(room: str):
    if room not in ROOMS:
        return Response("No such room", status_code=404)
    return Room(room)


@rt("/rooms/{room}")
async def post(room: str, text: str = ""):
    text = text.strip()[:500]
    if room not in ROOMS or not text:
        return Response("Unknown room or empty message", status_code=400)
    message = Message(room, text)
    history[room].append(message)
    await hub.publish(room, message)


@rt("/rooms/{room}/events")
async def get(request, room: str):  # noqa: F811 (FastHTML routes by path)
    if room not in ROOMS:
        return Response("No such room", status_code=404)
    return hub.stream(request, room)


if __name__ == "__main__":
    import uvicorn
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ.get("PORT", "5001")))
