"""Server stage, the AWS API route: ``POST /`` with ``X-Amz-Target: AWSStepFunctions.<Op>``.

In: the request (headers, a JSON body of at most ``config.max_body`` bytes). Out: the
operation's response as ``application/x-amz-json-1.0``, or AWS's error shape with a 4xx
(``UnknownOperationException``, ``SerializationException``, ``ValidationException``, the
operation's own codes); a store that does not answer is 503 ``ServiceUnavailable``; a bug
is 500 ``InternalFailure`` with one line (the traceback goes to the server's log, never to
the client). Operations are plain functions ``(Backend, Params) -> dict`` in the tables of
the operation modules (machines, executions, ...), run on Starlette's threads; an ``async
def`` operation (a long poll) runs on the event loop.
"""

from __future__ import annotations

import inspect
import json
import logging
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from statemachine.server import executions, machines, tags, tasks
from statemachine.server.auth import bearer_ok, check_sigv4
from statemachine.server.params import Params
from statemachine.server.protocol import CONTENT_TYPE, AwsError, parse_body, parse_target

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from statemachine.server.backend import Backend
    from statemachine.server.config import ServerConfig

__all__ = ["OPERATIONS", "routes"]

_log = logging.getLogger("statemachine.server")

#: Every supported operation, by AWS's name.
OPERATIONS: dict[str, Callable[..., Any]] = {
    **machines.OPERATIONS,
    **executions.OPERATIONS,
    **tasks.OPERATIONS,
    **tags.OPERATIONS,
}


def routes(config: ServerConfig) -> list[BaseRoute]:
    """The AWS API: ``POST /`` (the console may add ``GET /``: methods keep them apart)."""
    from starlette.routing import Route

    return [Route("/", endpoint, methods=["POST"], name="aws-api")]


def respond(status: int, body: Any) -> Response:
    """A JSON 1.0 response with a request id (botocore shows it as ``RequestId``)."""
    from starlette.responses import Response

    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), status,
                    media_type=CONTENT_TYPE, headers={"x-amzn-RequestId": str(uuid.uuid4())})


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise AwsError("RequestEntityTooLarge",
                       f"the request body is larger than {limit} bytes", 413)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise AwsError("RequestEntityTooLarge",
                           f"the request body is larger than {limit} bytes", 413)
        chunks.append(chunk)
    return b"".join(chunks)


async def endpoint(request: Request) -> Response:
    """Authenticate, decode, dispatch, encode (see the module docstring)."""
    from starlette.concurrency import run_in_threadpool

    from statemachine.durable import StoreError

    backend: Backend = request.app.state.backend
    config = backend.config
    name = "?"
    try:
        body = await read_body(request, config.max_body)
        if config.token is not None and not bearer_ok(request.headers, config.token):
            check_sigv4(request.method, request.url.path, request.url.query, request.headers,
                        body, config.token)
        name = parse_target(request.headers)
        operation = OPERATIONS.get(name)
        if operation is None:
            raise AwsError("UnknownOperationException", f"Unknown operation: {name}")
        params = Params(parse_body(body))
        if inspect.iscoroutinefunction(operation):
            result = await operation(backend, params)
        else:
            result = await run_in_threadpool(operation, backend, params)
    except AwsError as error:
        return respond(error.status, error.body())
    except StoreError as error:
        _log.warning("%s: the store did not answer: %s", name, error)
        return respond(503, {"__type": "ServiceUnavailable", "message": f"the store did not answer: {error}"})
    except Exception:
        _log.exception("%s failed", name)
        return respond(500, {"__type": "InternalFailure",
                             "message": f"{name} failed inside the server (see its log)"})
    return respond(200, result)
