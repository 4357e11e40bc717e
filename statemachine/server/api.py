"""Server stage, the AWS API route: ``POST /`` with ``X-Amz-Target: AWSStepFunctions.<Op>``.

In: the request (headers, a JSON body of at most ``config.max_body`` bytes). Out: the
operation's response as ``application/x-amz-json-1.0``, or AWS's error shape with a 4xx
(``UnknownOperationException``, ``SerializationException``, ``ValidationException``, the
operation's own codes); a store that does not answer is 503 ``ServiceUnavailable``; a bug
is 500 ``InternalFailure`` with one line (the traceback goes to the server's log, never to
the client). Operations are plain functions ``(Backend, Params) -> dict`` in the tables of
the operation modules (machines, executions, ...); an ``async def`` operation (a long poll)
runs on the event loop.

Speed (bench/serve.py): ``ApiFront`` answers ``POST /`` straight from ASGI, ahead of
Starlette's routing, request and response objects. The operations in ``INLINE`` -- a few
indexed rows read or written, like the durable worker's own store calls on the same loop --
run on the event loop; the others (compiling a definition, listings and histories of any
size) run on the server's API threads (``Backend.threads``).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from typing import TYPE_CHECKING, Any, Final

from statemachine.server import executions, machines, tags, tasks
from statemachine.server.auth import bearer_ok, check_sigv4
from statemachine.server.params import Params
from statemachine.server.protocol import CONTENT_TYPE, AwsError, parse_body, parse_target

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp, Receive, Scope, Send

    from statemachine.server.backend import Backend
    from statemachine.server.config import ServerConfig

__all__ = ["INLINE", "OPERATIONS", "ApiFront", "routes"]

_log = logging.getLogger("statemachine.server")

#: Every supported operation, by AWS's name.
OPERATIONS: dict[str, Callable[..., Any]] = {
    **machines.OPERATIONS,
    **executions.OPERATIONS,
    **tasks.OPERATIONS,
    **tags.OPERATIONS,
}

#: Operations run on the event loop: a few indexed rows, read or written in one short
#: transaction (a thread hand-off would cost more than the call). The worker wakes up
#: from StartExecution and SendTask* through ``Backend.wake_worker`` as from a thread.
INLINE: Final = frozenset({
    "StartExecution", "DescribeExecution", "StopExecution", "DescribeStateMachine",
    "DescribeStateMachineForExecution", "SendTaskSuccess", "SendTaskFailure",
    "SendTaskHeartbeat", "DescribeActivity", "ListTagsForResource", "DescribeMapRun",
})
_HEADERS: Final = ((b"content-type", CONTENT_TYPE.encode()),)


def routes(config: ServerConfig) -> list[BaseRoute]:
    """The AWS API: ``POST /`` (the console may add ``GET /``: methods keep them apart)."""
    from starlette.routing import Route

    return [Route("/", endpoint, methods=["POST"], name="aws-api")]


def respond(status: int, body: Any) -> Response:
    """A JSON 1.0 response with a request id (botocore shows it as ``RequestId``)."""
    from starlette.responses import Response

    return Response(_dumps(body), status, media_type=CONTENT_TYPE,
                    headers={"x-amzn-RequestId": str(uuid.uuid4())})


def _dumps(body: Any) -> bytes:
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


class ApiFront:
    """ASGI middleware answering ``POST /`` (the AWS API) itself; everything else goes on to
    the app (see the module docstring)."""

    def __init__(self, app: ASGIApp, backend: Backend) -> None:
        self.app = app
        self.backend = backend

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] != "/" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        await serve(self.backend, scope, receive, send)


async def endpoint(request: Request) -> Response:
    """The route's endpoint (an app built without ``ApiFront``): as ``serve``."""
    from starlette.responses import Response

    backend: Backend = request.app.state.backend
    status, body = await answer(backend, request.method, request.url.path, request.url.query,
                                request.headers, request.stream())
    return Response(body, status, media_type=CONTENT_TYPE,
                    headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def serve(backend: Backend, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer one AWS API request from ASGI's scope and messages."""
    headers: dict[str, str] = {}
    for key, value in reversed(scope["headers"]):  # the first of repeated headers wins
        headers[key.decode("latin-1").lower()] = value.decode("latin-1")
    query = scope.get("query_string", b"").decode("latin-1")
    status, body = await answer(backend, scope["method"], scope["path"], query, headers,
                                _chunks(receive))
    await send({"type": "http.response.start", "status": status, "headers": [
        *_HEADERS, (b"content-length", str(len(body)).encode()),
        (b"x-amzn-requestid", str(uuid.uuid4()).encode())]})
    await send({"type": "http.response.body", "body": body})


async def _chunks(receive: Receive) -> AsyncIterator[bytes]:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def read_body(headers: Mapping[str, str], chunks: AsyncIterator[bytes], limit: int) -> bytes:
    """The body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise AwsError("RequestEntityTooLarge",
                       f"the request body is larger than {limit} bytes", 413)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > limit:
            raise AwsError("RequestEntityTooLarge",
                           f"the request body is larger than {limit} bytes", 413)
        parts.append(chunk)
    return b"".join(parts)


async def answer(backend: Backend, method: str, path: str, query: str,
                 headers: Mapping[str, str], chunks: AsyncIterator[bytes]) -> tuple[int, bytes]:
    """Authenticate, decode, dispatch, encode: (HTTP status, JSON body)."""
    from statemachine.durable import StoreError

    config = backend.config
    name = "?"
    try:
        body = await read_body(headers, chunks, config.max_body)
        if config.token is not None and not bearer_ok(headers, config.token):
            check_sigv4(method, path, query, headers, body, config.token)
        name = parse_target(headers)
        operation = OPERATIONS.get(name)
        if operation is None:
            raise AwsError("UnknownOperationException", f"Unknown operation: {name}")
        params = Params(parse_body(body))
        if name in INLINE:
            result = operation(backend, params)
        elif inspect.iscoroutinefunction(operation):
            result = await operation(backend, params)
        else:
            result = await asyncio.get_running_loop().run_in_executor(
                backend.threads, operation, backend, params)
    except AwsError as error:
        return error.status, _dumps(error.body())
    except StoreError as error:
        _log.warning("%s: the store did not answer: %s", name, error)
        return 503, _dumps({"__type": "ServiceUnavailable",
                            "message": f"the store did not answer: {error}"})
    except Exception:
        _log.exception("%s failed", name)
        return 500, _dumps({"__type": "InternalFailure",
                            "message": f"{name} failed inside the server (see its log)"})
    return 200, _dumps(result)
