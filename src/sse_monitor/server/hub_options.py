"""The Hub's options that come as a group: how much it serves (`HubLimits`) and how it ends
(`ShutdownPolicy`).

`Hub()` needs none of them. A deployment that tunes several passes them grouped, and may keep the
group in one place for every worker:

    hub = Hub("redis://cache:6379/0", limits=HubLimits(max_streams=5000, send_timeout=5),
              shutdown_policy=ShutdownPolicy(close_window_ms=10_000))

Each option is also a keyword of `Hub` itself (`Hub(max_streams=5000)`), as before; one given
both ways is a ValueError. Values are checked when the group is made: wrong types raise
TypeError, wrong values ValueError, each naming the option.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

from ..validate import check_bool, check_int, check_number

__all__ = ["HubLimits", "ShutdownPolicy"]


@dataclass(frozen=True)
class HubLimits:
    """How many streams a process serves, and how long a slow client may hold one.

    - `max_streams`, `max_streams_per_channel`: beyond them a new stream gets 503 with
      `Retry-After: retry_after` (seconds). None: no limit.
    - `send_timeout`: a client that has not taken a send within it (seconds) is cut off.
    - `max_send_bytes`: the most one send carries.
    - `max_lag_events`: a stream further behind its channel than this is ended; its client
      resumes (or resets) on reconnect. None: only the replay buffer bounds it.
    """

    max_streams: int | None = None
    max_streams_per_channel: int | None = None
    retry_after: int = 5
    send_timeout: float = 10.0
    max_send_bytes: int = 65536
    max_lag_events: int | None = None

    def __post_init__(self) -> None:
        check_int("max_streams", self.max_streams, minimum=1, optional=True)
        check_int("max_streams_per_channel", self.max_streams_per_channel, minimum=1, optional=True)
        check_int("retry_after", self.retry_after, minimum=1)
        check_number("send_timeout", self.send_timeout)
        check_int("max_send_bytes", self.max_send_bytes, minimum=1)
        check_int("max_lag_events", self.max_lag_events, minimum=1, optional=True)


@dataclass(frozen=True)
class ShutdownPolicy:
    """How the hub's streams end when the process stops or drains.

    - `close_reconnect_after_ms`: when told clients come back (None: they do not);
    - `close_window_ms`: the window their returns are spread over (None: from `close_rate`,
      returns per second, see `Hub.close_window`);
    - `shutdown_timeout`: how long streams get to end before they are cut off (seconds);
    - `handle_signals`: tell clients to go on SIGTERM/SIGINT before uvicorn waits for them.
    """

    close_reconnect_after_ms: int | None = 2000
    close_window_ms: int | None = None
    close_rate: int = 500
    shutdown_timeout: float = 0.5
    handle_signals: bool = True

    def __post_init__(self) -> None:
        check_int("close_reconnect_after_ms", self.close_reconnect_after_ms, optional=True)
        check_int("close_window_ms", self.close_window_ms, optional=True)
        check_int("close_rate", self.close_rate, minimum=1)
        check_number("shutdown_timeout", self.shutdown_timeout)
        check_bool("handle_signals", self.handle_signals)


Group = TypeVar("Group", HubLimits, ShutdownPolicy)


def merged(kind: type[Group], argument: str, given: Group | None, keywords: dict[str, Any]) -> Group:
    """The group `Hub(...)` uses: `given` (its `argument`, "limits" or "shutdown"), or one made of
    the group's own keywords of `Hub`. `keywords`: those keywords as passed, their defaults included;
    one that differs from its default while `given` is set was given both ways: ValueError."""
    if given is None:
        return kind(**keywords)
    if not isinstance(given, kind):
        raise TypeError(f"{argument}: expected {kind.__name__} or None, got {type(given).__name__}")
    for field in fields(kind):
        if keywords[field.name] != field.default:
            raise ValueError(f"{field.name}: give it in {argument}={kind.__name__}(...) or as a keyword "
                             f"of Hub, not both")
    return given
