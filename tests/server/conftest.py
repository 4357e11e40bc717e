"""Fixtures for the server tests: a real uvicorn server on a free port of 127.0.0.1, in a
thread of the test process, and real boto3 clients pointed at it.

    def test_x(sm_server):                  # a fresh database in tmp_path
        sfn = sm_server.client()            # boto3 "stepfunctions" client
        sm_server.url                       # http://127.0.0.1:PORT

    def test_y(tmp_path):
        with RunningServer(ServerConfig(db=str(tmp_path / "x.db"), token="t" * 16)) as server:
            ...
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the server extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (uvicorn) is not installed")

from statemachine.server.app import create_app
from statemachine.server.config import ServerConfig

FLOWS = Path(__file__).parent / "flows"


class RunningServer:
    """``sm serve``'s app under uvicorn in a thread; ``stop()`` shuts it down cleanly."""

    def __init__(self, config: ServerConfig) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.config = config
        self.app = create_app(config)
        self.server = uvicorn.Server(uvicorn.Config(self.app, log_level="warning",
                                                    lifespan="on", timeout_graceful_shutdown=5))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 60  # a bound: a loaded machine starts slowly
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> Any:
        """A boto3 Step Functions client for this server (dummy credentials unless given)."""
        import boto3
        from botocore.config import Config

        options: dict[str, Any] = {"region_name": "us-east-1", "aws_access_key_id": "sm",
                                   "aws_secret_access_key": self.config.token or "sm"}
        options.update(kwargs)
        return boto3.client("stepfunctions", endpoint_url=self.url,
                            config=Config(retries={"max_attempts": 1}, read_timeout=90,
                                          inject_host_prefix=False),  # StartSyncExecution
                            **options)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def config(tmp_path: Path, **changes: Any) -> ServerConfig:
    """The tests' configuration: a new SQLite database in ``tmp_path``, the resource map of
    tests/server/flows, GetActivityTask polls of 2 s."""
    options: dict[str, Any] = {"db": str(tmp_path / "server.db"), "port": 0,
                               "resources": FLOWS / "resources.yaml", "long_poll": 2.0}
    options.update(changes)
    return ServerConfig(**options)


@pytest.fixture
def sm_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningServer]:
    """A server on a new database with the tests' resource map; task tokens the map's
    ``send`` handler receives are written to ``tmp_path/tokens``."""
    tokens = tmp_path / "tokens"
    tokens.mkdir()
    monkeypatch.setenv("SM_TEST_TOKENS", str(tokens))
    server = RunningServer(config(tmp_path))
    try:
        yield server
    finally:
        server.stop()


def read_token(folder: Path, state: str, *, timeout: float = 60.0) -> dict[str, Any]:
    """The token file the ``send`` handler wrote for ``state`` (waits for it, bounded)."""
    import json

    path = folder / f"{state}.json"
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise AssertionError(f"no task token was sent for {state}")
        time.sleep(0.02)
    found: dict[str, Any] = json.loads(path.read_text())
    return found


def next_activity_task(sfn: Any, activity_arn: str, *, worker_name: str | None = None,
                       timeout: float = 60.0) -> dict[str, Any]:
    """GetActivityTask until it hands out a task of ``activity_arn``, as an activity worker
    loops: each poll ends empty after the server's long poll (2 s here), and a loaded machine
    may take longer than one poll to schedule the activity. Bounded: AssertionError after
    ``timeout`` seconds without a task."""
    options = {"activityArn": activity_arn} | ({"workerName": worker_name} if worker_name else {})
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = sfn.get_activity_task(**options)
        if task.get("taskToken"):
            return task
        if time.monotonic() > deadline:
            raise AssertionError(f"no task of {activity_arn} was handed out within {timeout:g} s")


def wait_status(sfn: Any, arn: str, *, timeout: float = 30.0, not_status: str = "RUNNING") -> dict[str, Any]:
    """DescribeExecution until the status is not ``not_status`` (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if found["status"] != not_status or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
