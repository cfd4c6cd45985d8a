"""Status indicators: one small component per connection state, in a plain or a daisyUI theme.

The plain theme (default) is styled by `static/sse-monitor.css` and looks right on a page with no CSS
framework, which is FastHTML's default. The daisyUI theme uses daisyUI v5 `status` classes, as the
original cjm-fasthtml-interactions pattern did.
"""
from __future__ import annotations

import re
from typing import Any

from fasthtml.common import Span

from ..validate import check_bool

__all__ = ["STATES", "STATE_LABELS", "OUTCOME_LABELS", "create_connection_status_indicators"]

STATES = ("connecting", "active", "reconnecting", "error", "disconnected", "offline", "finished")
STATE_LABELS = {
    "connecting": "Connecting...",
    "active": "Live",
    "reconnecting": "Reconnecting...",
    "error": "Error",
    "disconnected": "Disconnected",
    "offline": "Offline",
    "finished": "Finished",
}
# The finished indicator's text by the channel's outcome (Hub.end); the runtime sets it.
OUTCOME_LABELS = {"done": "Finished", "cancelled": "Cancelled", "error": "Failed", "interrupted": "Interrupted"}
_SIZES = ("xs", "sm", "md", "lg", "xl")
_THEMES = ("plain", "daisyui")
_DAISY_COLORS = {"connecting": "info", "active": "success", "reconnecting": "warning", "error": "error",
                 "disconnected": "neutral", "offline": "neutral", "finished": "neutral"}
_CLASS_LIST = re.compile(r"[A-Za-z0-9_:./\[\]-]+( [A-Za-z0-9_:./\[\]-]+)*")


def create_connection_status_indicators(status_size: str = "sm", show_text: bool = True,
                                        text_size: str = "text-sm", hide_text_on_mobile: bool = True,
                                        theme: str = "plain") -> dict[str, Any]:
    """A dict state -> indicator component for every state in `STATES`.

    The reconnecting and error indicators hold an empty `[data-sse-countdown]` span that the runtime
    fills with the seconds until the next attempt.
    """
    if status_size not in _SIZES:
        raise ValueError(f"status_size must be one of {', '.join(_SIZES)}, not {status_size!r}")
    if theme not in _THEMES:
        raise ValueError(f"theme must be one of {', '.join(_THEMES)}, not {theme!r}")
    if not isinstance(text_size, str) or not _CLASS_LIST.fullmatch(text_size):
        raise ValueError(f"text_size must be CSS class names, not {text_size!r}")
    check_bool("show_text", show_text)
    check_bool("hide_text_on_mobile", hide_text_on_mobile)
    return {state: _indicator(state, status_size, show_text, text_size, hide_text_on_mobile, theme)
            for state in STATES}


def _indicator(state: str, size: str, show_text: bool, text_size: str, hide_on_mobile: bool,
               theme: str) -> Any:
    label = STATE_LABELS[state]
    countdown = (Span(data_sse_countdown=""),) if state in ("reconnecting", "error") else ()
    if state == "finished":   # the runtime writes the outcome's words here (OUTCOME_LABELS)
        label = Span(label, data_sse_outcome="")
    if theme == "daisyui":
        dot = Span(cls=f"status status-{_DAISY_COLORS[state]} status-{size}", aria_hidden="true")
        text_cls = f"{text_size} hidden sm:inline" if hide_on_mobile else text_size
        text = (Span(label, *countdown, cls=text_cls),) if show_text else ()
        return Span(dot, *text, title=STATE_LABELS[state], cls="inline-flex items-center gap-2")
    dot = Span(cls=f"sse-monitor-dot sse-monitor-dot-{size}", aria_hidden="true")
    text_cls = f"sse-monitor-text {text_size}" + (" sse-monitor-hide-mobile" if hide_on_mobile else "")
    text = (Span(label, *countdown, cls=text_cls),) if show_text else ()
    return Span(dot, *text, title=STATE_LABELS[state], cls=f"sse-monitor-indicator sse-monitor-{state}")
