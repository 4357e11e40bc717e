"""`sm run`: output on stdout and exit 0, error and cause on stderr and exit 1, one-line
errors and exit 2 for bad input and invalid definitions, --json, --virtual-time, Ctrl-C."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

HELLO = "definitions/hello.yaml"

FAILING = """\
StartAt: Boom
States:
  Boom:
    Type: Fail
    Error: Custom.Error
    Cause: it broke
"""

LONG_WAIT = """\
StartAt: Nap
States:
  Nap:
    Type: Wait
    Seconds: 86400
    Next: Done
  Done:
    Type: Pass
    Result: {woke: true}
    End: true
"""


@pytest.fixture
def failing(tmp_path: Path) -> Path:
    path = tmp_path / "failing.yaml"
    path.write_text(FAILING)
    return path


def test_success_prints_output_json(sm) -> None:
    result = sm("run", HELLO, "--input", '{"name": "world"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"greeting": "Hello, world!"}
    assert result.stderr == ""


def test_input_from_file_and_stdin(sm, tmp_path) -> None:
    data = tmp_path / "input.json"
    data.write_text('{"name": "file"}')
    from_file = sm("run", HELLO, "--input", f"@{data}")
    assert json.loads(from_file.stdout) == {"greeting": "Hello, file!"}
    from_stdin = sm("run", HELLO, "--input", "-", stdin='{"name": "pipe"}')
    assert json.loads(from_stdin.stdout) == {"greeting": "Hello, pipe!"}


def test_failure_prints_error_and_cause_on_stderr(sm, failing) -> None:
    result = sm("run", failing)
    assert result.returncode == 1
    assert result.stdout == ""
    assert "error: Custom.Error" in result.stderr.splitlines()
    assert "cause: it broke" in result.stderr.splitlines()


def test_json_reports_status_output_error_cause_and_arn(sm, failing) -> None:
    ok = sm("run", HELLO, "--json", "--input", '{"name": "json"}')
    assert ok.returncode == 0
    report = json.loads(ok.stdout)
    assert report["status"] == "SUCCEEDED" and report["output"] == {"greeting": "Hello, json!"}
    assert report["error"] is None and report["cause"] is None
    assert (
        report["executionArn"].startswith("arn:aws:states:")
        and ":execution:" in report["executionArn"]
    )
    failed = sm("run", failing, "--json")
    assert failed.returncode == 1
    report = json.loads(failed.stdout)
    assert (report["status"], report["error"], report["cause"]) == (
        "FAILED",
        "Custom.Error",
        "it broke",
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("{not json", "--input is not valid JSON"),
        ("@/nonexistent/input.json", "input file not found: /nonexistent/input.json"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(sm, value: str, message: str) -> None:
    result = sm("run", HELLO, "--input", value)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and message in result.stderr
    assert result.stderr.startswith("sm: error: ")


def test_input_over_the_payload_limit(sm, tmp_path) -> None:
    # AWS: at most 256 KiB of UTF-8; "é" is two bytes, so this is over the limit by one byte.
    text = json.dumps({"name": "a" + "é" * (128 * 1024 - 6)}, ensure_ascii=False)
    assert len(text.encode()) == 256 * 1024 + 1
    data = tmp_path / "big.json"
    data.write_text(text, encoding="utf-8")
    for result in (
        sm("run", HELLO, "--input", f"@{data}"),
        sm("run", HELLO, "--input", "-", stdin=text),
    ):
        assert result.returncode == 2
        assert "262145 bytes, over the 256 KiB (262144 bytes) payload limit" in result.stderr
        assert result.stderr.count("\n") == 1
    data.write_text(text.replace("a", "", 1), encoding="utf-8")  # exactly at the limit: accepted
    assert sm("run", HELLO, "--input", f"@{data}", "--quiet").returncode != 2


def test_binary_input_file_is_refused(sm, tmp_path) -> None:
    data = tmp_path / "input.bin"
    data.write_bytes(b"\xff\xfe\x00garbage")
    result = sm("run", HELLO, "--input", f"@{data}")
    assert result.returncode == 2 and "not UTF-8" in result.stderr


def test_invalid_definition_exits_2_with_validator_messages(sm, tmp_path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text("StartAt: A\nStates:\n  A:\n    Type: Pass\n    Next: Nowhere\n")
    result = sm("run", flow)
    assert result.returncode == 2
    assert f"{flow}:5:" in result.stderr and "unknown-next-target" in result.stderr
    assert "no-terminal-state" in result.stderr  # every problem, not only the first
    assert result.stderr.splitlines()[-1].endswith("invalid definition (2 errors)")


def test_unresolvable_resource_exits_2(sm, tmp_path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        "StartAt: T\nStates:\n  T:\n    Type: Task\n    Resource: python:no_such_module:f\n    End: true\n"
    )
    result = sm("run", flow)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 2  # the problem at its place, then the summary
    first, summary = result.stderr.splitlines()
    assert first.startswith(f"{flow}:5:5: error [unresolved-resource] state 'T'") and "no_such_module" in first
    assert summary.endswith("1 unresolved resource")


def test_virtual_time_skips_waits(sm, tmp_path) -> None:
    flow = tmp_path / "nap.yaml"
    flow.write_text(LONG_WAIT)
    result = sm("run", flow, "--virtual-time", "--json", timeout=60)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["output"] == {"woke": True}
    from datetime import datetime

    elapsed = datetime.fromisoformat(report["stopDate"]) - datetime.fromisoformat(
        report["startDate"]
    )
    assert elapsed.total_seconds() >= 86400  # the clock advanced as if the day had passed


def test_timeout_aborts_the_execution(sm, tmp_path) -> None:
    flow = tmp_path / "nap.yaml"
    flow.write_text(LONG_WAIT)
    result = sm("run", flow, "--timeout", "0.2", "--json", timeout=60)
    assert result.returncode == 1
    assert json.loads(result.stdout)["status"] == "ABORTED"


SLOW_HANDLER = """\
import pathlib, time

def work(event):
    pathlib.Path(event["marker"]).write_text("started")
    time.sleep(30)
    return {"finished": True}
"""


@contextlib.contextmanager
def _sigint_not_ignored() -> Iterator[None]:
    """Processes started in the block get SIGINT's default action, as a terminal's shell has
    it, also when pytest itself was started with SIGINT ignored (a background job of a
    non-interactive shell, as some CI runners start it): an ignored signal stays ignored
    across exec, and bash cannot undo that, so it would ignore the Ctrl-C and run its loop on.
    """
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield  # a handler, not SIG_IGN: exec gives the child the default action
        return
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _reap(process: subprocess.Popen[str]) -> None:
    """After a failure: kill ``process`` (its whole group when it leads one) and wait for it,
    so its pipes are closed here, not as a ResourceWarning in whichever test runs next."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            if os.getpgid(process.pid) == process.pid:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
    process.communicate(timeout=60)


def test_ctrl_c_aborts_cleanly_with_exit_130(tmp_path, repo) -> None:
    (tmp_path / "slow.py").write_text(SLOW_HANDLER)
    flow = tmp_path / "slow.yaml"
    flow.write_text(
        "StartAt: Work\nStates:\n  Work:\n    Type: Task\n    Resource: python:slow:work\n    End: true\n"
    )
    marker = tmp_path / "started"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "statemachine.cli",
            "run",
            str(flow),
            "--json",
            "--input",
            json.dumps({"marker": str(marker)}),
        ],
        cwd=repo,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), process.communicate(timeout=5)
        os.kill(process.pid, signal.SIGINT)
        stdout, stderr = process.communicate(timeout=20)
    finally:
        _reap(process)
    assert process.returncode == -signal.SIGINT, stderr  # a shell: $? 130
    assert "Traceback" not in stderr
    assert json.loads(stdout)["status"] == "ABORTED"
    assert "execution ABORTED" in stderr


def test_ctrl_c_stops_the_shell_loop_that_runs_sm(tmp_path, repo) -> None:
    """The process ends by SIGINT once it has aborted the execution (README): a shell that
    got the same Ctrl-C (a terminal signals the whole foreground group) sees its child killed
    by SIGINT and ends its loop; an exit(130) would have let the loop run on."""
    (tmp_path / "slow.py").write_text(SLOW_HANDLER.replace(
        'pathlib.Path(event["marker"]).write_text("started")',
        'open(event["marker"], "a").write(f"{__import__(\'os\').getpid()}\\n")'))
    flow = tmp_path / "slow.yaml"
    flow.write_text("StartAt: Work\nStates:\n  Work:\n    Type: Task\n    Resource: python:slow:work\n    End: true\n")
    marker = tmp_path / "runs"
    command = (f"for i in 1 2 3; do {sys.executable} -m statemachine.cli run {flow} --quiet "
               f"--input '{json.dumps({'marker': str(marker)})}'; echo \"status $?\"; done")
    with _sigint_not_ignored():  # a terminal's shell: Ctrl-C stops it
        shell = subprocess.Popen(["bash", "-c", command], cwd=repo, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not (marker.exists() and marker.read_text().endswith("\n")):
            assert shell.poll() is None and time.monotonic() < deadline, shell.communicate(timeout=5)
            time.sleep(0.02)
        os.killpg(shell.pid, signal.SIGINT)  # Ctrl-C on a terminal: the shell and sm
        stdout, stderr = shell.communicate(timeout=30)
    finally:
        _reap(shell)
    assert len(marker.read_text().splitlines()) == 1, (stdout, stderr)  # no second run
    assert shell.returncode == -signal.SIGINT and "status" not in stdout, (stdout, stderr)
    assert "execution ABORTED" in stderr


def test_python_module_entry_point_matches_sm_script(repo) -> None:
    script = Path(sys.executable).with_name("sm")
    if not script.exists():
        pytest.skip("the sm script is not installed next to this interpreter")
    result = subprocess.run(
        [str(script), "run", HELLO, "--input", '{"name": "sm"}'],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and json.loads(result.stdout) == {"greeting": "Hello, sm!"}


FORGOTTEN_SUFFIX = "StartAt: A\nStates:\n  A:\n    Type: Pass\n    Parameters: {orderId: $.orderId}\n    End: true\n"


def test_sm_run_shows_the_validators_warnings_and_runs(sm, tmp_path) -> None:
    """A forgotten '.$' runs as AWS runs it (the literal text), and `sm run` -- the first
    command a new user tries -- says so instead of staying silent; --quiet hides it."""
    flow = tmp_path / "flow.yaml"
    flow.write_text(FORGOTTEN_SUFFIX)
    result = sm("run", flow, "--input", '{"orderId": "o-1"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"orderId": "$.orderId"}
    assert f"{flow}:5:18: warning [missing-path-suffix]" in result.stderr
    quiet = sm("run", flow, "--quiet", "--input", '{"orderId": "o-1"}')
    assert quiet.returncode == 0 and quiet.stderr == ""


def test_load_keeps_the_warnings(tmp_path) -> None:
    import statemachine

    flow = tmp_path / "flow.yaml"
    flow.write_text(FORGOTTEN_SUFFIX)
    machine = statemachine.load(flow)
    assert [(d.code, d.line, d.column) for d in machine.warnings] == [("missing-path-suffix", 5, 18)]
    assert statemachine.load(Path(__file__).parents[2] / "definitions" / "hello.yaml").warnings == ()


def test_ctrl_c_stops_a_catastrophic_regex_at_once(tmp_path: Path, repo) -> None:
    """Issue 9 item 2 through a real `sm run` and SIGINT: a regex that backtracks for days
    (re held the GIL; a worker thread left running held up the process's exit)."""
    flow = tmp_path / "regex.json"
    expression = "$match('" + "a" * 46 + "!', /(a|a)+$/)"
    flow.write_text(json.dumps({"QueryLanguage": "JSONata", "StartAt": "P", "States": {
        "P": {"Type": "Pass", "Output": "{% " + expression + " %}", "End": True}}}))
    log = tmp_path / "run.log"  # its PassStateEntered line says the regex is running
    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine.cli", "run", str(flow), "--json",
         "--log-level", "ALL", "--log-file", str(log)],
        cwd=repo, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 120  # a loaded machine may take long to start Python
        while "PassStateEntered" not in (log.read_text() if log.exists() else ""):
            assert process.poll() is None and time.monotonic() < deadline, "the run never began"
            time.sleep(0.05)
        time.sleep(0.2)  # into the regex
        os.kill(process.pid, signal.SIGINT)
        # the regex alone would run for days: ending at all is the point
        stdout, stderr = process.communicate(timeout=30)
    finally:
        _reap(process)
    assert process.returncode == -signal.SIGINT, stderr  # a shell: $? 130
    assert json.loads(stdout)["status"] == "ABORTED"


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_a_bad_handler_thread_setting_is_one_line_and_exit_2(sm, tmp_path, value: str) -> None:
    # A setting of this process, not a failure of the execution's Task (which a Catch could take).
    (tmp_path / "hmod.py").write_text("def f(event):\n    return 1\n")
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps({"StartAt": "T", "States": {"T": {
        "Type": "Task", "Resource": "python:hmod:f", "End": True}}}))
    result = sm("run", str(flow), env={"SM_HANDLER_THREADS": value})
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"sm: error: SM_HANDLER_THREADS must be a positive integer, not {value!r}\n"
    assert sm("run", str(flow), env={"SM_HANDLER_THREADS": "2"}).stdout.strip() == "1"


def test_yaml_piped_on_stdin_is_refused_with_the_way_to_give_yaml(sm) -> None:
    # stdin is JSON (as AWS's input is); YAML input comes from a .yaml file, which the
    # one-line error says
    result = sm("run", HELLO, stdin="name: pipe\n")
    assert result.returncode == 2
    assert "--input @in.yaml" in result.stderr and result.stderr.count("\n") == 1
