"""The connection monitor's components: the status container and the script that runs the monitor.

Nothing here builds JavaScript. The runtime is the file `static/sse-monitor.js`, read once and placed
verbatim in a script element (or served as a static asset, see `sse_monitor.browser.assets`). Everything
specific to one monitor (its id, its configuration as JSON, its indicators as rendered HTML) is plain
markup that the runtime finds in the page, so user input is always escaped by FastHTML, never executed.
"""
from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from importlib.resources import files
from typing import Any

from fasthtml.common import Div, Script, Span, Style, Template

from ..validate import check_str
from .config import SSEConnectionConfig
from .ids import HtmlIds, validate_connection_id
from .indicators import STATES, create_connection_status_indicators

__all__ = ["SSEConnectionMonitor", "SSEConnectionMonitorScript", "SSEStatus", "runtime_js",
           "runtime_css", "resolve_indicators"]

# A custom indicator dict may leave states out: each falls back to the first of these it has, and
# otherwise to the default indicator for that state.
FALLBACKS = {
    "connecting": ("reconnecting",),
    "active": (),
    "reconnecting": ("connecting",),
    "error": ("disconnected",),
    "disconnected": ("error",),
    "offline": ("disconnected", "error"),
    "finished": ("disconnected",),
}


@cache
def runtime_js() -> str:
    """The browser runtime's source, read once from the package."""
    return files("sse_monitor.browser").joinpath("static/sse-monitor.js").read_text(encoding="utf-8")


@cache
def runtime_css() -> str:
    """The plain theme's stylesheet, read once from the package."""
    return files("sse_monitor.browser").joinpath("static/sse-monitor.css").read_text(encoding="utf-8")


def resolve_indicators(status_indicators: Mapping[str, Any] | None) -> dict[str, Any]:
    """A complete state -> indicator dict from a possibly partial one (see `FALLBACKS`)."""
    defaults = create_connection_status_indicators()
    if status_indicators is None:
        return defaults
    if not isinstance(status_indicators, Mapping):
        raise TypeError("status_indicators must be a dict of state -> FT component or str, "
                         f"not {type(status_indicators).__name__}")
    unknown = sorted(set(status_indicators) - set(STATES), key=str)
    if unknown:
        raise ValueError(f"status_indicators has unknown states {unknown}; states are {', '.join(STATES)}")
    for state, indicator in status_indicators.items():
        if not (isinstance(indicator, str) or hasattr(indicator, "__ft__") or type(indicator).__name__ == "FT"):
            raise TypeError(f"status_indicators[{state!r}] must be an FT component or a str, "
                             f"not {type(indicator).__name__}")
    resolved = {}
    for state in STATES:
        choices = (state, *FALLBACKS[state])
        found = next((status_indicators[c] for c in choices if c in status_indicators), None)
        resolved[state] = found if found is not None else defaults[state]
    return resolved


# When the runtime never runs (its script left out: `include_runtime=False` without `sse_headers()`),
# nothing would ever leave "Connecting...". The status markup names that itself: a notice hidden by
# its `hidden` attribute, which this style (in the markup, since the runtime's stylesheet may be
# missing too) reveals 4 s after the page showed, in place of "Connecting...", unless the runtime
# marked the container (`data-sse-runtime`) by then. No script involved; a CSP that blocks inline
# styles keeps the notice hidden.
NO_RUNTIME_WAIT = "4s"
NO_RUNTIME_TEXT = "Error: the monitor's script is not on this page"
NO_RUNTIME_FIX = ("The status indicator is on the page, but the monitor's script is not, so nothing "
                  "connects it. Fix: fast_app(hdrs=sse_headers()), or SSEConnectionMonitor(..., "
                  "include_runtime=True) (the default).")
NO_RUNTIME_CSS = (
    ".sse-monitor:not([data-sse-runtime])>[data-sse-no-runtime]{display:inline;position:absolute;"
    f"visibility:hidden;animation:sse-monitor-no-runtime 0s {NO_RUNTIME_WAIT} forwards}}"
    ".sse-monitor:not([data-sse-runtime])>[data-sse-state=connecting]{"
    f"animation:sse-monitor-no-runtime-hide 0s {NO_RUNTIME_WAIT} forwards}}"
    "@keyframes sse-monitor-no-runtime{to{position:static;visibility:visible}}"
    "@keyframes sse-monitor-no-runtime-hide{to{position:absolute;visibility:hidden}}"
)


def _no_runtime_notice() -> tuple[Any, Any]:
    return (Span(NO_RUNTIME_TEXT, data_sse_no_runtime="", hidden=True, title=NO_RUNTIME_FIX),
            Style(NO_RUNTIME_CSS))


def _state_spans(indicators: Mapping[str, Any], visible: str = "connecting") -> list[Any]:
    return [Span(indicators[state], data_sse_state=state, hidden=state != visible) for state in STATES]


def _config(config: SSEConnectionConfig | None) -> SSEConnectionConfig:
    if config is None:
        return SSEConnectionConfig()
    if not isinstance(config, SSEConnectionConfig):
        raise TypeError(f"config must be an SSEConnectionConfig, not {type(config).__name__}")
    return config


def SSEStatus(connection_id: str, status_indicators: Mapping[str, Any] | None = None,
              config: SSEConnectionConfig | None = None, cls: str | None = None) -> Any:
    """The status container `#sse-status-{id}`: an accessible live region holding one indicator per
    state (only the current one shown), the configuration as JSON, and the id of the SSE element.
    Click, Enter or Space on it retries after the monitor gave up."""
    validate_connection_id(connection_id)
    if cls is not None:
        check_str("container_cls", cls)
    return Div(
        *_state_spans(resolve_indicators(status_indicators)),
        *_no_runtime_notice(),
        id=HtmlIds.sse_status(connection_id),
        role="status", aria_live="polite", aria_atomic="true", tabindex="0",
        title="Connection status",
        data_state="connecting",
        data_sse_monitor=connection_id,
        data_sse_element=HtmlIds.sse_element(connection_id),
        data_sse_config=_config(config).to_json(),
        cls=f"sse-monitor {cls}" if cls else "sse-monitor",
    )


def SSEConnectionMonitorScript(connection_id: str, status_indicators: Mapping[str, Any] | None = None,
                               config: SSEConnectionConfig | None = None, *, nonce: str | None = None,
                               include_runtime: bool = True) -> Any:
    """What makes the runtime monitor `#sse-element-{id}` and drive `#sse-status-{id}`.

    For a status container the page built itself (as with the original pattern), this carries the
    indicators in a `<template>` and the configuration as JSON; the runtime fills the container from
    them. `include_runtime=False` leaves the runtime out when it is loaded once in the page head
    (`sse_monitor.browser.assets.sse_monitor_headers`).
    """
    validate_connection_id(connection_id)
    carrier = Template(
        *_state_spans(resolve_indicators(status_indicators)),
        data_sse_monitor=connection_id,
        data_sse_status=HtmlIds.sse_status(connection_id),
        data_sse_element=HtmlIds.sse_element(connection_id),
        data_sse_config=_config(config).to_json(),
    )
    if not include_runtime:
        return carrier
    return Div(carrier, *runtime_tags(nonce), style="display:none", data_sse_monitor_setup=connection_id)


def runtime_tags(nonce: str | None = None) -> tuple[Any, Any]:
    """The plain theme's style and the runtime, inline (each defines itself once per page)."""
    extra = {"nonce": nonce} if nonce else {}
    return Style(runtime_css(), **extra), Script(runtime_js(), **extra)


def SSEConnectionMonitor(connection_id: str, status_size: str = "sm", show_text: bool = True,
                         hide_text_on_mobile: bool = True, config: SSEConnectionConfig | None = None,
                         container_cls: str | None = None, *, theme: str = "plain",
                         nonce: str | None = None, include_runtime: bool = True) -> tuple[Any, Any]:
    """`(status_container, monitor_script)` for the SSE element `#sse-element-{id}`: put both in the page.

    With `include_runtime=False` the script part is empty, for pages that load the runtime once as a
    static asset (many monitors, or a Content-Security-Policy without inline scripts).
    """
    indicators = create_connection_status_indicators(
        status_size=status_size, show_text=show_text, hide_text_on_mobile=hide_text_on_mobile, theme=theme)
    container = SSEStatus(connection_id, indicators, config, container_cls)
    script = runtime_tags(nonce) if include_runtime else ()
    return container, script
