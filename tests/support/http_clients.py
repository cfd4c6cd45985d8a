"""httpx clients for the tests, which give up an idle connection before uvicorn does.

uvicorn closes a kept-alive connection after 5 s without a request (`--timeout-keep-alive`), and
httpx keeps an idle connection for 5 s too (`keepalive_expiry`). A request written on a connection
at the moment the server closes it fails with "Server disconnected without sending a response"
(measured: 2 of 60 requests sent 4.99 to 5.02 s after the last fail so). On a loaded machine an
httpx pool reuses connections idle up to 4.8 s (measured in test_runs' thousand starts, 2026-12-04),
and the server counts the idle time from before the client read its answer, so that is no margin.

A client must close idle connections well before the server: browsers retry such a request
themselves, and the example nginx config keeps upstream connections for less than uvicorn's 5 s.
These clients keep an idle connection for 1 s. Use them instead of `httpx.AsyncClient` and
`httpx.Client` for anything that talks to a test server.
"""
from __future__ import annotations

from typing import Any

import httpx

LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=1.0)


class AsyncClient(httpx.AsyncClient):  # noqa: TID251 (the one place it is wrapped)
    """`httpx.AsyncClient` with idle connections closed after 1 s (see the module's docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("limits", LIMITS)
        super().__init__(**kwargs)


class Client(httpx.Client):  # noqa: TID251
    """`httpx.Client` with idle connections closed after 1 s (see the module's docstring)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("limits", LIMITS)
        super().__init__(**kwargs)
