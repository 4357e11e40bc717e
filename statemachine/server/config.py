"""Server stage, configuration: what ``sm serve`` was asked to do, as one frozen value.

In: command-line flags (cli/serve.py) or a test. Out: ``ServerConfig``, which ``create_app``
and every route module read (``request.app.state.config``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Final, Literal

from statemachine.server.policy import ResourcePolicy

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "LOCAL_HOSTS", "TOKEN_ENV", "ServerConfig"]

DEFAULT_HOST: Final = "127.0.0.1"
DEFAULT_PORT: Final = 8083
#: Addresses that only this machine reaches: binding them needs no token.
LOCAL_HOSTS: Final = ("127.0.0.1", "localhost", "::1")
#: The environment variable holding the access token (``--token`` wins over it).
TOKEN_ENV: Final = "SM_SERVER_TOKEN"


@dataclasses.dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything the server needs.

    ``db``: the durable store (SQLite path or PostgreSQL URL; None: ``$SM_DB`` / the default
    file). ``resources``: a MAP.yaml of local stand-ins that machines created through the API
    resolve their Task resources with. ``token``: the access token clients must present
    (None: no check; required when ``host`` is not local, see ``check()``). ``policy``: which
    resources API-created machines may use. ``public_url``: the base URL people and e-mails
    reach the server at (links in callbacks); default ``http://host:port``.
    ``max_body``: the largest request body accepted, in bytes (AWS: a definition is at most
    1 MiB, payloads 256 KiB). ``long_poll``: seconds GetActivityTask waits for a task (AWS: 60).
    ``public_paths``: path prefixes served without the token (links that carry their own
    proof, such as signed callback links). ``worker``: run a durable worker inside the server (False: only ``sm worker`` processes
    run executions). ``worker_concurrency``/``park_after``/``lease_seconds``: its settings.
    Schedules (statemachine/server/schedules.py): ``schedules``, a file of schedules created
    or updated at start-up; ``fire_schedules``, fire stored schedules in the server;
    ``catchup``, "once" or "skip" for fires missed while nothing ran. ``executor``: where
    the worker runs Map iterations and Parallel branches (statemachine/executors.py): None
    or "local" in process, "dask" a LocalCluster started with the server, "dask://HOST:PORT"
    a running Dask scheduler.
    """

    db: str | None = None
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    resources: Path | None = None
    token: str | None = None
    allow_remote: bool = False
    policy: ResourcePolicy = dataclasses.field(default_factory=ResourcePolicy)
    public_url: str | None = None
    max_body: int = 2 * 1024 * 1024
    long_poll: float = 60.0
    public_paths: tuple[str, ...] = ("/callbacks/", "/schedules")  # these check the token
    worker: bool = True
    worker_concurrency: int = 64
    park_after: float = 2.0
    lease_seconds: float = 30.0
    schedules: Path | None = None
    fire_schedules: bool = True
    catchup: Literal["once", "skip"] = "once"
    executor: str | None = None

    @property
    def base_url(self) -> str:
        """``public_url`` without a trailing slash, else ``http://host:port``."""
        if self.public_url:
            return self.public_url.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def local_only(self) -> bool:
        """True when the server listens on a loopback address only."""
        return self.host in LOCAL_HOSTS

    def check(self) -> None:
        """Raise ValueError when the configuration is unsafe or inconsistent: a non-local
        ``host`` without ``allow_remote`` and a ``token``; a bad port; a missing map; an
        unknown ``executor`` or one without the worker."""
        if not 0 <= self.port <= 65535:
            raise ValueError(f"--port must be between 0 and 65535, not {self.port}")
        if not self.local_only:
            if not self.allow_remote:
                raise ValueError(f"listening on {self.host} lets other machines reach the "
                                 "server: pass --allow-remote (and --token) to mean it")
            if not self.token:
                raise ValueError(f"listening on {self.host} needs an access token: --token "
                                 f"TOKEN or ${TOKEN_ENV}")
        if self.token is not None and len(self.token) < 16:
            raise ValueError("the access token must be at least 16 characters long")
        if self.executor not in (None, "local"):
            spec = self.executor or ""
            from statemachine.executors import is_scheduler_address

            if spec != "dask" and not is_scheduler_address(spec):
                raise ValueError(f"unknown executor {spec!r}: use local, dask or dask://HOST:PORT")
            if not self.worker:
                raise ValueError("--executor sets where the server's worker runs Map and "
                                 "Parallel work: it cannot go with --no-worker (give it to "
                                 "sm worker instead)")
        if self.resources is not None and not self.resources.is_file():
            raise ValueError(f"resource map not found: {self.resources}")
        if self.schedules is not None:
            from statemachine.server.schedules import read_schedules

            read_schedules(self.schedules)  # ValueError naming the file and the schedule

    @staticmethod
    def token_from_env() -> str | None:
        """``$SM_SERVER_TOKEN`` when set and not empty."""
        return os.environ.get(TOKEN_ENV) or None
