"""``sm executions|stop|redrive|task`` as a new user meets them: a mistyped --db path and
a malformed ARN are named, one-line errors (issue 12 item 9), and nothing is written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ARN = "arn:aws:states:us-east-1:123456789012:execution:hello:e-1"
TOKEN = "0b7c3a3e-1111-4222-8333-944455556666"


@pytest.mark.parametrize("args", [
    ("executions", "list"),
    ("executions", "describe", ARN),
    ("executions", "history", ARN),
    ("executions", "map-runs", ARN),
    ("stop", ARN),
    ("redrive", ARN),
    ("task", "success", TOKEN, "--output", "{}"),
    ("task", "heartbeat", TOKEN),
])
def test_a_missing_database_is_an_error_and_nothing_is_created(sm, tmp_path: Path,
                                                                 args: tuple[str, ...]) -> None:
    # a mistyped --db must not answer "ExecutionDoesNotExist" (or an empty list) from a new,
    # empty database it has just created
    missing = tmp_path / "typo" / "executions.db"
    result = sm(*args, "--db", missing)
    assert result.returncode == 2, result
    [line] = result.stderr.splitlines()
    assert line.startswith("sm: error: database: ") and str(missing) in line
    assert not missing.parent.exists()


@pytest.mark.parametrize("args", [
    ("executions", "describe", "order-17"),
    ("executions", "history", "arn:aws:states:us-east-1:123456789012:stateMachine:hello"),
    ("stop", "not-an-arn"),
    ("redrive", "arn:aws:lambda:us-east-1:123456789012:function:f"),
])
def test_a_malformed_arn_is_invalid_arn(sm, tmp_path: Path, definitions: Path,
                                        args: tuple[str, ...]) -> None:
    # AWS DescribeExecution, GetExecutionHistory, StopExecution, RedriveExecution: a string
    # that is not an execution ARN fails with InvalidArn, not ExecutionDoesNotExist
    db = tmp_path / "executions.db"
    started = sm("start", definitions / "hello.yaml", "--db", db, "--json")
    assert started.returncode == 0, started.stderr
    assert json.loads(started.stdout)["executionArn"].startswith("arn:aws:states:")
    result = sm(*args, "--db", db)
    assert result.returncode == 1, result
    [line] = result.stderr.splitlines()
    assert line.startswith("sm: error: InvalidArn: Invalid Arn: "), line


def test_the_terminal_table_shows_whole_arns(sm, sm_tty, tmp_path: Path, definitions: Path) -> None:
    # a user copies the ARN from `sm executions list` on a terminal: it must not be cut
    db = tmp_path / "executions.db"
    started = sm("start", definitions / "hello.yaml", "--db", db, "--name", "order-17", "--json")
    arn = json.loads(started.stdout)["executionArn"]
    code, screen, _ = sm_tty("executions", "list", "--db", db)
    assert code == 0
    assert "…" not in screen
    last_column = "".join(line.split("│")[-2].strip() for line in screen.splitlines()
                          if line.count("│") > 2)  # executionArn, folded over its rows
    assert last_column == arn


@pytest.mark.parametrize("args", [
    ("start", "{definitions}/hello.yaml", "--input", "nope"),
    ("run", "{definitions}/hello.yaml", "--input", "{nope"),
    ("task", "success", TOKEN, "--output", "nope"),
])
def test_bad_json_is_one_line_and_exit_2(sm, tmp_path: Path, definitions: Path,
                                         args: tuple[str, ...]) -> None:
    db = tmp_path / "executions.db"
    sm("start", definitions / "hello.yaml", "--db", db)  # the database exists
    result = sm(*(a.replace("{definitions}", str(definitions)) for a in args), "--db", db)
    assert result.returncode == 2, result
    [line] = result.stderr.splitlines()
    assert line.startswith("sm: error: ") and "not valid JSON" in line, line


@pytest.mark.parametrize("name", ["a/b", "has space", "x" * 81, "a:b", ""])
def test_an_invalid_execution_name_is_invalid_name(sm, tmp_path: Path, definitions: Path,
                                                   name: str) -> None:
    # AWS StartExecution: 1-80 characters, no whitespace, no / : and other listed characters;
    # a "/" would even make the ARN look like a Map Run child's
    db = tmp_path / "executions.db"
    result = sm("start", definitions / "hello.yaml", "--db", db, "--name", name)
    assert result.returncode == 1, result
    assert result.stderr.splitlines() == [f"sm: error: InvalidName: Invalid Name: '{name}'"]
    listed = sm("executions", "list", "--db", db, "--json")
    assert json.loads(listed.stdout) == {"executions": []}


@pytest.mark.parametrize("machine", ["helo", "arn:aws:states:us-east-1:123456789012:stateMachine:helo"])
def test_listing_an_unknown_machine_is_state_machine_does_not_exist(sm, tmp_path: Path,
                                                                    definitions: Path,
                                                                    machine: str) -> None:
    # AWS ListExecutions: an unknown stateMachineArn is StateMachineDoesNotExist; a typo must
    # not look like "no executions"
    db = tmp_path / "executions.db"
    sm("start", definitions / "hello.yaml", "--db", db)
    assert sm("executions", "list", "--db", db, "--machine", "hello").stdout.count("\n") == 1
    result = sm("executions", "list", "--db", db, "--machine", machine)
    assert result.returncode == 1, result
    assert result.stderr.splitlines() == [
        f"sm: error: StateMachineDoesNotExist: State Machine Does Not Exist: '{machine}'"]


def test_stopping_an_ended_execution_says_so(sm, tmp_path: Path, definitions: Path) -> None:
    # StopExecution of an ended execution changes nothing: the terminal must not say "stopped"
    db = tmp_path / "executions.db"
    ran = sm("run", definitions / "hello.yaml", "--db", db, "--input", '{"name": "kim"}')
    assert ran.returncode == 0, ran.stderr
    [arn] = [line.split()[-1] for line in ran.stderr.splitlines() if line.startswith("execution: ")]
    result = sm("stop", arn, "--db", db)
    assert result.returncode == 0, result
    assert not result.stdout.startswith("stopped")
    assert "SUCCEEDED" in result.stdout
    described = json.loads(sm("executions", "describe", arn, "--db", db, "--json").stdout)
    assert described["status"] == "SUCCEEDED"


def test_run_with_a_database_names_the_waiting_token_and_how_to_answer_it(tmp_path: Path,
                                                                          definitions: Path) -> None:
    # sm run --db on a callback machine: the token is printed on stderr with the command that
    # answers it, and answering it from another process ends the run (issue 12 item 5)
    import os
    import queue
    import re
    import subprocess
    import sys
    import threading

    db = tmp_path / "flow.db"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    run = subprocess.Popen(
        [sys.executable, "-m", "statemachine.cli", "run", str(definitions / "human_approval.yaml"),
         "--db", str(db), "--input", '{"expenseId": "E-1", "amount": 120, "reviewer": "kim"}'],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    stream = run.stderr
    assert stream is not None

    def read() -> None:
        for line in stream:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        seen, token = "", None
        while token is None:
            line = lines.get(timeout=60)  # queue.Empty: nothing announced the token in 60 s
            seen += line
            found = re.search(r"RequestApproval waits for a callback, task token (\S+)", line)
            token = found.group(1) if found else None
        assert f"sm task success {token} --output JSON" in lines.get(timeout=10), seen
        answer = subprocess.run(
            [sys.executable, "-m", "statemachine.cli", "task", "success", token, "--db", str(db),
             "--output", '{"approvedBy": "kim"}'], capture_output=True, text=True, timeout=60, env=env)
        assert answer.returncode == 0, answer.stderr
        assert run.stdout is not None
        run.wait(timeout=60)
        out = run.stdout.read()
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
        for pipe in (run.stdout, run.stderr):
            if pipe is not None:
                pipe.close()
    assert run.returncode == 0
    assert json.loads(out) == {"expenseId": "E-1", "status": "APPROVED", "approvedBy": "kim"}


def test_a_lone_surrogate_in_an_output_is_printed_escaped(sm, tmp_path: Path) -> None:
    # `sm run` prints such an output as "\ud800" (no UTF-8 text holds the character); the
    # durable commands printed it raw, and the encoding error ended them with exit 2
    flow = tmp_path / "surrogate.json"
    flow.write_text(json.dumps({"StartAt": "A", "States": {
        "A": {"Type": "Pass", "Result": {"s": "a\ud800b"}, "End": True}}}))
    db = tmp_path / "executions.db"
    ran = sm("run", flow, "--db", db, "--input", "{}")
    assert ran.returncode == 0, ran
    assert json.loads(ran.stdout) == {"s": "a\ud800b"}
    assert "\\ud800" in ran.stdout
    [arn] = [line.split(": ", 1)[1] for line in ran.stderr.splitlines()
             if line.startswith("execution: ")]
    for args in (("run", flow, "--db", db, "--input", "{}", "--json"),
                 ("executions", "describe", arn, "--db", db, "--json")):
        result = sm(*args)
        assert result.returncode == 0, result
        assert json.loads(json.loads(result.stdout)["output"]) == {"s": "a\ud800b"}
    history = sm("executions", "history", arn, "--db", db, "--json")
    assert history.returncode == 0, history
    last = json.loads(history.stdout)["events"][-1]
    assert json.loads(last["executionSucceededEventDetails"]["output"]) == {"s": "a\ud800b"}


def test_an_interrupted_run_with_a_database_leaves_the_execution_to_any_worker(
        tmp_path: Path) -> None:
    # Ctrl-C of `sm run --db` says "the execution stays resumable: sm worker --db ...": the
    # run's claim on it goes with it, so a worker (even `--until-idle`) takes it up at once,
    # not when the lease lapses (30 s later: `--until-idle` had found nothing to do)
    import os
    import signal
    import subprocess
    import sys
    import time
    from datetime import UTC, datetime

    from statemachine.durable import SqliteStore

    flow = tmp_path / "waits.json"  # waits slept in process (under --park-after): claimed
    flow.write_text(json.dumps({"StartAt": "W0", "States": {
        **{f"W{n}": {"Type": "Wait", "Seconds": 1, "Next": f"W{n + 1}"} for n in range(20)},
        "W20": {"Type": "Succeed"}}}))
    db = tmp_path / "flow.db"
    run = subprocess.Popen([sys.executable, "-m", "statemachine.cli", "run", str(flow), "--db",
                            str(db)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           stdin=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while True:  # claimed
            assert time.monotonic() < deadline, "the run never claimed its execution"
            time.sleep(0.2)
            if db.exists():
                store = SqliteStore(db)
                try:
                    [record] = store.executions() or [None]
                    if record is not None and store.lease(record.arn) is not None:
                        break
                finally:
                    store.close()
        time.sleep(1.5)  # a wait or two
        os.killpg(run.pid, signal.SIGINT)  # Ctrl-C on a terminal
        _, stderr = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
            run.communicate()
    assert "the execution stays resumable" in stderr, stderr
    store = SqliteStore(db)
    try:
        assert store.execution(record.arn).status == "RUNNING"  # type: ignore[union-attr]
        [claim] = store.claim_due("another-worker", now=datetime.now(UTC), lease_seconds=30)
        assert claim.lease.execution_arn == record.arn
    finally:
        store.close()
