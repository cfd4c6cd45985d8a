"""Monitor configuration, validated in Python and handed to the browser runtime as JSON."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any

from ..validate import check_bool, check_event_name, check_int, check_number
from ..wire import CLOSE_EVENT, HEARTBEAT_EVENT, RESET_EVENT

__all__ = ["SSEConnectionConfig", "DEFAULT_STALL_TIMEOUT"]

DEFAULT_STALL_TIMEOUT = 45000


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


@dataclass
class SSEConnectionConfig:
    """How the browser runtime watches and reconnects one SSE element. All times are milliseconds.

    Defaults are chosen for a production page:
    - `reconnect_delay=1000`, `max_backoff_multiplier=4`: waits of 1, 2, 4, 4, 4 ... s (with `jitter`),
      so after an outage of any length the page is Live again within about 5 s of the server coming
      back, while a crowd of clients spreads its retries instead of arriving at once.
    - `max_reconnect_attempts=30`: about two minutes of trying, then Disconnected with click-to-retry
      (0 = never give up). Going online again or showing the tab again always retries at once.
    - `stall_timeout=None`: 45000 ms (three missed heartbeats of the hub's default 15 s interval), armed
      on a stream only once it has sent a heartbeat, so a server that never sends any (a plain FastHTML
      `EventStream`) is never cut off. A value given explicitly arms always (0 = off).
    - `indicator_delay=500`: a blip shorter than this never flashes the indicator; `data-state` and the
      `sse-monitor:state` events still change at once.
    - `log_to_console=False`: production consoles stay quiet; turn it on while developing.
    - `share_across_tabs=True`: the tabs of one origin showing the same stream URL share one
      connection (one leader tab streams and relays to the others), so a browser's 6-connections-
      per-host limit never leaves a tab without its stream. Only tabs the server vouches for share:
      each tab asks the hub what its own request would be streamed (its own cookies, the hub's
      `authorize` and channel choice), and joins only tabs that would get the same events; a tab
      logged out or logged in as someone else streams on its own (and gets its own 403).
    - `share_unverified_streams=False`: a stream the hub does not serve (a plain FastHTML
      `EventStream` or `StreamingResponse`) cannot be vouched for, so it is not shared. True shares it
      anyway between every same-origin tab showing the URL: only for a stream that is the same for
      everyone (no login decides what it sends).
    """

    max_reconnect_attempts: int = 30
    reconnect_delay: int = 1000
    max_backoff_multiplier: int = 4
    monitor_visibility: bool = True
    log_to_console: bool = False
    stall_timeout: int | None = None
    close_event: str = CLOSE_EVENT
    heartbeat_event: str = HEARTBEAT_EVENT
    reset_event: str = RESET_EVENT
    reconnect_on_online: bool = True
    jitter: float = 0.5
    indicator_delay: int = 500
    show_countdown: bool = True
    share_across_tabs: bool = True
    share_unverified_streams: bool = False

    def __post_init__(self) -> None:
        # wrong types raise TypeError, wrong values ValueError (sse_monitor.validate)
        check_int("max_reconnect_attempts", self.max_reconnect_attempts)
        check_int("reconnect_delay", self.reconnect_delay, minimum=1, why=" (milliseconds)")
        check_int("max_backoff_multiplier", self.max_backoff_multiplier, minimum=1,
                  why=" (the cap is reconnect_delay x this)")
        check_int("stall_timeout", self.stall_timeout, optional=True)
        check_int("indicator_delay", self.indicator_delay)
        for name in ("monitor_visibility", "log_to_console", "reconnect_on_online", "show_countdown",
                     "share_across_tabs", "share_unverified_streams"):
            check_bool(name, getattr(self, name))
        for name in ("close_event", "heartbeat_event", "reset_event"):
            check_event_name(name, getattr(self, name))
        check_number("jitter", self.jitter, maximum=1)

    def to_dict(self) -> dict[str, Any]:
        """The configuration as the runtime reads it (camelCase keys), validated again in case a
        field was assigned after construction."""
        self.__post_init__()
        data = {_camel(name): value for name, value in asdict(self).items()}
        data["stallTimeout"] = DEFAULT_STALL_TIMEOUT if self.stall_timeout is None else self.stall_timeout
        data["stallAfterHeartbeat"] = self.stall_timeout is None
        return data

    def to_json(self) -> str:
        """`to_dict()` as JSON, placed in the status container's `data-sse-config` attribute."""
        return json.dumps(self.to_dict(), separators=(",", ":"))
