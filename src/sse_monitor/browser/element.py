"""The SSE element, written the same way for htmx 2 (htmx-ext-sse) and htmx 4 (hx-sse).

htmx 2 connects an element with `hx-ext="sse" sse-connect=URL` and swaps unnamed messages only
where `sse-swap="message"` says so. htmx 4 connects with `hx-sse:connect=URL` and swaps unnamed
messages into the element's target by itself; under FastHTML (`fast_app(htmx4=True)` sets htmx's
`metaCharacter` to "-") the attribute is spelled `hx-sse-connect`. For htmx 4 both spellings are
written, so the element works whichever metaCharacter the page uses. The monitor's runtime reads
whichever attribute is there.

    Div(**sse_connect_attrs("/events/feed", htmx=4), hx_swap="beforeend")
    SSEElement("feed", "/events/feed", htmx=4, hx_swap="beforeend", hx_target="#log")
"""
from __future__ import annotations

from typing import Any

from fasthtml.common import Div

from ..validate import check_str
from .ids import HtmlIds

__all__ = ["HTMX_VERSIONS", "SSEElement", "sse_connect_attrs", "validate_htmx_version"]

HTMX_VERSIONS = (2, 4)


def validate_htmx_version(htmx: object) -> int:
    """The htmx major version as an int (2 or 4), from an int or a digit string."""
    if isinstance(htmx, str) and htmx.isdigit():
        htmx = int(htmx)
    if htmx not in HTMX_VERSIONS:
        raise ValueError(f"htmx must be one of {HTMX_VERSIONS} (the major version on the page), not {htmx!r}")
    return htmx


def sse_connect_attrs(url: str, htmx: int = 2, swap: bool = True) -> dict[str, str]:
    """Attributes that connect an element to the SSE stream at `url` under htmx 2 or 4.

    `swap=True` swaps unnamed messages into the element's target (htmx 4 always does; for htmx 2
    this adds `sse-swap="message"`). Splat the result into an FT component: `Div(**attrs)`.
    """
    if not check_str("url", url).strip():
        raise ValueError(f"url must be a non-empty string, not {url!r}")
    if any(ch in url for ch in "\r\n\0"):
        raise ValueError("url must not contain line breaks or NUL")
    if validate_htmx_version(htmx) == 4:
        return {"hx-sse:connect": url, "hx-sse-connect": url}
    attrs = {"hx-ext": "sse", "sse-connect": url}
    if swap:
        attrs["sse-swap"] = "message"
    return attrs


def SSEElement(connection_id: str, url: str, *children: Any, htmx: int = 2, swap: bool = True,
               **attrs: Any) -> Any:
    """The element `#sse-element-{id}` that the monitor `connection_id` watches, connected to `url`.

    Extra keyword arguments are ordinary FT attributes (`hx_target`, `hx_swap`, `cls`, ...)."""
    return Div(*children, id=HtmlIds.sse_element(connection_id), **sse_connect_attrs(url, htmx, swap), **attrs)
