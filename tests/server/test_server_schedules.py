"""`sm serve` fires schedules: the schedules section of its configuration (a file) is applied
at start-up, the server's scheduler fires them and its worker runs the executions; a restart
keeps them without firing again; a bad file is refused before anything listens."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

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


def scheduler_client(server: RunningServer, **kwargs: Any) -> Any:
    import boto3
    from botocore.config import Config

    options: dict[str, Any] = {"region_name": "us-east-1", "aws_access_key_id": "sm",
                               "aws_secret_access_key": server.config.token or "sm"}
    options.update(kwargs)
    return boto3.client("scheduler", endpoint_url=server.url,
                        config=Config(retries={"max_attempts": 1}), **options)


HELLO = json.dumps({"StartAt": "Hi", "States": {"Hi": {"Type": "Pass", "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/Scheduler"


def test_boto3_scheduler_client_manages_the_servers_schedules(tmp_path: Path) -> None:
    token = "t" * 24
    db = str(tmp_path / "server.db")
    with RunningServer(ServerConfig(db=db, port=0, token=token)) as server:
        sfn = server.client()
        machine = sfn.create_state_machine(name="echo", definition=HELLO,
                                           roleArn=ROLE)["stateMachineArn"]
        scheduler = scheduler_client(server)
        target = {"Arn": machine, "RoleArn": ROLE, "Input": '{"from": "boto3"}'}
        created = scheduler.create_schedule(
            Name="nightly", ScheduleExpression="cron(30 2 * * ? *)",
            ScheduleExpressionTimezone="Europe/Berlin", FlexibleTimeWindow={"Mode": "OFF"},
            Target=target)
        assert created["ScheduleArn"] == \
            "arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly"
        got = scheduler.get_schedule(Name="nightly")
        assert got["ScheduleExpression"] == "cron(30 2 * * ? *)"
        assert got["ScheduleExpressionTimezone"] == "Europe/Berlin"
        assert got["Target"]["Arn"] == machine and got["State"] == "ENABLED"
        assert got["CreationDate"].tzinfo is not None   # botocore parsed a timestamp
        listed = scheduler.list_schedules()["Schedules"]
        assert [(s["Name"], s["Target"]["Arn"]) for s in listed] == [("nightly", machine)]

        with pytest.raises(scheduler.exceptions.ValidationException) as bad:
            scheduler.create_schedule(Name="bad", ScheduleExpression="cron(0 10 * * * *)",
                                      FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
        assert bad.value.response["Error"]["Message"] == \
            "Invalid Schedule Expression cron(0 10 * * * *)."
        with pytest.raises(scheduler.exceptions.ConflictException):
            scheduler.create_schedule(Name="nightly", ScheduleExpression="rate(1 hour)",
                                      FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
        with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
            scheduler.get_schedule(Name="missing")

        # UpdateSchedule replaces it: a rate without StartDate fires at once, and runs
        scheduler.update_schedule(Name="nightly", ScheduleExpression="rate(1 day)",
                                  FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
        scheduler.create_schedule(Name="later", ScheduleExpression="rate(1 hour)",
                                  FlexibleTimeWindow={"Mode": "OFF"}, Target=target,
                                  StartDate=datetime.now(UTC) + timedelta(hours=1))
        (execution,) = executions(db)
        assert execution["name"].startswith("nightly-") and execution["status"] == "SUCCEEDED"
        scheduler.delete_schedule(Name="nightly")
        assert [s["Name"] for s in scheduler.list_schedules()["Schedules"]] == ["later"]

        wrong = scheduler_client(server, aws_secret_access_key="not-the-token")
        with pytest.raises(ClientError) as refused:
            wrong.list_schedules()
        assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_a_schedule_the_store_refuses_is_one_line_and_the_others_apply(tmp_path: Path) -> None:
    from statemachine.server.schedules import apply_schedules, read_schedules

    path = tmp_path / "schedules.yaml"
    path.write_text(f"""\
schedules:
  - Name: orphan
    ScheduleExpression: rate(1 hour)
    Target: {{Arn: "arn:aws:states:us-east-1:123456789012:stateMachine:nope"}}
  - Name: fine
    ScheduleExpression: cron(0 6 ? * MON-FRI *)
    Target: {{Definition: {DEFINITIONS / 'hello.yaml'}}}
""")
    logs: list[str] = []
    with Service(str(tmp_path / "x.db")) as service:
        assert apply_schedules(service, read_schedules(path), logs.append) == 1
        assert [s["Name"] for s in service.list_schedules()["Schedules"]] == ["fine"]
    assert logs == ["sm serve: schedule 'orphan' not applied: ResourceNotFoundException: "
                    "State Machine Does Not Exist: "
                    "'arn:aws:states:us-east-1:123456789012:stateMachine:nope'"]


def test_the_aws_cli_manages_schedules(tmp_path: Path) -> None:
    import os
    import shutil
    import subprocess
    import sys

    aws = shutil.which("aws") or str(Path(sys.executable).parent / "aws")
    if not Path(aws).exists():
        pytest.skip("the AWS CLI is not installed (pip install -e '.[test]')")
    db = str(tmp_path / "server.db")
    with Service(db) as service:
        machine = service.store_machine(DEFINITIONS / "hello.yaml")
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "sm", "AWS_SECRET_ACCESS_KEY": "sm",
           "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
           "AWS_SHARED_CREDENTIALS_FILE": os.devnull}
    with RunningServer(ServerConfig(db=db, port=0)) as server:
        def cli(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run([aws, "scheduler", *args, "--endpoint-url", server.url,
                                   "--output", "json"], capture_output=True, text=True,
                                  env=env, timeout=120, check=False)

        created = cli("create-schedule", "--name", "nightly",
                      "--schedule-expression", "cron(30 2 * * ? *)",
                      "--schedule-expression-timezone", "Europe/Berlin",
                      "--flexible-time-window", "Mode=OFF",
                      "--target", f"Arn={machine},RoleArn={ROLE}")
        assert created.returncode == 0, created.stderr
        assert json.loads(created.stdout)["ScheduleArn"].endswith(":schedule/default/nightly")
        got = json.loads(cli("get-schedule", "--name", "nightly").stdout)
        assert (got["ScheduleExpression"], got["ScheduleExpressionTimezone"]) == (
            "cron(30 2 * * ? *)", "Europe/Berlin")
        bad = cli("create-schedule", "--name", "bad", "--schedule-expression", "rate(0 hours)",
                  "--flexible-time-window", "Mode=OFF", "--target", f"Arn={machine},RoleArn={ROLE}")
        assert bad.returncode == 255
        assert "(ValidationException) when calling the CreateSchedule operation: Invalid " \
               "Schedule Expression rate(0 hours)." in bad.stderr
        assert cli("delete-schedule", "--name", "nightly").returncode == 0
        assert json.loads(cli("list-schedules").stdout)["Schedules"] == []


def test_the_schedules_file_reads_yaml_as_definitions_do(tmp_path: Path) -> None:
    """``Mode: OFF``, ``State: ENABLED`` and an input of ``on``/``no`` are the words written,
    as in definitions (YAML 1.2), not YAML 1.1's booleans; dates are ISO text."""
    from statemachine.server.schedules import apply_schedules, read_schedules

    path = tmp_path / "schedules.yaml"
    path.write_text(f"""\
schedules:
  - Name: plain
    ScheduleExpression: cron(0 6 ? * MON-FRI *)
    FlexibleTimeWindow: {{Mode: OFF}}
    EndDate: 2099-01-01T00:00:00Z
    Target:
      Definition: {DEFINITIONS / 'hello.yaml'}
      Input: {{name: no, switch: on}}
""")
    logs: list[str] = []
    with Service(str(tmp_path / "x.db")) as service:
        assert apply_schedules(service, read_schedules(path), logs.append) == 0, logs
        found = service.get_schedule(Name="plain")
    assert found["FlexibleTimeWindow"] == {"Mode": "OFF"}
    assert json.loads(found["Target"]["Input"]) == {"name": "no", "switch": "on"}
    assert found["EndDate"] == "2099-01-01T00:00:00+00:00"


def test_a_schedule_whose_state_machine_was_deleted_starts_nothing(tmp_path: Path) -> None:
    """DeleteStateMachine: the machine's schedules fire no more executions (they are logged
    and dropped), and a new schedule cannot target it (ResourceNotFoundException)."""
    from statemachine.schedules.scheduler import Scheduler

    db = str(tmp_path / "server.db")
    with RunningServer(ServerConfig(db=db, port=0)) as server:
        sfn = server.client()
        machine = sfn.create_state_machine(name="gone", definition=HELLO,
                                           roleArn=ROLE)["stateMachineArn"]
        scheduler = scheduler_client(server)
        target = {"Arn": machine, "RoleArn": ROLE}
        scheduler.create_schedule(Name="often", ScheduleExpression="rate(1 minute)",
                                  FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
        (first,) = executions(db)  # a rate fires at once
        sfn.delete_state_machine(stateMachineArn=machine)
        with pytest.raises(scheduler.exceptions.ResourceNotFoundException):
            scheduler.create_schedule(Name="late", ScheduleExpression="rate(1 hour)",
                                      FlexibleTimeWindow={"Mode": "OFF"}, Target=target)
        logs: list[str] = []
        with Service(db) as service:
            later = datetime.now(UTC) + timedelta(minutes=2)
            assert Scheduler(service.store, log=logs.append).fire_due(later) == []
            assert [e["name"] for e in service.list()] == [first["name"]]
        assert len(logs) == 1 and "does not exist" in logs[0], logs
        # a definition file of that name stores the machine again: schedules may target it
        (tmp_path / "gone.yaml").write_text("StartAt: A\nStates:\n  A: {Type: Pass, End: true}\n")
        with Service(db) as service:
            assert service.store_machine(tmp_path / "gone.yaml") == machine
            service.create_schedule(Name="back", ScheduleExpression="rate(1 hour)",
                                    Target={"Arn": machine})
        assert sfn.describe_state_machine(stateMachineArn=machine)["name"] == "gone"
