"""Element ids shared by the Python components and the browser runtime.

A connection id becomes part of an HTML id and of a CSS selector, so it is restricted to a letter
followed by letters, digits, `-` and `_` (at most 64 characters): nothing a user passes can break out
of an attribute or a selector.
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["HtmlIds", "InteractionHtmlIds", "validate_connection_id"]

_CONNECTION_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def validate_connection_id(connection_id: Any) -> str:
    """Return `connection_id` if it is safe in an HTML id and a CSS selector, else ValueError."""
    if not isinstance(connection_id, str) or not _CONNECTION_ID.fullmatch(connection_id):
        raise ValueError(
            "connection_id must be a letter followed by up to 63 letters, digits, '-' or '_' "
            f"(it becomes an HTML id and a CSS selector), not {connection_id!r}")
    return connection_id


class HtmlIds:
    """The ids of a monitored connection's elements (same names as cjm-fasthtml-interactions)."""

    @staticmethod
    def sse_status(connection_id: str) -> str:
        """Id of the status indicator container: `sse-status-{id}`."""
        return f"sse-status-{validate_connection_id(connection_id)}"

    @staticmethod
    def sse_element(connection_id: str) -> str:
        """Id of the htmx SSE element the monitor watches: `sse-element-{id}`."""
        return f"sse-element-{validate_connection_id(connection_id)}"

    @staticmethod
    def as_selector(element_id: str) -> str:
        """`#element_id`, for ids made by this class (validated the same way)."""
        return f"#{validate_connection_id(element_id)}"


InteractionHtmlIds = HtmlIds  # the original pattern's name, so switching is an import change
