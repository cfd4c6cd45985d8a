"""The wire contract between the server (Hub, streams) and the browser runtime.

One place for what both ends must agree on: the default event names, the query parameter that
carries a resume id when no `Last-Event-ID` header can be sent, and the data of the `close` and
`reset` events. Both sides can rename the events: the server with `Hub(heartbeat_event=...,
close_event=..., reset_event=...)`, the browser with the same fields of `SSEConnectionConfig`;
the defaults of both come from here; browser/static/sse-monitor.js keeps the same defaults and the same parameter
name, and tests/unit/test_wire.py checks that the two agree.
"""
from __future__ import annotations

import hashlib
import json
from typing import Literal, get_args

from .server.sse import encode_event

__all__ = ["HEARTBEAT_EVENT", "CLOSE_EVENT", "RESET_EVENT", "LAST_EVENT_ID_PARAM", "ResetReason",
           "RESET_REASONS", "close_frame", "reset_frame", "SHARE_PARAM", "SHARE_EVENT", "SHARE_PROTOCOL",
           "share_digest", "share_check_body", "share_frame", "END_EVENT", "Outcome", "OUTCOMES", "end_data"]

HEARTBEAT_EVENT = "heartbeat"     # empty data; proves the stream is alive (stall detection)
CLOSE_EVENT = "close"             # the server ends the stream: go away, or come back later (close_frame)
RESET_EVENT = "reset"             # the missed events cannot be replayed: reload the state (reset_frame)
LAST_EVENT_ID_PARAM = "lastEventId"   # query parameter, read when there is no Last-Event-ID header
END_EVENT = "end"                 # the channel is finished (a job, an answer): JSON {"outcome", "detail"}

# How a finished channel ended (`Hub.end`): the page shows it, and never reconnects.
#   "done"        - it finished as planned;
#   "cancelled"   - somebody stopped it;
#   "error"       - it failed (`detail` may say why, in words for the user);
#   "interrupted" - the process running it went away before it finished (a retry may help).
Outcome = Literal["done", "cancelled", "error", "interrupted"]
OUTCOMES: tuple[str, ...] = get_args(Outcome)

# Why a resume cannot replay what was missed:
#   "unknown-id" - the id was never in this channel's history (another server, data re-created);
#   "too-old"    - events after it were dropped from the buffer or trimmed from the stream;
#   "malformed"  - not an id this backend produces (or not decodable);
#   "data-lost"  - the backend lost events a followed stream had not delivered (Redis restarted);
#   "unusable"   - the channel cannot be streamed any more (its streams end; no reset is sent).
ResetReason = Literal["unknown-id", "too-old", "malformed", "data-lost", "unusable"]
RESET_REASONS: tuple[str, ...] = get_args(ResetReason)


def close_frame(reason: str, reconnect_after_ms: int | None, event: str = CLOSE_EVENT) -> bytes:
    """The `close` event (named `event`, the hub's `close_event`): plain `reason` text when the
    client must not come back (None), else JSON {"reason", "reconnect_after_ms"} telling it when."""
    if reconnect_after_ms is None:
        return encode_event(reason, event=event)
    return encode_event(json.dumps({"reason": reason, "reconnect_after_ms": reconnect_after_ms}),
                        event=event)


def end_data(outcome: str, detail: str | None) -> str:
    """The data of the `end` event: JSON {"outcome", "detail"}."""
    return json.dumps({"outcome": outcome, "detail": detail})


def reset_frame(reason: ResetReason, last_id: str, event_id: str | None, event: str = RESET_EVENT) -> bytes:
    """The `reset` event (named `event`, the hub's `reset_event`): JSON {"reason", "last_id"} (the
    newest id, "" if none) with `event_id` as its id, so a reconnect after it resumes from now."""
    return encode_event(json.dumps({"reason": reason, "last_id": last_id}), event=event, id=event_id)


# Tab sharing: the server vouches for what a tab would be streamed. Tabs of one origin share a
# stream only when the server says their own requests would get the same events: the runtime asks
# `?sseMonitorShare=check` with the tab's own cookies (same authorization and channel choice as a
# real stream, answered with `share_check_body`, no stream), and the leader tab's stream, asked with
# `?sseMonitorShare=stream`, starts with `share_frame`: the digest it was opened under. A tab joins
# only the tabs whose digest is its own, and a leader relays only a stream whose digest is the one
# its tabs joined with. SHARE_PROTOCOL is the version of that exchange and of the messages tabs send
# each other (sse-monitor.js keeps the same number): tabs of two versions never share.
SHARE_PARAM = "sseMonitorShare"     # "check": answer with the digest; "stream": stream, digest first
SHARE_EVENT = "sse-monitor-share"   # the event a shared stream starts with: {"protocol", "digest"}
SHARE_PROTOCOL = 2


def share_digest(channel: str) -> str:
    """What a tab would be streamed, as tabs compare it: the channel its request resolved to (every
    authorized subscriber of a channel gets the same events), hashed so it is short and opaque."""
    return hashlib.sha256(f"sse-monitor-share/{SHARE_PROTOCOL}\n{channel}".encode()).hexdigest()[:32]


def share_check_body(digest: str) -> bytes:
    """The JSON answer to a share check (`?sseMonitorShare=check`)."""
    return json.dumps({"protocol": SHARE_PROTOCOL, "digest": digest}, separators=(",", ":")).encode()


def share_frame(digest: str) -> bytes:
    """The event a stream asked with `?sseMonitorShare=stream` starts with (no id: it is no data)."""
    return encode_event(share_check_body(digest).decode(), event=SHARE_EVENT)
