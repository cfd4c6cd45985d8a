"""Element ids shared by the Python components and the browser runtime.

A connection id becomes part of an HTML id, so it follows the channel names' rule (letters, digits,
`_ . : -`, starting with a letter or digit, at most 128 characters): a job's channel name is its
monitor's id, and nothing a user passes can break out of an attribute (`validate_connection_id`, in
validate.py with the other name checks). In a CSS selector `.` and `:` are escaped (`as_selector`).
"""
from __future__ import annotations

import re

from ..validate import validate_connection_id

__all__ = ["HtmlIds", "InteractionHtmlIds", "validate_connection_id"]


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
        return "#" + re.sub(r"([.:])", r"\\\1", validate_connection_id(element_id))


InteractionHtmlIds = HtmlIds  # the original pattern's name, so switching is an import change
