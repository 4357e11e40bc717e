"""`sm serve` fires schedules: the schedules section of its configuration (a file) is applied
at start-up, the server's scheduler fires them and its worker runs the executions; a restart
keeps them without firing again; a bad file is refused before anything listens."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from statemachine.server.config import ServerConfig
from statemachine.service import Service
from tests.server.conftest import RunningServer

DEFINITIONS = Path(__file__).parents[2] / "definitions"


def schedules_file(tmp_path: Path, expression: str = "rate(1 day)") -> Path:
    path = tmp_path / "schedules.yaml"
    path.write_text(f"""\
schedules:
  - Name: greeter
    ScheduleExpression: {expression}
    ScheduleExpressionTimezone: Europe/Berlin
    Target:
      Definition: {DEFINITIONS / 'hello.yaml'}
      Input: {{name: schedule}}
""")
    return path


def executions(db: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    """The store's executions once one exists and none runs (bounded wait)."""
    deadline = time.monotonic() + timeout
    with Service(db) as service:
        while True:
            found = service.list()
            if (found and all(e["status"] != "RUNNING" for e in found)) or \
                    time.monotonic() > deadline:
                return found
            time.sleep(0.05)


def test_the_server_applies_its_schedules_and_fires_them(tmp_path: Path) -> None:
    db = str(tmp_path / "server.db")
    config = ServerConfig(db=db, port=0, schedules=schedules_file(tmp_path))
    config.check()
    with RunningServer(config) as server:
        sfn = server.client()
        (execution,) = executions(db)  # a rate starts at once (AWS): fired at start-up
        assert execution["name"].startswith("greeter-") and execution["status"] == "SUCCEEDED"
        output = sfn.describe_execution(executionArn=execution["executionArn"])["output"]
        assert output == '{"greeting":"Hello, schedule!"}'
    with Service(db) as service:
        first = service.get_schedule(Name="greeter")
    assert first["Target"]["Input"] == '{"name": "schedule"}'

    with RunningServer(ServerConfig(db=db, port=0, schedules=config.schedules)) as server:
        assert server.url and len(executions(db)) == 1  # restarted: kept, not fired again
    with Service(db) as service:
        again = service.get_schedule(Name="greeter")
    assert again["LastModificationDate"] == first["LastModificationDate"]  # unchanged
    assert again["NextFireTime"] == first["NextFireTime"]


@pytest.mark.parametrize(("expression", "message"), [
    ("cron(0 10 * * * *)", "schedule 'greeter': Invalid Schedule Expression cron(0 10 * * * *)."),
    ("rate(1 fortnight)", "schedule 'greeter': Invalid Schedule Expression rate(1 fortnight)."),
])
def test_a_bad_schedules_file_is_refused_before_serving(tmp_path: Path, expression: str,
                                                        message: str) -> None:
    config = ServerConfig(db=str(tmp_path / "x.db"), schedules=schedules_file(tmp_path, expression))
    with pytest.raises(ValueError, match="schedules file") as raised:
        config.check()
    assert message in str(raised.value)
