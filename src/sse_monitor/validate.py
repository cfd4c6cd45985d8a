"""Checks for the names and numbers users pass in, in one place.

As Starlette does: a wrong *type* raises `TypeError`, a wrong *value* raises `ValueError`, and
every message starts with the argument's name. `bool` is not accepted where a number is meant
(`True` is an `int` to Python, never to a user).

- `validate_channel`: a hub channel name (it appears in URLs and Redis keys);
- `validate_connection_id`: a monitored connection's id, by the channel names' rule (it becomes an HTML id);
- `check_event_name`: an SSE event name (it goes on an `event:` line);
- `check_str`, `check_int`, `check_number`, `check_bool`: the other options of Hub, config and backends.
"""
from __future__ import annotations

import re
from typing import Any

__all__ = ["validate_channel", "validate_connection_id", "check_event_name", "check_str", "check_int",
           "check_number", "check_bool", "CHANNEL_RE"]

CHANNEL_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:\-]{0,127}")     # used with fullmatch
_CONNECTION_ID = CHANNEL_RE   # one rule for names: a job's channel name is a valid monitor id


def check_str(name: str, value: Any) -> str:
    """`value` if it is a str, else TypeError naming the argument."""
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected a str, got {type(value).__name__}")
    return value


def _matching(name: str, value: Any, pattern: re.Pattern[str], rule: str) -> str:
    text = check_str(name, value)
    if not pattern.fullmatch(text):
        raise ValueError(f"{name}: must be {rule} (got {text[:70]!r})")
    return text


def validate_channel(channel: Any) -> str:
    """The channel name: 1-128 chars of letters, digits, `_ . : -`, starting with a letter or digit."""
    return _matching("channel", channel, CHANNEL_RE, "1-128 characters of letters, digits, '_', '.', ':' "
                     "or '-', starting with a letter or digit")


def validate_connection_id(connection_id: Any) -> str:
    """`connection_id` if it is a valid channel name too (the same rule), which is safe in an HTML
    id; a CSS selector needs `.` and `:` escaped (`HtmlIds.as_selector` does it)."""
    return _matching("connection_id", connection_id, _CONNECTION_ID, "1-128 characters of letters, digits, "
                     "'_', '.', ':' or '-', starting with a letter or digit (the same rule as channel names)")


def check_event_name(name: str, value: Any) -> str:
    """An SSE event name: a non-empty str without CR, LF or NUL (it goes on one `event:` line)."""
    text = check_str(name, value)
    if not text or any(c in text for c in "\r\n\0"):
        raise ValueError(f"{name}: must be a non-empty event name without line breaks, not {text!r}")
    return text


def check_int(name: str, value: Any, *, minimum: int = 0, optional: bool = False, why: str = "") -> None:
    """An `int` (not bool) of at least `minimum`; None too when `optional`. `why` ends the message."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        or_none = " or None" if optional else ""
        raise TypeError(f"{name}: expected an int{or_none}, got {value!r}")
    if value < minimum:
        what = {0: "a non-negative int", 1: "a positive int"}.get(minimum, f"an int of at least {minimum}")
        raise ValueError(f"{name}: expected {what}{' or None' if optional else ''}{why}, got {value!r}")


def check_number(name: str, value: Any, *, maximum: float | None = None, optional: bool = False) -> None:
    """An int or float (not bool, not NaN): from 0 to `maximum` when given, else positive."""
    if optional and value is None:
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        or_none = " or None" if optional else ""
        raise TypeError(f"{name}: expected a number{or_none}, got {value!r}")
    if maximum is not None:
        if not 0 <= value <= maximum:      # NaN fails this too
            raise ValueError(f"{name}: expected a number from 0 to {maximum:g}, got {value!r}")
    elif not value > 0:                    # NaN fails this too
        raise ValueError(f"{name}: expected a positive number, got {value!r}")


def check_bool(name: str, value: Any) -> None:
    """True or False, nothing else (0/1 and strings are wrong types)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
