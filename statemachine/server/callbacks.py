"""Server stage, callback links: ``GET /callbacks/approve`` and ``GET /callbacks/reject``, the
Approve and Reject links of approval e-mails (statemachine/resources/callback_links.py).

In: ``?taskToken=<token>&signature=<S>``, S the server's HMAC of the decision and the token
(made by the e-mail resource with the secret of the resource map's ``callbacks`` section,
the map ``sm serve --resources`` reads). Out: a small HTML page for a person, never a
traceback:

- 200: the token was answered now: approve = SendTaskSuccess with
  ``{"approved": true, "answeredAt": ISO time}``; reject = SendTaskFailure with error
  ``Rejected`` and a cause saying when and how;
- 409: it was answered before (a second click, either link): says how and when;
- 410: it can no longer be answered: the task timed out, or its execution ended or stopped;
- 403: the signature is not this server's (forged, altered, or made with another secret);
- 404: an unknown decision or token; 503: the server has no ``callbacks`` configuration.

A HEAD request (link checkers, mail scanners) gets the page's status without answering.
Links are answered through ``Service``, exactly as SendTaskSuccess/SendTaskFailure would:
the execution wakes up on the worker. Pages are sent with ``Cache-Control: no-store`` and
``Referrer-Policy: no-referrer`` (the URL is the credential).
"""

from __future__ import annotations

import html
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from statemachine.resources.callback_links import DECISIONS, CallbackConfigError, CallbackLinks

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from statemachine.server.config import ServerConfig

__all__ = ["REJECTED_ERROR", "routes", "url_warning"]

#: The error a Reject link sends (a definition's Catch matches it).
REJECTED_ERROR: Final = "Rejected"
_HEADERS: Final = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer",
                   "X-Content-Type-Options": "nosniff"}


def routes(config: ServerConfig) -> list[BaseRoute]:
    """The callback routes; the secret is read (or created) on the first request."""
    from starlette.routing import Route

    links = _Links(config)

    async def endpoint(request: Request) -> Response:
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(_follow, request, links)

    return [Route("/callbacks/{decision}", endpoint, methods=["GET"], name="callbacks")]


def url_warning(config: ServerConfig) -> str | None:
    """A line for the operator when the resource map's ``callbacks.url`` is not the server's
    own base URL (``--public-url``, else ``http://HOST:PORT``): the e-mail resource signs only
    links under that url, so approval links would point elsewhere (or stay unsigned and be
    refused). None when they agree, or when there is no (readable) callbacks section."""
    if config.resources is None or (config.port == 0 and not config.public_url):
        return None  # (port 0: the address is not known before it is bound)
    from statemachine.resources.callback_links import parse_config
    from statemachine.resources.local_map import read_map

    try:
        data, base = read_map(config.resources)
        section = data.get("callbacks")
        if section is None:
            return None
        url, _ = parse_config(section, base)
    except (CallbackConfigError, ValueError, OSError):
        return None  # said when a link is followed (503), or when the map is loaded
    if url == config.base_url:
        return None
    return (f"sm serve: warning: the callbacks.url of {config.resources} is {url}, not this "
            f"server's {config.base_url}: approval links in e-mails will point there (set "
            "callbacks.url, or --public-url when the server is reached through another address)")


class _Links:
    """The server's CallbackLinks from its resource map, loaded once."""

    def __init__(self, config: ServerConfig) -> None:
        self.config = config
        self._lock = threading.Lock()
        self._links: CallbackLinks | None = None

    def get(self) -> CallbackLinks | None:
        """None when the resource map has no ``callbacks`` section; raises
        CallbackConfigError (and ResourceMapError) when it is malformed."""
        with self._lock:
            if self._links is None:
                if self.config.resources is None:
                    return None
                from statemachine.resources.local_map import read_map

                data, base = read_map(self.config.resources)
                section = data.get("callbacks")
                if section is None:
                    return None
                self._links = CallbackLinks.from_config(section, base)
            return self._links


def _follow(request: Request, holder: _Links) -> Response:
    decision = request.path_params["decision"]
    token = request.query_params.get("taskToken", "")
    signature = request.query_params.get("signature", "")
    if decision not in DECISIONS:
        return _page(404, "Unknown link", "This address is not an approval link.")
    try:
        links = holder.get()
    except (CallbackConfigError, ValueError) as error:
        return _page(503, "Approval links are not available",
                     f"The server's callback configuration is broken: {error}")
    if links is None:
        return _page(503, "Approval links are not available",
                     "This server has no callbacks section in its resource map, so it "
                     "cannot check approval links.")
    if not token or not signature or not links.verify(token, decision, signature):
        return _page(403, "This link is not valid",
                     "The link is incomplete, was changed, or was not made by this server.")
    service = request.app.state.service
    record = service.store.task_token(token)
    if record is None:
        return _page(404, "Unknown request", "This server has no task waiting on that link.")
    if request.method == "HEAD":
        return _page(200, "Approval link", "Open the link to answer.")
    return _answer(request.app.state.backend, record, decision)


def _answer(backend: Any, record: Any, decision: str) -> Response:
    from statemachine.service import InvalidToken, TaskDoesNotExist, TaskTimedOut

    service = backend.service
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    where = _where(record)
    try:
        if decision == "approve":
            service.send_task_success(record.token, {"approved": True, "answeredAt": now})
        else:
            service.send_task_failure(record.token, REJECTED_ERROR,
                                      f"Rejected through the link in the approval e-mail at {now}")
    except TaskTimedOut:
        return _expired(where)
    except (TaskDoesNotExist, InvalidToken):
        return _closed(service.store.task_token(record.token) or record, where)
    backend.callback_answered(record.execution_arn)  # resumed now, not at the next poll
    verb = "Approved" if decision == "approve" else "Rejected"
    return _page(200, verb, f"Thank you: {where} was {verb.lower()} at {now}. "
                            "The workflow continues.")


def _where(record: Any) -> str:
    execution = str(record.execution_arn).rsplit(":", 1)[-1]
    return f"the request of step \u201c{record.state_name}\u201d in execution \u201c{execution}\u201d"


def _closed(record: Any, where: str) -> Response:
    """The page for a token that no longer waits."""
    when = f" at {_text_time(record.closed_at)}" if record.closed_at is not None else ""
    if record.status == "SUCCEEDED":
        return _page(409, "Already answered", f"{where.capitalize()} was already approved{when}.")
    if record.status == "FAILED":
        return _page(409, "Already answered", f"{where.capitalize()} was already rejected{when}.")
    if record.status == "TIMED_OUT" or (
            record.timeout_at is not None and record.closed_at is not None
            and record.closed_at >= record.timeout_at):
        return _expired(where)
    return _page(410, "No longer waiting",
                 f"{where.capitalize()} is no longer waiting for an answer: its execution "
                 f"ended or was stopped{when}.")


def _expired(where: str) -> Response:
    return _page(410, "This request has expired",
                 f"{where.capitalize()} timed out before it was answered; the link no longer "
                 "works.")


def _text_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _page(status: int, title: str, message: str) -> Response:
    from starlette.responses import HTMLResponse

    body = (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;max-width:36rem;margin:4rem auto;padding:0 1rem;"
        "color:#1f2328}h1{font-size:1.5rem}p{line-height:1.5}</style></head><body>"
        f"<h1 id=\"title\">{html.escape(title)}</h1>"
        f"<p id=\"message\">{html.escape(message)}</p></body></html>"
    )
    return HTMLResponse(body, status, headers=_HEADERS)
