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
                                                    lifespan="on"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]},
                                       daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 20
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
                            config=Config(retries={"max_attempts": 1},
                                          read_timeout=90), **options)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)
        self.sock.close()

    def __enter__(self) -> RunningServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture
def sm_server(tmp_path: Path) -> Iterator[RunningServer]:
    """A server on a new SQLite database, flows in tests/server/flows allowed as python:."""
    server = RunningServer(ServerConfig(db=str(tmp_path / "server.db"), port=0))
    try:
        yield server
    finally:
        server.stop()


def wait_status(sfn: Any, arn: str, *, timeout: float = 30.0, not_status: str = "RUNNING") -> dict[str, Any]:
    """DescribeExecution until the status is not ``not_status`` (bounded)."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, Any] = sfn.describe_execution(executionArn=arn)
        if found["status"] != not_status or time.monotonic() > deadline:
            return found
        time.sleep(0.05)
