"""CLI stage, ``sm serve``: the AWS Step Functions API (and what the server package adds)
on a local port, on the durable store, with a worker running the executions in-process.

Starlette and uvicorn are the optional ``server`` extra; they are imported only here, when
the command runs (``sm --help`` stays fast).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Final

from .common import EXIT_OK, EXIT_USAGE, error

SERVE_HELP: Final = """\
examples:
  sm serve                                         http://127.0.0.1:8083, default database
  sm serve --db executions.db --resources resources.yaml --allow-python handlers
  SM_SERVER_TOKEN=$(openssl rand -hex 24) sm serve --host 0.0.0.0 --allow-remote
  sm serve --schedules schedules.yaml               and fire the schedules the file declares
  sm serve --executor dask://10.0.0.5:8786          Map iterations and Parallel branches on Dask

  then, from Python:
    import boto3
    sfn = boto3.client("stepfunctions", endpoint_url="http://127.0.0.1:8083",
                       region_name="us-east-1", aws_access_key_id="sm",
                       aws_secret_access_key="sm")   # with --token: the token here
    sfn.list_state_machines()
  or the AWS CLI:
    aws stepfunctions --endpoint-url http://127.0.0.1:8083 list-state-machines

Security: the server listens on 127.0.0.1 unless --host names another address, which also
needs --allow-remote and an access token (--token or $SM_SERVER_TOKEN, 16 characters or
more). Clients sign requests with the token as their secret access key (SDKs, AWS CLI), or
send "Authorization: Bearer TOKEN". Machines created through the API run only the Task
resources the policy allows: the --resources map, python: modules named by --allow-python,
HTTP tasks (unless --no-http), shell tasks only with --allow-shell, real Lambda only with
--allow-lambda.

Observability: GET /metrics answers Prometheus (the otel extra) for the executions this
server's worker runs, behind the token when one is set; SM_LOG_LEVEL (ALL, ERROR, FATAL,
OFF), SM_LOG_INCLUDE_DATA=1 and SM_LOG_FILE (default stderr) log their events as JSON lines
shaped like Step Functions' CloudWatch log events.

exit codes:
  0  stopped with Ctrl-C or SIGTERM (running executions park and resume on the next start)
  2  bad arguments, unsafe address without --allow-remote/--token, unreadable database,
     a bad SM_LOG_* value or an SM_LOG_FILE that cannot be written,
     the server package missing (pip install 'statemachine-asl[server]'), the --executor's
     Dask scheduler unreachable
"""

if TYPE_CHECKING:
    import asyncio
    import socket

    from statemachine.server.config import ServerConfig
    from statemachine.server.policy import ResourcePolicy


def add_command(commands: argparse._SubParsersAction[argparse.ArgumentParser],
                make: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``sm serve`` on the ``sm`` parser."""
    serve = make(commands, "serve", "Serve the AWS Step Functions API on a local port.",
                 SERVE_HELP)
    serve.add_argument("--db", metavar="PATH|URL",
                       help="database: a SQLite file or a postgresql:// URL (default: $SM_DB, "
                            "else the user data folder's statemachine-asl/executions.db)")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8083, help="port (default 8083; 0: any free one)")
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow --host to be an address other machines reach (needs a token)")
    serve.add_argument("--token", metavar="TOKEN",
                       help="access token clients must present (default: $SM_SERVER_TOKEN)")
    serve.add_argument("--public-url", metavar="URL",
                       help="the URL people reach the server at (links in e-mails); "
                            "default http://HOST:PORT")
    add_policy_arguments(serve)
    serve.add_argument("--no-worker", action="store_true",
                       help="serve the API only; sm worker processes run the executions")
    serve.add_argument("--concurrency", type=int, default=64, metavar="N",
                       help="executions the in-process worker advances at once (default 64)")
    serve.add_argument("--schedules", metavar="FILE",
                       help="schedules to create or update at start-up (YAML; see README "
                            "'Schedules')")
    serve.add_argument("--no-schedules", action="store_true",
                       help="do not fire schedules in this server (sm worker processes may)")
    serve.add_argument("--executor", metavar="WHERE",
                       help="where the worker runs Map iterations and Parallel branches: local "
                            "(default), dask (a local Dask cluster) or dask://HOST:PORT "
                            "(a running scheduler)")
    serve.add_argument("--catchup", choices=("once", "skip"), default="once",
                       help="a schedule's fire missed while nothing ran: run it once on "
                            "start (default) or skip it")


def add_policy_arguments(parser: argparse.ArgumentParser) -> None:
    """The resource policy of machines created through the API (``sm serve`` and the
    ``sm worker`` processes that help it run them must be given the same)."""
    parser.add_argument("--resources", metavar="MAP.yaml",
                        help="resource map: local stand-ins API-created machines may use")
    parser.add_argument("--allow-python", action="append", default=[], metavar="MODULE",
                        help="python: modules API-created machines may run (repeatable; "
                             "submodules included)")
    parser.add_argument("--allow-shell", action="store_true",
                        help="let API-created machines run shell tasks (off by default)")
    parser.add_argument("--no-http", action="store_true",
                        help="refuse HTTP tasks (arn:aws:states:::http:invoke) in API machines")
    parser.add_argument("--allow-lambda", action="store_true",
                        help="let API machines call the real AWS Lambda API (unmapped functions)")


def policy_of(args: argparse.Namespace) -> ResourcePolicy:
    """The ResourcePolicy the policy flags describe."""
    from statemachine.server.policy import ResourcePolicy

    return ResourcePolicy(python_modules=tuple(args.allow_python), allow_shell=args.allow_shell,
                          allow_http=not args.no_http, allow_lambda=args.allow_lambda)


def config_of(args: argparse.Namespace) -> ServerConfig:
    """The ServerConfig the flags describe (checked: ValueError when unsafe)."""
    from pathlib import Path

    from statemachine.server.config import ServerConfig

    policy = policy_of(args)
    config = ServerConfig(
        db=args.db, host=args.host, port=args.port,
        resources=Path(args.resources) if args.resources else None,
        token=args.token or ServerConfig.token_from_env(), allow_remote=args.allow_remote,
        policy=policy, public_url=args.public_url, worker=not args.no_worker,
        worker_concurrency=args.concurrency,
        schedules=Path(args.schedules) if args.schedules else None,
        fire_schedules=not args.no_schedules, catchup=args.catchup, executor=args.executor)
    config.check()
    return config


def command(args: argparse.Namespace) -> int:
    """Run the server until Ctrl-C / SIGTERM; returns the exit code."""
    try:
        import uvicorn  # noqa: F401  (the server extra)

        from statemachine.server.app import create_app
    except ImportError as missing:
        return error(f"sm serve needs the server extra: pip install 'statemachine-asl[server]' "
                     f"({missing})")
    from statemachine.durable import StoreError

    from .observability import logging_config

    try:
        config = config_of(args)
        logging_config(args)  # $SM_LOG_*: refused now, not by every execution the worker runs
    except ValueError as failure:
        return error(str(failure), code=EXIT_USAGE)
    executor = None
    if config.executor not in (None, "local"):
        from statemachine.executors import ExecutorError, executor_from

        try:
            executor = executor_from(config.executor)
        except (ExecutorError, ValueError) as failure:
            return error(str(failure))
    sockets: list[socket.socket] | None = None
    try:
        try:
            config, sockets = _bind_any_port(config)
        except OSError as failure:
            return error(f"could not serve on {config.host}:{config.port} ({failure})")
        try:
            app = create_app(config, executor=executor)
        except StoreError as failure:
            return error(f"database: {failure}", code=EXIT_USAGE)
        return _run(app, config, sockets)
    finally:
        for sock in sockets or ():
            sock.close()
        if executor is not None:
            executor.close()


def _bind_any_port(config: ServerConfig) -> tuple[ServerConfig, list[socket.socket] | None]:
    """``--port 0`` (any free port): a socket bound now, on the port the system picks, and
    the config that names that port -- the banner, the console's links and the e-mails'
    callback links show it; the server listens on that socket. Another port: the config as
    it is and no socket (uvicorn binds it). Raises OSError when the address cannot be bound."""
    if config.port != 0:
        return config, None
    import dataclasses
    import socket

    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET  # as uvicorn binds
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((config.host, 0))
    except OSError:
        sock.close()
        raise
    return dataclasses.replace(config, port=sock.getsockname()[1]), [sock]


def banner(config: ServerConfig) -> str:
    """What ``sm serve`` prints at start-up: the API endpoint (for SDKs and the AWS CLI), the
    console's URL (with a token: how to pass it, never the token itself), database, policy."""
    url = config.base_url
    console = f"{url}/?token=TOKEN (once; a cookie keeps it)" if config.token else f"{url}/"
    return (f"sm serve: AWS Step Functions API on {url} "
            f"(database {config.db or 'default'}; policy: {config.policy.describe()})\n"
            f"  API:     aws stepfunctions --endpoint-url {url} ...  |  "
            f"boto3.client(\"stepfunctions\", endpoint_url=\"{url}\")\n"
            f"  console: {console}")


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (the server extra, outside Windows: bench/
    serve.py measures it), else asyncio's own."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _run(app: object, config: ServerConfig, sockets: list[socket.socket] | None = None) -> int:
    """Serve until SIGTERM or Ctrl-C (a second one forces the exit), then stop cleanly:
    the worker parks what runs, the store closes; exit 0. ``sockets``: bound already
    (``_bind_any_port``), else uvicorn binds ``config``'s host and port."""
    import asyncio
    import contextlib
    import signal

    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield  # ours, below: uvicorn's would re-raise the signal after shutting down

    server = Server(uvicorn.Config(app, host=config.host, port=config.port,  # type: ignore[arg-type]  # a Starlette app
                                   log_level="warning", lifespan="on", http="auto",
                                   timeout_graceful_shutdown=5))  # long polls end then

    def stop() -> None:
        if server.should_exit:
            server.force_exit = True
        server.should_exit = True

    async def main() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows
                loop.add_signal_handler(sig, stop)
        await server.serve(sockets=sockets)

    print(banner(config), file=sys.stderr, flush=True)
    from statemachine.server.callbacks import url_warning

    warning = url_warning(config)
    if warning is not None:
        print(warning, file=sys.stderr, flush=True)
    try:
        with asyncio.Runner(loop_factory=_loop_factory()) as runner:
            runner.run(main())
    except SystemExit:  # uvicorn exits when it cannot bind or start (it logged why)
        return error(f"could not serve on {config.host}:{config.port} (see above)")
    if not server.started:
        return error(f"could not serve on {config.host}:{config.port} (see above)")
    print("sm serve: stopped", file=sys.stderr, flush=True)
    return EXIT_OK
