"""Graceful shutdown on SIGTERM/SIGINT, however the app is run.

uvicorn waits for open connections to close *before* it runs the lifespan shutdown, so with
streams open the lifespan alone never fires. Instead we chain the process's SIGTERM/SIGINT
handlers: our handler tells every Hub in the process to send `event: close` and end its
streams (scheduled thread-safely on the hub's loop), then calls the handler that was there
before (uvicorn's `Server.handle_exit`, which starts uvicorn's own shutdown).

This works for `uvicorn app:app`, `--workers N` and `--reload` (the reloader/supervisor
parent forwards SIGTERM to the worker process, where our handler runs) and FastHTML `serve()`
(uvicorn with reload). The handler is installed from the running loop on the hub's first use
(lifespan startup or first stream), i.e. after uvicorn installed its own, and re-installed if
someone replaced it. Nothing here patches uvicorn or FastHTML.
"""
from __future__ import annotations

import asyncio
import signal
import threading
import weakref
from collections.abc import Callable
from types import FrameType
from typing import Any, Protocol

__all__ = ["install_signal_handlers", "register_hub", "HANDLED_SIGNALS"]

HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Closable(Protocol):
    """What the signal handler needs from a Hub (only this: shutdown.py does not import hub.py)."""

    _loop: asyncio.AbstractEventLoop | None
    handle_signals: bool
    shutdown_timeout: float

    def _signal_shutdown(self) -> None: ...


_hubs: weakref.WeakSet[_Closable] = weakref.WeakSet()


def register_hub(hub: _Closable) -> None:
    _hubs.add(hub)


def _notify_hubs() -> None:
    for hub in list(_hubs):
        loop = hub._loop
        if not hub.handle_signals or loop is None or loop.is_closed():
            continue
        try:
            loop.call_soon_threadsafe(hub._signal_shutdown)
        except RuntimeError:   # loop closed meanwhile
            pass


class _ChainedHandler:
    """A signal handler that notifies the hubs, then calls the handler it replaced."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous

    def __call__(self, sig: int, frame: FrameType | None) -> None:
        _notify_hubs()
        previous = self.previous
        if callable(previous):
            previous(sig, frame)
        elif previous == signal.SIG_DFL or previous is None:
            # Nobody else handles it: restore the default and re-deliver after the streams
            # had their close event (the hub loop runs our close first).
            self._redeliver_later(sig)

    def _redeliver_later(self, sig: int) -> None:
        def redeliver() -> None:
            signal.signal(sig, signal.SIG_DFL)
            signal.raise_signal(sig)

        for hub in list(_hubs):
            loop = hub._loop
            if loop is not None and not loop.is_closed():
                loop.call_later(hub.shutdown_timeout + 0.1, redeliver)
                return
        redeliver()


def install_signal_handlers(signals: tuple[int, ...] = HANDLED_SIGNALS) -> bool:
    """Chain our handler in front of the current SIGTERM/SIGINT handlers (idempotent).

    Returns False where Python does not allow it (not the main thread).
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    for sig in signals:
        current: Callable[..., Any] | int | None = signal.getsignal(sig)
        if isinstance(current, _ChainedHandler):
            continue
        try:
            signal.signal(sig, _ChainedHandler(current))
        except (ValueError, OSError):
            return False
    return True
