"""Runs: background producers (a job, a generated answer) bound to a channel, decoupled from requests.

    runs = Runs(hub)
    started = await runs.start("answer-42", lambda: model.stream(prompt))   # False: it already exists
    runs.route(app, "/runs/{run_id}")                                       # its SSE stream
    SSEElement("answer-42", runs.sse_url("/runs/answer-42", "answer-42"))   # a page following it
    await runs.cancel("answer-42")                                          # Stop

A run's id is its channel. Each item the producer yields is published to it (`event` names it);
when the producer is done the channel ends (`Hub.end`) with the run's outcome, so every page
following it finishes, and a page that comes later gets the items and the end from replay.

- **Once.** `start` claims the id first (in Redis, for every worker): starting it again, a reload
  or a reconnect never runs the producer twice. A finished run stays claimed for `keep_seconds`.
- **Resume.** A page that drops, reloads or opens in a second tab resumes from its last id, on any
  worker: each item is shown once. A page with no id gets the run from its first item.
- **Cancel** stops the producer (on whichever worker runs it, within half a second) and
  ends the run `cancelled`. A producer that raises ends it `error`: the page shows `RunFailed`'s
  message, or a plain "failed on the server" for anything else (logged here, never sent).
- **Interrupted.** A worker that shuts down (SIGTERM, a deploy: `Hub.on_close`) ends its runs
  `interrupted` before its streams close. A worker that dies mid-run stops renewing its lease; any
  worker that serves the run's stream or sweeps (every half second at most) ends it `interrupted`
  once the lease lapses, and the page can offer a retry. With the in-memory hub a restart forgets every run: a page
  that followed one comes back with an id this process never gave and is told `interrupted`.
- **Bounded.** `keep_seconds` after its end a run's history and state are freed (the hub's buffer
  here; the stream and state keys in Redis expire).

The run's lifecycle is `RunState` with its allowed moves in `TRANSITIONS`.
"""
from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import secrets
import socket
from collections.abc import AsyncIterable, Callable
from enum import Enum
from typing import Any, Protocol
from urllib.parse import urlencode

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..validate import check_event_name, check_number, check_str, validate_channel
from ..wire import END_EVENT, LAST_EVENT_ID_PARAM, SHARE_PARAM, end_data, share_digest, share_frame
from .hub import Hub, data_text
from .sse import encode_event
from .stream import _DEFAULT_HEADERS, HubStream, _last_event_id, error_response, refuse_unauthorized

__all__ = ["Runs", "RunState", "RunFailed", "TRANSITIONS", "RunStore", "LocalRunStore"]

log = logging.getLogger("sse_monitor.runs")


class RunState(str, Enum):
    """Where a run stands. RUNNING and CANCELLING are live; the others are its outcome (`wire.OUTCOMES`)."""

    RUNNING = "running"          # its producer runs on some worker, which renews its lease
    CANCELLING = "cancelling"    # somebody asked to stop it; its worker stops it at its next renewal
    DONE = "done"
    CANCELLED = "cancelled"
    ERROR = "error"
    INTERRUPTED = "interrupted"  # the worker running it went away (its lease lapsed) or restarted


# The allowed moves; the stores refuse any other (an outcome is final until the run is freed).
TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    RunState.RUNNING: frozenset({RunState.CANCELLING, RunState.DONE, RunState.CANCELLED, RunState.ERROR,
                                 RunState.INTERRUPTED}),
    RunState.CANCELLING: frozenset({RunState.CANCELLED, RunState.DONE, RunState.ERROR, RunState.INTERRUPTED}),
    RunState.DONE: frozenset(),
    RunState.CANCELLED: frozenset(),
    RunState.ERROR: frozenset(),
    RunState.INTERRUPTED: frozenset(),
}
LIVE = frozenset({RunState.RUNNING, RunState.CANCELLING})


class RunFailed(Exception):
    """Raise it in a producer to end the run `error` with a message the page shows (keep it short)."""


Producer = Callable[[], AsyncIterable[Any]] | AsyncIterable[Any]


class RunStore(Protocol):
    """Where runs are claimed and their state kept: this process (`LocalRunStore`) or Redis
    (`scaleout.redis_runs.RedisRunStore`, every worker). Every method is atomic in its store."""

    async def claim(self, run_id: str, owner: str, lease_ms: int) -> RunState | None:
        """Claim a new run for `owner` (RUNNING, lease set): None if claimed, else its state."""
        ...

    async def renew(self, run_ids: list[str], owner: str, lease_ms: int) -> set[str]:
        """Extend `owner`'s leases; returns the ids somebody asked to cancel."""
        ...

    async def move(self, run_id: str, to: RunState, keep_ms: int) -> bool:
        """Move a live run to `to` (checked against TRANSITIONS); an outcome is kept `keep_ms`.
        False if the run is not live (already ended by somebody else, or freed)."""
        ...

    async def state(self, run_id: str) -> RunState | None: ...

    async def orphans(self, keep_ms: int) -> list[str]:
        """Live runs whose lease lapsed, each moved to INTERRUPTED (kept `keep_ms`) and returned to
        one caller only."""
        ...

    async def orphaned(self, run_id: str, keep_ms: int) -> bool:
        """`orphans` for one run: True (to one caller only) if its lease lapsed and it is now
        INTERRUPTED. Costs one run's check, not a walk over every live run."""
        ...


class LocalRunStore:
    """Runs of this process only (with the in-memory hub): a dict, outcomes freed by the Runs' timer."""

    def __init__(self) -> None:
        self.states: dict[str, RunState] = {}

    async def claim(self, run_id: str, owner: str, lease_ms: int) -> RunState | None:
        known = self.states.get(run_id)
        if known is not None:
            return known
        self.states[run_id] = RunState.RUNNING
        return None

    async def renew(self, run_ids: list[str], owner: str, lease_ms: int) -> set[str]:
        return {run_id for run_id in run_ids if self.states.get(run_id) is RunState.CANCELLING}

    async def move(self, run_id: str, to: RunState, keep_ms: int) -> bool:
        known = self.states.get(run_id)
        if known is None or to not in TRANSITIONS[known]:
            return False
        self.states[run_id] = to
        return True

    async def state(self, run_id: str) -> RunState | None:
        return self.states.get(run_id)

    async def orphans(self, keep_ms: int) -> list[str]:
        return []           # one process: a run's worker cannot be gone while this store is here

    async def orphaned(self, run_id: str, keep_ms: int) -> bool:
        return False

    def forget(self, run_id: str) -> None:
        self.states.pop(run_id, None)


class Runs:
    """Background producers bound to channels of `hub` (see the module docstring).

    `keep_seconds`: how long a finished run's events and outcome stay (a reload, a late second tab
    still see it all); `lease_seconds`: how soon a dead worker's runs are found `interrupted`
    (Redis); `event`: the SSE event name of each item (None: unnamed `message` events).
    """

    def __init__(self, hub: Hub, *, keep_seconds: float = 600.0, lease_seconds: float = 3.0,
                 event: str | None = None) -> None:
        check_number("keep_seconds", keep_seconds)
        check_number("lease_seconds", lease_seconds)
        if lease_seconds < 0.3:
            raise ValueError("lease_seconds: expected at least 0.3 (a lease renewed 3 times per lease)")
        if event is not None:
            check_event_name("event", event)
        self.hub = hub
        self.keep_ms = int(keep_seconds * 1000)
        self.lease_ms = int(lease_seconds * 1000)
        self.event = event
        make_store = getattr(hub.backend, "run_store", None)
        self.store: RunStore = make_store() if make_store is not None else LocalRunStore()
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._tasks: dict[str, asyncio.Task[None]] = {}       # the runs this process runs
        self._cancelled: set[str] = set()                      # ... that were asked to stop
        self._keeper: asyncio.Task[None] | None = None
        self._forgets: dict[str, asyncio.TimerHandle] = {}   # finished runs to free, by id
        hub.on_close.append(self.aclose)     # at shutdown this worker's runs end `interrupted` at once

    # ---------------------------------------------------------------- the API
    async def start(self, run_id: str, producer: Producer, *, event: str | None = None) -> bool:
        """Run `producer` (an async iterable, or a function returning one: called only if this
        start runs it) in the background, publishing each item to channel `run_id`. Returns True
        if this call started it; False if the run already exists (running or finished), and then
        the producer is not run."""
        validate_channel(run_id)
        if event is not None:
            check_event_name("event", event)
        if not callable(producer) and not isinstance(producer, AsyncIterable):
            raise TypeError(f"producer: expected an async iterable or a function returning one, "
                            f"got {type(producer).__name__}")
        self._ensure_keeper()
        known = await self.store.claim(run_id, self.owner, self.lease_ms)
        if known is not None:
            closing = getattr(producer, "aclose", None)
            if closing is not None:        # an async generator handed over but never run
                await closing()
            return False
        self._tasks[run_id] = asyncio.get_running_loop().create_task(
            self._run(run_id, producer, event if event is not None else self.event), name=f"run {run_id}")
        return True

    async def cancel(self, run_id: str) -> bool:
        """Stop a running run: its producer is cancelled and the run ends `cancelled`. True if it
        was live (on this worker it stops now, on another at that worker's next renewal)."""
        validate_channel(run_id)
        task = self._tasks.get(run_id)
        if task is not None:
            self._cancelled.add(run_id)
            task.cancel()
            return True
        return await self.store.move(run_id, RunState.CANCELLING, self.keep_ms)

    async def state(self, run_id: str) -> RunState | None:
        """The run's state, or None for a run never started here (or freed after `keep_seconds`)."""
        validate_channel(run_id)
        return await self.store.state(run_id)

    def sse_url(self, path: str, run_id: str) -> str:
        """`path` with the position before the run's first item, for a page's `sse-connect` URL:
        every tab of the page then starts from the run's beginning, a second tab that joins
        another tab's stream included (it catches up on what it has not shown)."""
        if not check_str("path", path).startswith("/"):
            raise ValueError(f"path: expected a URL path starting with '/', got {path!r}")
        validate_channel(run_id)
        origin = getattr(self.hub.backend, "origin", None)
        if origin is None:
            return path
        sep = "&" if "?" in path else "?"
        return f"{path}{sep}{urlencode({LAST_EVENT_ID_PARAM: origin(run_id)})}"

    def stream(self, request: Request, run_id: str) -> Response:
        """The run's SSE stream (the hub's, after a check that the run exists): 404 for a run never
        started; an `interrupted` end for a run this server lost (see the module docstring)."""
        try:
            validate_channel(run_id)
        except ValueError as exc:
            return error_response(400, str(exc))
        return RunStream(self, request, run_id)

    def route(self, app: Any, path: str = "/runs/{run_id}") -> Route:
        """Add `GET path` streaming the run named by the `{run_id}` path parameter."""
        if not check_str("path", path).startswith("/") or "{run_id}" not in path:
            raise ValueError(f"path: expected a URL path starting with '/' with a {{run_id}} parameter, got {path!r}")

        async def run_endpoint(request: Request) -> Response:
            return self.stream(request, request.path_params["run_id"])

        route = Route(path, run_endpoint, methods=["GET"])
        router = getattr(app, "router", app)
        router.routes.insert(0, route)
        return route

    async def aclose(self) -> None:
        """Stop the keeper and this worker's runs (they end `interrupted`, as a dying worker's do)."""
        for task in list(self._tasks.values()):
            task.cancel()
        for task in list(self._tasks.values()):
            with contextlib.suppress(BaseException):
                await task
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(BaseException):
                await self._keeper
            self._keeper = None
        for handle in self._forgets.values():
            handle.cancel()
        self._forgets.clear()

    # ---------------------------------------------------------------- running
    async def _run(self, run_id: str, producer: Producer, event: str | None) -> None:
        outcome, detail = RunState.DONE, None
        try:
            items = producer() if callable(producer) else producer
            if inspect.isawaitable(items):
                items = await items
            publish = self.hub._publish      # the run's id and event name were checked by start
            async for item in items:
                await publish(run_id, event, data_text(item))
        except asyncio.CancelledError:
            if run_id in self._cancelled:
                outcome = RunState.CANCELLED
            else:
                outcome, detail = RunState.INTERRUPTED, "The server stopped before this finished."
        except RunFailed as exc:
            outcome, detail = RunState.ERROR, str(exc)[:300] or None
        except Exception:
            log.exception("run %s failed", run_id)
            outcome, detail = RunState.ERROR, "It failed on the server."
        finally:
            self._tasks.pop(run_id, None)
            self._cancelled.discard(run_id)
        await self._finish(run_id, outcome, detail)

    async def _finish(self, run_id: str, outcome: RunState, detail: str | None) -> None:
        """Record the outcome, end the channel (every page finishes), free both after keep_seconds."""
        try:
            if await self.store.move(run_id, outcome, self.keep_ms):
                await self.hub.end(run_id, outcome.value, detail)
        except Exception:
            log.exception("run %s: could not record its end (%s)", run_id, outcome.value)
            return
        await self._free_later(run_id)

    async def _free_later(self, run_id: str) -> None:
        """After keep_seconds: the run's state and history go (Redis: its keys expire; here: the
        hub's buffer, once no page is still reading it)."""
        expire = getattr(self.hub.backend, "expire", None)
        if expire is not None:
            await expire(run_id, self.keep_ms)
        if not (self.hub.backend.local_history or isinstance(self.store, LocalRunStore)):
            return
        loop = asyncio.get_running_loop()

        def free() -> None:
            if not self.hub.forget(run_id):        # a page is still reading its end: soon
                self._forgets[run_id] = loop.call_later(1.0, free)
                return
            del self._forgets[run_id]
            if isinstance(self.store, LocalRunStore):
                self.store.forget(run_id)

        self._forgets[run_id] = loop.call_later(self.keep_ms / 1000, free)

    # ---------------------------------------------------------------- leases and sweeps
    def _ensure_keeper(self) -> None:
        if self._keeper is None or self._keeper.done():
            self._keeper = asyncio.get_running_loop().create_task(self._keep(), name="runs keeper")

    async def _keep(self) -> None:
        """Every lease/3 (half a second at most): renew this worker's leases (and stop runs asked to cancel elsewhere),
        and end any run whose worker stopped renewing (`interrupted`)."""
        interval = min(self.lease_ms / 3000, 0.5)     # a cancel asked on another worker: <= 0.5 s
        while True:
            await asyncio.sleep(interval)
            try:
                await self._sweep()
            except asyncio.CancelledError:
                raise
            except Exception as exc:       # Redis away: the next round tries again
                log.warning("runs: renewing leases failed (%s: %s)", type(exc).__name__, exc)

    async def _sweep(self) -> None:
        mine = list(self._tasks)
        if mine:
            for run_id in await self.store.renew(mine, self.owner, self.lease_ms):
                task = self._tasks.get(run_id)
                if task is not None:
                    self._cancelled.add(run_id)
                    task.cancel()
        for run_id in await self.store.orphans(self.keep_ms):
            await self._lost(run_id)

    async def _lost(self, run_id: str) -> None:
        """`run_id`'s worker went away (the store moved it to INTERRUPTED): tell its pages."""
        log.warning("run %s: its worker went away; ending it interrupted", run_id)
        await self.hub.end(run_id, RunState.INTERRUPTED.value, LOST)
        await self._free_later(run_id)


LOST = "The server running this went away before it finished."
GONE = "This is no longer on the server (it restarted, or kept it only for a while)."


class RunStream(Response):
    """The response for one page following a run: checks the run exists, then the hub's stream."""

    media_type = "text/event-stream"

    def __init__(self, runs: Runs, request: Request, run_id: str) -> None:
        self.status_code = 200
        self.background = None
        self.init_headers(dict(_DEFAULT_HEADERS))
        self.runs = runs
        self.request = request
        self.run_id = run_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        runs, run_id, request = self.runs, self.run_id, self.request
        if await refuse_unauthorized(runs.hub, request, run_id, scope, receive, send):
            return                     # (before anything says whether the run exists)
        runs._ensure_keeper()
        state = await runs.store.state(run_id)
        share = request.query_params.get(SHARE_PARAM)
        last_id = _last_event_id(request)
        if state is None and share != "check":   # (a tab-sharing check carries no id: the hub answers it)
            if _never_followed(runs, run_id, last_id):
                await error_response(404, f"run {run_id!r}: no such run")(scope, receive, send)
                return
            # The page followed this run, and this server no longer knows it: it restarted (the
            # in-memory hub forgets every run), or the run was freed. Say so; it never comes back.
            vouch = share_frame(share_digest(run_id)) if share == "stream" else b""
            body = vouch + encode_event(end_data(RunState.INTERRUPTED.value, GONE), event=END_EVENT)
            await StreamingResponse(iter([body]), headers=dict(_DEFAULT_HEADERS),
                                    media_type=self.media_type)(scope, receive, send)
            return
        if state in LIVE and run_id not in runs._tasks and await runs.store.orphaned(run_id, runs.keep_ms):
            await runs._lost(run_id)       # its worker is gone: say so now, not at the next sweep
        # A page with no id of its own (a first load, a second tab) gets the run from its start.
        origin = getattr(runs.hub.backend, "origin", None)
        first = origin(run_id) if origin is not None and not last_id else None
        await HubStream(runs.hub, request, run_id, last_event_id=first, authorized=True)(scope, receive, send)


def _never_followed(runs: Runs, run_id: str, last_id: str | None) -> bool:
    """The page asking for an unknown run never saw it: it has no id, or the channel's "nothing
    yet" position (a page rendered before its run starts). Otherwise it followed a run now gone."""
    if not last_id:
        return True
    if runs.hub.backend.local_history:      # cheap here; a round trip on Redis, where "0-0" says it
        return last_id == runs.hub.backend.position(run_id)
    return last_id in ("0-0", "0")
