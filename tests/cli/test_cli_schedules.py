"""`sm schedules create|list|get|delete` through the real CLI, one-line errors with
EventBridge's messages, and `sm worker` firing a schedule and running its execution."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


@pytest.fixture
def db(tmp_path: Path) -> str:
    return str(tmp_path / "sm.db")


def test_help_documents_examples_and_exit_codes(sm) -> None:
    result = sm("schedules", "--help")
    assert result.returncode == 0
    assert "examples:" in result.stdout and "exit codes:" in result.stdout
    assert "cron(30 2 * * ? *)" in result.stdout


def test_create_list_get_delete(sm, db: str, definitions: Path) -> None:
    created = sm("schedules", "create", "nightly", "--expression", "cron(30 2 * * ? *)",
                 "--timezone", "Europe/Berlin", "--machine", definitions / "hello.yaml",
                 "--input", '{"name": "night"}', "--db", db)
    assert created.returncode == 0, created.stderr
    assert created.stdout.startswith(
        "created arn:aws:scheduler:us-east-1:123456789012:schedule/default/nightly; next fire: ")
    second = sm("schedules", "create", "spread", "--expression", "rate(5 minutes)",
                "--flexible-window", "3", "--machine",
                "arn:aws:states:us-east-1:123456789012:stateMachine:hello", "--db", db)
    assert second.returncode == 0, second.stderr

    listed = sm("schedules", "list", "--db", db)
    lines = [line.split("\t") for line in listed.stdout.splitlines()]
    assert [(row[0], row[2], row[3], row[4]) for row in lines] == [
        ("nightly", "ENABLED", "cron(30 2 * * ? *)", "Europe/Berlin"),
        ("spread", "ENABLED", "rate(5 minutes)", "UTC")]
    # the next fire of a 02:30 Berlin schedule is 01:30 or 00:30 UTC (winter or summer time)
    assert lines[0][5][11:] in ("01:30:00+00:00", "00:30:00+00:00")

    as_json = json.loads(sm("schedules", "list", "--json", "--db", db).stdout)
    assert [s["Name"] for s in as_json["Schedules"]] == ["nightly", "spread"]
    got = json.loads(sm("schedules", "get", "nightly", "--json", "--db", db).stdout)
    assert got["Target"]["Input"] == '{"name": "night"}'
    assert len(got["NextFireTimes"]) == 5 and got["NextFireTimes"][0] == got["NextFireTime"]

    assert sm("schedules", "delete", "spread", "--db", db).stdout == "deleted default/spread\n"
    again = sm("schedules", "delete", "spread", "--db", db)
    assert again.returncode == 1
    assert again.stderr == ("sm: error: ResourceNotFoundException: Schedule spread does not "
                            "exist.\n")


@pytest.mark.parametrize(("arguments", "message"), [
    (["--expression", "cron(0 10 * * * *)"],
     "sm: error: ValidationException: Invalid Schedule Expression cron(0 10 * * * *). (exactly "
     "one of day-of-month and day-of-week must be ? (a value or * in one, ? in the other))\n"),
    (["--expression", "rate(5 weeks)"],
     "sm: error: ValidationException: Invalid Schedule Expression rate(5 weeks). (a rate is "
     "rate(VALUE UNIT): a positive integer and minute(s), hour(s) or day(s), e.g. "
     "rate(5 minutes))\n"),
    (["--expression", "cron(0 10 * * ? *)", "--timezone", "Berlin"],
     "sm: error: ValidationException: Invalid ScheduleExpressionTimezone 'Berlin': not an IANA "
     "time zone name (e.g. Europe/Berlin, America/New_York, UTC).\n"),
    (["--expression", "rate(1 hour)", "--flexible-window", "0"],
     "sm: error: ValidationException: FlexibleTimeWindow Mode FLEXIBLE needs "
     "MaximumWindowInMinutes, a whole number from 1 to 1440\n"),
])
def test_bad_requests_are_one_line_errors(sm, db: str, definitions: Path, arguments: list[str],
                                          message: str) -> None:
    result = sm("schedules", "create", "bad", *arguments, "--machine",
                definitions / "hello.yaml", "--db", db)
    assert (result.returncode, result.stderr, result.stdout) == (1, message, "")


def test_a_missing_definition_is_a_usage_error(sm, db: str, tmp_path: Path) -> None:
    result = sm("schedules", "create", "x", "--expression", "rate(1 hour)", "--machine",
                tmp_path / "nope.yaml", "--db", db)
    assert result.returncode == 2 and result.stderr.count("\n") == 1
    assert "nope.yaml" in result.stderr


def test_the_worker_fires_a_schedule_and_runs_it(sm, db: str, definitions: Path) -> None:
    # a rate schedule without StartDate fires at once (AWS); the worker fires it on start
    assert sm("schedules", "create", "greeter", "--expression", "rate(1 day)", "--machine",
              definitions / "hello.yaml", "--input", '{"name": "cron"}',
              "--db", db).returncode == 0
    worker = sm("worker", "--db", db, "--until-idle", "--poll", "0.05")
    assert worker.returncode == 0, worker.stderr
    (execution,) = json.loads(sm("executions", "list", "--json", "--db", db).stdout)["executions"]
    assert execution["name"].startswith("greeter-") and execution["status"] == "SUCCEEDED"
    described = json.loads(sm("executions", "describe", execution["executionArn"], "--json",
                              "--db", db).stdout)
    assert json.loads(described["output"]) == {"greeting": "Hello, cron!"}
    listed = json.loads(sm("schedules", "list", "--json", "--db", db).stdout)["Schedules"]
    # the execution is named after the instant it fired for (one per instant)
    from datetime import datetime

    fired_for = datetime.fromisoformat(listed[0]["LastFireTime"])
    assert execution["name"] == f"greeter-{fired_for:%Y%m%dT%H%M%SZ}"


def test_readme_schedules_example_works(sm, repo: Path, tmp_path: Path) -> None:
    import shlex

    text = (repo / "README.md").read_text(encoding="utf-8")
    section = text[text.index("\n## Schedules\n"):]
    block = section[section.index("```sh\n") + 6:]
    block = block[:block.index("```")]
    result = None
    for line in block.strip().splitlines():
        words = shlex.split(line)
        assert words[0] == "sm"
        words = [str(tmp_path / "demo.db") if word == "demo.db" else word for word in words[1:]]
        result = sm(*words)
        assert result.returncode == 0, (line, result.stderr)
    assert result is not None
    (row,) = [line.split("\t") for line in result.stdout.splitlines()]
    assert row[0].startswith("greeter-") and row[1] == "SUCCEEDED"


def test_a_same_named_definition_from_another_file_does_not_replace_a_schedules_target(
        sm, db: str, tmp_path: Path) -> None:
    """Two files named job.yaml are one state machine name (``job``): the second must not
    silently change what the first one's schedule runs."""
    for folder, result in (("x", "from-x"), ("y", "from-y")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "job.yaml").write_text(
            f"StartAt: A\nStates:\n  A: {{Type: Pass, Result: {result}, End: true}}\n")
    assert sm("schedules", "create", "sx", "--expression", "rate(1 day)", "--machine",
              tmp_path / "x" / "job.yaml", "--db", db).returncode == 0
    clash = sm("schedules", "create", "sy", "--expression", "rate(1 day)", "--machine",
               tmp_path / "y" / "job.yaml", "--db", db)
    assert clash.returncode == 1 and clash.stdout == ""
    assert clash.stderr.startswith("sm: error: ConflictException: ") and clash.stderr.count("\n") == 1
    assert "sx" in clash.stderr and str(tmp_path / "x" / "job.yaml") in clash.stderr
    # the file of the schedule's own machine may change (a new version of the same file)
    (tmp_path / "x" / "job.yaml").write_text(
        "StartAt: A\nStates:\n  A: {Type: Pass, Result: from-x-2, End: true}\n")
    assert sm("schedules", "create", "sx2", "--expression", "rate(1 day)", "--machine",
              tmp_path / "x" / "job.yaml", "--db", db).returncode == 0
    assert sm("worker", "--db", db, "--until-idle", "--poll", "0.05").returncode == 0
    listed = json.loads(sm("executions", "list", "--json", "--db", db).stdout)["executions"]
    outputs = {e["name"].split("-")[0]: json.loads(json.loads(sm(
        "executions", "describe", e["executionArn"], "--json", "--db", db).stdout)["output"])
        for e in listed}
    assert outputs == {"sx": "from-x-2", "sx2": "from-x-2"}
