"""Element ids shared by the Python components and the browser runtime.

A connection id becomes part of an HTML id and of a CSS selector, so it is restricted to a letter
followed by letters, digits, `-` and `_` (at most 64 characters): nothing a user passes can break out
of an attribute or a selector (`validate_connection_id`, in validate.py with the other name checks).
"""
from __future__ import annotations

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
        return f"#{validate_connection_id(element_id)}"


InteractionHtmlIds = HtmlIds  # the original pattern's name, so switching is an import change
