"""What browsers say about their connections: state changes posted by `navigator.sendBeacon`.

The server sees a stream open and end; only the browser sees the retries, stalls and give-ups its
user looks at. The README's recipe posts each `sse-monitor:state` change to the route
`Hub.reports_route` adds, and the hub counts them by state and reason (`Hub.stats()`'s
`browser_states`, the metric `sse_monitor_browser_states_total{state,reason}`).

Anyone can post there, so what a post says cannot grow the server's memory or the metric's series:
a state outside `STATES` is refused (400); a reason outside `REASONS` counts as `other`, and an
`http-<status>` reason by its class (`http-4xx`, `http-5xx`). A body over `MAX_BODY` bytes is
refused (413) before it is read further.
"""
from __future__ import annotations

import json
import re
from typing import Any

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

__all__ = ["STATES", "REASONS", "MAX_BODY", "MAX_REPORTS", "BrowserStates", "reports_endpoint"]

# The runtime's states (its STATE table; tests/unit/test_reports.py checks they agree).
STATES = ("connecting", "active", "reconnecting", "error", "disconnected", "offline", "finished")

# The reasons the runtime gives for a change (README, "reason says why the state changed"), and
# the ones a tab gives for a retry. Anything else (a server close's own reason) is `other`.
REASONS = ("connection-lost", "connection-error", "stalled", "connect-not-started", "gave-up",
           "browser-offline", "browser-online", "element-removed", "server-close", "setup",
           "refused", "tab-visible", "tab-opened", "user", "lost-while-hidden", "following", "none",
           "done", "cancelled", "interrupted")

MAX_BODY = 4096      # bytes: a beacon of a few changes is well under it
MAX_REPORTS = 20     # changes in one post

_HTTP = re.compile(r"^http-([1-5])[0-9]{2}$")


def reason_label(reason: object) -> str:
    """The label a reported reason is counted under: itself if known, else a bounded stand-in."""
    if reason is None:
        return "none"
    if not isinstance(reason, str):
        return "other"
    if reason in REASONS:
        return reason
    match = _HTTP.match(reason)
    return f"http-{match.group(1)}xx" if match else "other"


class BrowserStates:
    """Counts of reported state changes, keyed by (state, reason label): at most
    len(STATES) x (len(REASONS) + 6) keys, whatever is posted."""

    __slots__ = ("counts",)

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}

    def count(self, reports: list[tuple[str, str]]) -> None:
        for key in reports:
            self.counts[key] = self.counts.get(key, 0) + 1

    def as_dict(self) -> dict[str, int]:
        """JSON-ready: "state/reason" -> count."""
        return {f"{state}/{reason}": n for (state, reason), n in sorted(self.counts.items())}


def parse_reports(body: bytes) -> list[tuple[str, str]]:
    """The (state, reason label) pairs of a posted body: one JSON object `{"state", "reason"}` or a
    list of at most MAX_REPORTS of them. Raises ValueError saying what is wrong."""
    try:
        said: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("the body is not JSON: post {\"state\": ..., \"reason\": ...}") from None
    items = said if isinstance(said, list) else [said]
    if not items or len(items) > MAX_REPORTS:
        raise ValueError(f"expected 1 to {MAX_REPORTS} reports, got {len(items)}")
    reports = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError("each report is an object {\"state\": ..., \"reason\": ...}")
        state = item.get("state")
        if state not in STATES:
            raise ValueError(f"state: expected one of {', '.join(STATES)}, got {str(state)[:40]!r}")
        reports.append((state, reason_label(item.get("reason"))))
    return reports


async def _read_bounded(request: Request) -> bytes | None:
    """The body, or None once it grows past MAX_BODY (the rest is not read)."""
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY:
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return body


def reports_endpoint(states: BrowserStates) -> Any:
    """A Starlette endpoint for `POST`s of state changes (any content type: sendBeacon of a string
    sends text/plain): 204 when counted, 400 or 413 with the reason otherwise."""

    async def reports(request: Request) -> Response:
        body = await _read_bounded(request)
        if body is None:
            return PlainTextResponse(f"report too large: at most {MAX_BODY} bytes", status_code=413)
        try:
            parsed = parse_reports(body)
        except ValueError as exc:
            return PlainTextResponse(f"bad report: {exc}", status_code=400)
        states.count(parsed)
        return Response(status_code=204)

    return reports
