"""Server stage, the application: ``create_app(config)`` assembles the Starlette app of
``sm serve`` -- its routes, the access-token gate and the lifespan that runs the durable
worker inside the server's event loop.

Adding your part (one line each, in the lists below):

- **routes**: write ``statemachine/server/<yours>.py`` with ``def routes(config:
  ServerConfig) -> list[BaseRoute]`` and add ``*<yours>.routes(config),`` to ``routes``
  in ``create_app``. The AWS API owns ``POST /``; a ``GET /`` route may live beside it.
- **background work** (schedules, ...): an async context manager factory ``hook(app)``
  added to ``HOOKS``; it is entered at start-up after the store is open and left at
  shutdown (before the store closes). Start tasks on entry, stop them on exit.
- **public paths**: requests are checked against the access token (when one is set) except
  under ``ServerConfig.public_paths`` (``/callbacks/``: those links carry their own proof).

From a request handler: ``request.app.state.config`` (ServerConfig),
``request.app.state.backend`` (Backend: ``.service``, ``.store``, ``.registry()``),
``request.app.state.service`` (statemachine.service.Service), ``request.app.state.store``
(the DurableStore), ``request.app.state.worker`` (the in-process Worker, or None).
Store and Service calls block: call them with ``await run_in_threadpool(...)``
(starlette.concurrency) from ``async def`` handlers, or write plain ``def`` handlers.
The AWS API (``POST /``) is answered by ``api.ApiFront`` ahead of the routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from statemachine.server import api, callbacks, console, metrics, scheduler_api, schedules
from statemachine.server.auth import COOKIE, bearer_ok, refused
from statemachine.server.backend import Backend

if TYPE_CHECKING:
    from starlette.applications import Starlette
    from starlette.types import ASGIApp, Receive, Scope, Send

    from statemachine.server.config import ServerConfig

__all__ = ["HOOKS", "create_app"]


@contextlib.asynccontextmanager
async def run_worker(app: Starlette) -> AsyncIterator[None]:
    """The durable worker of ``sm worker``, on the server's loop (``config.worker``)."""
    from statemachine.durable.worker import Worker

    backend: Backend = app.state.backend
    config = backend.config
    if not config.worker:
        app.state.worker = None
        yield
        return
    worker = Worker(backend.store, loader=backend.loader, concurrency=config.worker_concurrency,
                    park_after=config.park_after, lease_seconds=config.lease_seconds,
                    grace=5.0, log=lambda line: print(line, file=sys.stderr, flush=True),
                    executor=app.state.executor)
    app.state.worker = worker
    task = asyncio.ensure_future(worker.run())
    backend.wake_worker = worker.wake
    backend.resume_worker = worker.resume
    try:
        yield
    finally:
        worker.stop()
        await task


#: Background work entered at start-up, in order (see the module docstring).
HOOKS: list[Callable[[Starlette], AbstractAsyncContextManager[None]]] = [
    run_worker,
    schedules.run_schedules,
]


def create_app(config: ServerConfig, *, executor: Any = None) -> Starlette:
    """The ``sm serve`` application. Opens the store now (raising StoreError and friends
    before anything listens); the lifespan runs ``HOOKS`` and closes the store at the end.

    ``executor``: where the worker runs Map iterations and Parallel branches (a
    statemachine.executors executor, closed by the caller); None makes one from
    ``config.executor`` now (ExecutorError when its cluster cannot be reached), closed with
    the store."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    owned = None
    if executor is None and config.executor not in (None, "local"):
        from statemachine.executors import executor_from

        executor = owned = executor_from(config.executor)

    routes = [
        *api.routes(config),
        *callbacks.routes(config),
        *metrics.routes(config),
        *scheduler_api.routes(config),
        *console.routes(config),
    ]
    backend = Backend(config)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        try:
            async with contextlib.AsyncExitStack() as stack:
                for hook in HOOKS:
                    await stack.enter_async_context(hook(app))
                yield
        finally:
            backend.close()
            if owned is not None:
                owned.close()

    app = Starlette(routes=routes, lifespan=lifespan,
                    middleware=[Middleware(api.ApiFront, backend=backend),
                                Middleware(TokenGate, config=config)])
    app.state.config = config
    app.state.backend = backend
    app.state.service = backend.service
    app.state.store = backend.store
    app.state.worker = None
    app.state.executor = executor
    return app


class TokenGate:
    """ASGI middleware: with ``config.token`` set, refuse (403, AWS's error shape) requests
    that do not present it (see statemachine.server.auth). The AWS API route checks its
    requests itself (a SigV4 signature covers the body); ``public_paths`` pass."""

    def __init__(self, app: ASGIApp, config: ServerConfig) -> None:
        self.app = app
        self.config = config

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        token = self.config.token
        if token is None or scope["type"] != "http" or self._exempt(scope):
            await self.app(scope, receive, send)
            return
        from starlette.requests import Request
        from starlette.responses import RedirectResponse

        request = Request(scope)
        if bearer_ok(request.headers, token):
            await self.app(scope, receive, send)
            return
        given = request.query_params.get("token")
        if request.method == "GET" and given is not None and bearer_ok(
                {"authorization": f"Bearer {given}"}, token):
            query = urlencode([(k, v) for k, v in request.query_params.multi_items()
                               if k != "token"])
            target = request.url.path + (f"?{query}" if query else "")
            response: Any = RedirectResponse(target, status_code=303)
            response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
            await response(scope, receive, send)
            return
        if request.method == "GET" and "text/html" in request.headers.get("accept", ""):
            await _token_page(request.url.path, wrong=given is not None)(scope, receive, send)
            return
        error = refused("this server needs its access token (see sm serve --help)")
        await api.respond(error.status, error.body())(scope, receive, send)

    def _exempt(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        if path == "/" and scope.get("method") == "POST":
            return True  # the AWS API: checked in api.endpoint
        return any(path.startswith(prefix) for prefix in self.config.public_paths)


def _token_page(path: str, *, wrong: bool = False) -> Any:
    """403 as a small HTML page, for a browser opening a page without the token: how to pass
    it (``?token=``), instead of an AWS JSON error the browser would download."""
    from html import escape

    from starlette.responses import HTMLResponse

    shown = escape(path or "/")
    return HTMLResponse(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<title>Access token needed</title></head><body style=\"font-family: sans-serif; "
        "max-width: 40em; margin: 3em auto\"><h1>This server needs its access token</h1>"
        + ("<p><strong>The token in the address is not this server's.</strong></p>" if wrong else "")
        + f"<p>Open this page once with the token of <code>sm serve</code> (its <code>--token</code> "
        f"or <code>$SM_SERVER_TOKEN</code>) in the address:</p><p><code>{shown}?token=TOKEN"
        "</code></p><p>The server then keeps it in a cookie for this browser and removes it "
        "from the address.</p></body></html>", status_code=403,
        headers={"cache-control": "no-store"})

