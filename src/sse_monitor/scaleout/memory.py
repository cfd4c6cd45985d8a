"""In-process backend: ids are "<boot>-<seq>", history is the Hub's own replay buffer.

`boot` is random per process, so an id from a previous server process (or another worker) is
recognised as unknown and answered with a reset instead of a wrong replay.
"""
from __future__ import annotations

import secrets
import threading

from ..validate import check_str
from . import Deliver, Replay

__all__ = ["MemoryBackend"]


class MemoryBackend:
    """Default backend: one process, nothing shared. Publishing delivers synchronously."""

    local_history = True    # the Hub's replay buffer is the history

    def __init__(self, boot: str | None = None) -> None:
        if boot is not None and not (check_str("boot", boot).isascii() and boot.isalnum()):
            raise ValueError("boot: must be a non-empty ASCII alphanumeric string")
        self.boot = boot or secrets.token_hex(6)
        self._seq: dict[str, int] = {}
        self._deliver: Deliver | None = None
        self._lock = threading.Lock()   # publish_nowait may run in several threads at once

    def bind(self, deliver: Deliver) -> None:
        self._deliver = deliver

    def publish_nowait(self, channel: str, event: str | None, data: str) -> str:
        if self._deliver is None:
            raise RuntimeError("MemoryBackend is not bound to a Hub")
        with self._lock:
            seq = self._seq.get(channel, 0) + 1
            event_id = f"{self.boot}-{seq}"
            self._deliver(channel, event_id, event, data)
            self._seq[channel] = seq
        return event_id

    async def publish(self, channel: str, event: str | None, data: str) -> str:
        return self.publish_nowait(channel, event, data)

    @staticmethod
    def _parse(event_id: str) -> tuple[str, int] | None:
        boot, dash, seq = event_id.rpartition("-")
        if not dash or not boot or not seq.isascii() or not seq.isdigit() or len(seq) > 18:
            return None
        return boot, int(seq)

    async def history(self, channel: str, last_id: str, limit: int) -> Replay:
        # Only asked when the Hub's buffer cannot resume from last_id, so nothing is replayable.
        parsed = self._parse(last_id)
        if parsed is None:
            return Replay(reset="malformed")
        boot, seq = parsed
        if boot != self.boot:     # an earlier boot (a restart): every event of this one is new to it
            return Replay(reset="unknown-id", buffer_is_new=True)
        if seq > self._seq.get(channel, 0):
            return Replay(reset="unknown-id")
        return Replay(reset="too-old", buffer_is_new=True)

    def sort_key(self, event_id: str) -> int:
        parsed = self._parse(event_id)
        return parsed[1] if parsed else -1

    def position(self, channel: str) -> str:
        return f"{self.boot}-{self._seq.get(channel, 0)}"

    def last_id(self, channel: str) -> str | None:
        seq = self._seq.get(channel, 0)
        return f"{self.boot}-{seq}" if seq else None

    def origin(self, channel: str) -> str:
        """The id before a channel's first event: resuming from it replays the whole channel."""
        return f"{self.boot}-0"

    def forget(self, channel: str) -> None:
        """Drop the channel's numbering (`Hub.forget`): its old ids are then unknown (a reset)."""
        with self._lock:
            self._seq.pop(channel, None)

    def open_channel(self, channel: str) -> None:
        pass

    def close_channel(self, channel: str) -> None:
        pass

    async def aclose(self) -> None:
        pass
