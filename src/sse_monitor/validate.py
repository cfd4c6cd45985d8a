"""Checks for the names users pass in, in one place.

- `validate_channel`: a hub channel name (it appears in URLs and Redis keys);
- `validate_connection_id`: a monitored connection's id (it becomes an HTML id and a CSS selector);
- `check_event_name`: an SSE event name (it goes on an `event:` line).
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["validate_channel", "validate_connection_id", "check_event_name", "CHANNEL_RE"]

CHANNEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")     # used with fullmatch
_CONNECTION_ID = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def validate_channel(channel: Any) -> str:
    """The channel name, or ValueError: 1-128 chars of letters, digits, `_ . : -`."""
    if not isinstance(channel, str) or not CHANNEL_RE.fullmatch(channel):
        raise ValueError(
            "channel: must be 1-128 characters of letters, digits, '_', '.', ':' or '-', "
            f"starting with a letter or digit (got {str(channel)[:40]!r})")
    return channel


def validate_connection_id(connection_id: Any) -> str:
    """Return `connection_id` if it is safe in an HTML id and a CSS selector, else ValueError."""
    if not isinstance(connection_id, str) or not _CONNECTION_ID.fullmatch(connection_id):
        raise ValueError(
            "connection_id must be a letter followed by up to 63 letters, digits, '-' or '_' "
            f"(it becomes an HTML id and a CSS selector), not {connection_id!r}")
    return connection_id


def check_event_name(name: str, value: Any) -> str:
    """An SSE event name: a non-empty str without CR, LF or NUL (it goes on one `event:` line)."""
    if not isinstance(value, str) or not value or any(c in value for c in "\r\n\0"):
        raise ValueError(f"{name}: must be a non-empty event name without line breaks, not {value!r}")
    return value
