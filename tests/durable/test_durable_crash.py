"""Durable executions across processes, on SQLite and PostgreSQL: ``sm worker`` killed with
SIGKILL at 20 seeded points resumes to the uninterrupted run's output with no completed task
run twice and event ids 1..N; a callback answered by ``sm task success`` from another
process; the CLI's one-line errors."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from durable_backends import Backend

from statemachine.service import Service

ROOT = Path(__file__).parents[2]
FLOWS = Path(__file__).parent / "flows"
INPUT = {"n": 3, "items": list(range(50))}
SEED = 424242
KILLS_PER_RUN = 5
RUNS = 4  # 4 x 5 = 20 kill points


@pytest.fixture
def db(backend: Backend) -> Iterator[str]:
    backend.open().close()  # create (and, on PostgreSQL, register the schema for cleanup)
    if backend.kind == "sqlite":
        yield backend.argv[1]
    else:  # the CLI takes a postgresql:// URL (with our ?schema=); build one from conninfo
        from urllib.parse import quote

        from psycopg.conninfo import conninfo_to_dict

        conninfo, schema = backend.argv[1], backend.argv[2]
        parts = conninfo_to_dict(conninfo)
        user = quote(str(parts.get("user", "postgres")))
        password = f":{quote(str(parts['password']))}" if parts.get("password") else ""
        url = (f"postgresql://{user}{password}@{parts.get('host', '127.0.0.1')}:"
               f"{parts.get('port', 5432)}/{parts.get('dbname', 'test')}?schema={schema}")
        assert url.startswith("postgresql://")
        yield url


def sm(*args: str, env: dict[str, str], check: bool = True, timeout: float = 120
       ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "cli", *args], cwd=ROOT, env=env, text=True,
                          capture_output=True, timeout=timeout)
    if check and done.returncode != 0:
        raise AssertionError(f"sm {' '.join(args)} exited {done.returncode}: {done.stderr}")
    return done


def environment(tmp_path: Path, name: str) -> dict[str, str]:
    env = dict(os.environ)
    env["SM_CRASH_LOG"] = str(tmp_path / f"{name}.log")
    env["SM_CRASH_SLEEP"] = "0.03"
    env["PYTHONPATH"] = str(ROOT)
    env.pop("SM_DB", None)
    return env


def finish(db: str, env: dict[str, str]) -> None:
    sm("worker", "--db", db, "--until-idle", "--lease", "1", "--poll", "0.05", env=env)


def in_flight(service: Service, arn: str) -> set[str]:
    """Names of the tasks whose TaskStarted is committed but not their outcome."""
    history = service.history(arn)
    names: dict[int, str] = {}
    started: dict[int, str] = {}
    ended: set[int] = set()
    for event in history:
        if event["type"] == "TaskScheduled":
            names[event["id"]] = json.loads(event["taskScheduledEventDetails"]["parameters"])["name"]
        elif event["type"] == "TaskStarted":
            started[event["id"]] = names[event["previousEventId"]]
        elif event["type"] in ("TaskSucceeded", "TaskFailed", "TimedOut"):
            ended.add(event["previousEventId"])
    return {name for event_id, name in started.items() if event_id not in ended}


def test_sigkill_at_twenty_points_resumes_to_the_same_output(db: str, tmp_path: Path) -> None:
    env = environment(tmp_path, "reference")
    reference = sm("start", str(FLOWS / "crash.yaml"), "--db", db, "--input", json.dumps(INPUT),
                   "--seed", str(SEED), "--name", "reference", env=env).stdout.strip()
    finish(db, env)
    service = Service(db)
    expected = service.describe(reference)
    assert expected["status"] == "SUCCEEDED"
    expected_output = json.loads(expected["output"])
    rng = random.Random(20261130)
    kill_points = 0
    for run in range(RUNS):
        env = environment(tmp_path, f"run{run}")
        arn = sm("start", str(FLOWS / "crash.yaml"), "--db", db, "--input", json.dumps(INPUT),
                 "--seed", str(SEED), "--name", f"crash-{run}", env=env).stdout.strip()
        allowed: dict[str, int] = {}
        for _ in range(KILLS_PER_RUN):
            if service.describe(arn)["status"] != "RUNNING":
                break
            worker = subprocess.Popen(
                [sys.executable, "-m", "cli", "worker", "--db", db, "--lease", "1", "--poll", "0.05"],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.3, 1.4))
            worker.send_signal(signal.SIGKILL)
            worker.wait()
            kill_points += 1
            for name in in_flight(service, arn):
                allowed[name] = allowed.get(name, 0) + 1
        finish(db, env)
        described = service.describe(arn)
        assert described["status"] == "SUCCEEDED", described
        assert json.loads(described["output"]) == expected_output
        ids = [event["id"] for event in service.history(arn)]
        assert ids == list(range(1, len(ids) + 1))
        log = Path(env["SM_CRASH_LOG"]).read_text().split()
        counts: dict[str, int] = {}
        for name in log:
            counts[name] = counts.get(name, 0) + 1
        assert set(counts) == {"first", "branch-a", "branch-b", "last",
                               *(f"item-{i}" for i in range(50))}
        over = {name: n for name, n in counts.items() if n > 1 + allowed.get(name, 0)}
        assert over == {}, f"completed tasks ran again: {over}"
    assert kill_points >= 20
    service.close()


def in_flight_tree(service: Service, arn: str) -> set[str]:
    """``in_flight`` over an execution and its Distributed Map children."""
    names = in_flight(service, arn)
    for run in service.list_map_runs(arn)["mapRuns"]:
        for child in service.list(map_run_arn=run["mapRunArn"]):
            names |= in_flight_tree(service, child["executionArn"])
    return names


def test_sigkill_replays_item_selector_values_and_keeps_finished_children(db: str,
                                                                        tmp_path: Path) -> None:
    # ItemSelectors draw States.UUID() (inline and distributed Maps); each item's Task gets
    # the value and returns it, so a replay that drew another value shows as id != value.
    # Children that finished before a kill are not run again (their Tasks are not repeated).
    value = {"items": list(range(16))}
    env = environment(tmp_path, "selector-reference")
    reference = sm("start", str(FLOWS / "selector_crash.yaml"), "--db", db, "--input",
                   json.dumps(value), "--seed", "77", "--name", "selector-reference", env=env
                   ).stdout.strip()
    finish(db, env)
    service = Service(db)
    expected = json.loads(service.describe(reference)["output"])
    rng = random.Random(1201)
    env = environment(tmp_path, "selector-crash")
    env["SM_CRASH_SLEEP"] = "0"
    env["SM_CRASH_JITTER"] = "0.06"  # tasks end in another order than their replay's
    arn = sm("start", str(FLOWS / "selector_crash.yaml"), "--db", db, "--input",
             json.dumps(value), "--seed", "77", "--name", "selector-crash", env=env).stdout.strip()
    allowed: dict[str, int] = {}
    kills = 0
    for _ in range(6):
        if service.describe(arn)["status"] != "RUNNING":
            break
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli", "worker", "--db", db, "--lease", "1", "--poll", "0.05"],
            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.4, 1.0))
        worker.send_signal(signal.SIGKILL)
        worker.wait()
        kills += 1
        for name in in_flight_tree(service, arn):
            allowed[name] = allowed.get(name, 0) + 1
    finish(db, env)
    described = service.describe(arn)
    assert described["status"] == "SUCCEEDED", described
    output = json.loads(described["output"])
    for item in output["inline"] + output["distributed"]:
        assert item["id"] == item["task"]["value"], item
    assert output == expected  # same seed, same values, however often it was killed
    assert len({item["id"] for item in output["inline"] + output["distributed"]}) == 32
    counts: dict[str, int] = {}
    for name in Path(env["SM_CRASH_LOG"]).read_text().split():
        counts[name] = counts.get(name, 0) + 1
    assert set(counts) == {*(f"inline-{i}" for i in range(16)), *(f"child-{i}" for i in range(16))}
    over = {name: n for name, n in counts.items() if n > 1 + allowed.get(name, 0)}
    assert over == {}, f"completed tasks ran again: {over}"
    assert kills >= 2
    service.close()


def test_sm_worker_virtual_time_skips_a_wait_of_days(db: str, tmp_path: Path) -> None:
    env = environment(tmp_path, "virtual")
    arn = sm("start", str(FLOWS / "waits.yaml"), "--db", db, "--input",
             json.dumps({"seconds": 2 * 24 * 3600}), env=env).stdout.strip()
    sm("worker", "--db", db, "--virtual-time", "--until-idle", "--poll", "0.05", env=env,
       timeout=60)
    described = json.loads(sm("executions", "describe", arn, "--db", db, "--json",
                              env=env).stdout)
    assert described["status"] == "SUCCEEDED"
    history = json.loads(sm("executions", "history", arn, "--db", db, "--json", env=env).stdout)
    stamps = {e["type"]: datetime.fromisoformat(e["timestamp"]) for e in history["events"]}
    assert stamps["WaitStateExited"] - stamps["WaitStateEntered"] >= timedelta(days=2)


def test_two_processes_answer_a_callback(db: str, tmp_path: Path) -> None:
    env = environment(tmp_path, "approval")
    env["APPROVAL_OUTBOX"] = str(tmp_path)
    definition = str(ROOT / "definitions" / "human_approval.yaml")
    # process A: starts the execution and runs it until it parks on the callback, then exits
    arn = sm("start", definition, "--db", db, "--input",
             '{"expenseId": "x-9", "amount": 40, "reviewer": "kim"}', env=env).stdout.strip()
    sm("worker", "--db", db, "--until-idle", env=env)
    assert json.loads(sm("executions", "describe", arn, "--db", db, "--json", env=env).stdout
                      )["status"] == "RUNNING"
    token = json.loads((tmp_path / "approval-requests.jsonl").read_text())["taskToken"]
    # process B: answers the token
    sm("task", "success", token, "--db", db, "--output", '{"approvedBy": "kim"}', env=env)
    again = sm("task", "success", token, "--db", db, "--output", "{}", env=env, check=False)
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == ["sm: error: TaskDoesNotExist: Task does not exist anymore"]
    # a worker started afterwards finishes it
    sm("worker", "--db", db, "--until-idle", env=env)
    described = json.loads(sm("executions", "describe", arn, "--db", db, "--json", env=env).stdout)
    assert described["status"] == "SUCCEEDED"
    assert json.loads(described["output"]) == {"expenseId": "x-9", "status": "APPROVED",
                                               "approvedBy": "kim"}
    listed = json.loads(sm("executions", "list", "--db", db, "--status", "SUCCEEDED",
                           "--machine", "human_approval", "--json", env=env).stdout)
    assert [item["executionArn"] for item in listed["executions"]] == [arn]
    history = json.loads(sm("executions", "history", arn, "--db", db, "--json", env=env).stdout)
    types = [event["type"] for event in history["events"]]
    assert types[0] == "ExecutionStarted" and types[-1] == "ExecutionSucceeded"
    assert "smPath" not in json.dumps(history)


@pytest.mark.parametrize(("args", "message"), [
    (["executions", "describe", "arn:aws:states:us-east-1:123456789012:execution:x:none"],
     "sm: error: ExecutionDoesNotExist: Execution Does Not Exist: "
     "'arn:aws:states:us-east-1:123456789012:execution:x:none'"),
    (["task", "success", "garbage"], "sm: error: InvalidToken: Invalid Token: 'garbage'"),
    (["stop", "arn:aws:states:us-east-1:123456789012:execution:x:none"],
     "sm: error: ExecutionDoesNotExist: Execution Does Not Exist: "
     "'arn:aws:states:us-east-1:123456789012:execution:x:none'"),
])
def test_cli_errors_are_one_line(db: str, tmp_path: Path, args: list[str], message: str) -> None:
    done = sm(*args, "--db", db, env=environment(tmp_path, "errors"), check=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [message]


def test_unreadable_database_is_one_line(tmp_path: Path) -> None:
    garbage = tmp_path / "not-a.db"
    garbage.write_bytes(b"this is not a database" * 100)
    done = sm("executions", "list", "--db", str(garbage), env=environment(tmp_path, "x"), check=False)
    assert done.returncode == 2
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("sm: error: database: ")
    assert garbage.read_bytes() == b"this is not a database" * 100


def test_sm_run_db_persists(tmp_path: Path) -> None:
    db = str(tmp_path / "run.db")
    env = environment(tmp_path, "run")
    done = sm("run", str(FLOWS / "waits.yaml"), "--db", db, "--input", '{"seconds": 0}', env=env)
    assert json.loads(done.stdout) == "done"
    arn = done.stderr.strip().splitlines()[0].removeprefix("execution: ")
    described: Any = json.loads(sm("executions", "describe", arn, "--db", db, "--json", env=env).stdout)
    assert described["status"] == "SUCCEEDED"


def test_three_workers_three_hundred_executions_one_killed(backend: Backend, db: str,
                                                           tmp_path: Path) -> None:
    if backend.kind != "postgres":
        pytest.skip("many workers on many hosts is the PostgreSQL case (SQLite: see the crash test)")
    env = environment(tmp_path, "many")
    env["SM_CRASH_SLEEP"] = "0.005"
    service = Service(db)
    arns = [service.start(FLOWS / "three.yaml", {"id": f"e{i}"}, name=f"e{i}")["executionArn"]
            for i in range(300)]
    command = [sys.executable, "-m", "cli", "worker", "--db", db, "--lease", "3", "--poll", "0.05"]
    workers = [subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL) for _ in range(3)]
    try:
        deadline = time.monotonic() + 120
        while len(service.list(status="SUCCEEDED")) < 100 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers[0].send_signal(signal.SIGKILL)  # midway
        workers[0].wait()
        in_flight_at_kill: set[str] = set()
        for arn in arns:
            if service.describe(arn)["status"] == "RUNNING":
                in_flight_at_kill |= in_flight(service, arn)
        while len(service.list(status="SUCCEEDED")) < 300 and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        for worker in workers[1:]:
            worker.send_signal(signal.SIGTERM)
        for worker in workers[1:]:
            worker.wait(timeout=60)
    assert len(service.list(status="SUCCEEDED")) == 300
    assert [w.returncode for w in workers[1:]] == [0, 0]  # SIGTERM: a clean stop
    counts: dict[str, int] = {}
    for name in Path(env["SM_CRASH_LOG"]).read_text().split():
        counts[name] = counts.get(name, 0) + 1
    assert len(counts) == 900
    twice = {name for name, n in counts.items() if n > 1}
    assert twice <= in_flight_at_kill, f"completed tasks ran again: {twice - in_flight_at_kill}"
    service.close()
