"""Bad logging settings (``--log-file``, ``SM_LOG_LEVEL``, ``SM_LOG_INCLUDE_DATA``,
``SM_LOG_FILE``) are refused before anything runs, with a one-line error naming the setting:
never a traceback, a hang, or an execution stuck RUNNING."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import statemachine
from statemachine import LoggingConfiguration

FLOW = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}


def sm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "statemachine.cli", *args], capture_output=True,
                          text=True, timeout=60, check=False, env={**os.environ, **(env or {})})


@pytest.fixture
def flow(tmp_path: Path) -> Path:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(FLOW))
    return path


def assert_named_error(result: subprocess.CompletedProcess[str], *names: str) -> None:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("sm: error: "), result.stderr
    for name in names:
        assert name in result.stderr


@pytest.mark.parametrize("value", ["maybe", "2", "enabled"])
def test_include_data_variable_takes_a_yes_or_no(value: str) -> None:
    with pytest.raises(ValueError, match="SM_LOG_INCLUDE_DATA"):
        LoggingConfiguration.from_environment({"SM_LOG_LEVEL": "ALL", "SM_LOG_INCLUDE_DATA": value})


@pytest.mark.parametrize(("value", "included"), [("1", True), ("true", True), ("YES", True), ("on", True),
                                                 ("0", False), ("false", False), ("no", False), ("", False)])
def test_include_data_variable_values(value: str, included: bool) -> None:
    config = LoggingConfiguration.from_environment({"SM_LOG_LEVEL": "ALL", "SM_LOG_INCLUDE_DATA": value})
    assert config is not None and config.include_execution_data is included


def test_level_variable_error_names_the_variable() -> None:
    with pytest.raises(ValueError, match="SM_LOG_LEVEL"):
        LoggingConfiguration.from_environment({"SM_LOG_LEVEL": "verbose"})


def test_sm_run_refuses_a_bad_include_data_variable(flow: Path) -> None:
    result = sm("run", str(flow), "--input", "{}", env={"SM_LOG_LEVEL": "ALL", "SM_LOG_INCLUDE_DATA": "maybe"})
    assert_named_error(result, "SM_LOG_INCLUDE_DATA", "maybe")


def test_a_folder_is_not_a_log_destination(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="folder"):
        LoggingConfiguration("ALL", destination=tmp_path)


def test_sm_run_log_file_that_cannot_be_written(flow: Path, tmp_path: Path) -> None:
    result = sm("run", str(flow), "--input", "{}", "--log-file", str(tmp_path))
    assert_named_error(result, str(tmp_path))
    result = sm("run", str(flow), "--input", "{}", env={"SM_LOG_LEVEL": "ALL", "SM_LOG_FILE": str(tmp_path)})
    assert_named_error(result, str(tmp_path))


def test_sm_run_db_checks_the_log_file_before_it_starts(flow: Path, tmp_path: Path) -> None:
    db = tmp_path / "x.db"
    result = sm("run", str(flow), "--db", str(db), "--input", "{}", "--log-file", str(tmp_path))
    assert_named_error(result, str(tmp_path))
    assert "execution:" not in result.stderr  # nothing was stored


def test_sm_serve_refuses_bad_log_variables(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn", reason="sm serve needs the server extra")
    db = str(tmp_path / "s.db")
    for env, names in [({"SM_LOG_LEVEL": "verbose"}, ("SM_LOG_LEVEL", "VERBOSE")),
                       ({"SM_LOG_LEVEL": "ALL", "SM_LOG_INCLUDE_DATA": "maybe"}, ("SM_LOG_INCLUDE_DATA",)),
                       ({"SM_LOG_LEVEL": "ALL", "SM_LOG_FILE": str(tmp_path)}, (str(tmp_path),))]:
        result = sm("serve", "--db", db, "--port", "0", env=env)
        assert_named_error(result, *names)


def test_log_file_alone_keeps_the_level_of_the_environment(flow: Path, tmp_path: Path) -> None:
    """``--log-level`` defaults to $SM_LOG_LEVEL (sm run --help), also beside --log-file or
    --log-include-data; ALL only when neither sets a level."""
    flow.write_text(json.dumps({"StartAt": "F", "States": {"F": {"Type": "Fail", "Error": "Bad"}}}))
    log = tmp_path / "run.log"
    result = sm("run", str(flow), "--input", "{}", "--log-file", str(log), "--log-include-data",
                env={"SM_LOG_LEVEL": "FATAL"})
    assert result.returncode == 1, result.stderr
    assert [json.loads(line)["type"] for line in log.read_text().splitlines()] == ["ExecutionFailed"]
    log.unlink()
    result = sm("run", str(flow), "--input", "{}", "--log-file", str(log), env={"SM_LOG_LEVEL": ""})
    assert [json.loads(line)["type"] for line in log.read_text().splitlines()] == [
        "ExecutionStarted", "FailStateEntered", "ExecutionFailed"]


def test_telemetry_without_the_otel_extra_says_what_to_install() -> None:
    """A user who forgot the extra gets an ImportError naming it, not a bare
    "No module named 'opentelemetry'" from deep inside the package."""
    code = ("import sys; sys.modules['opentelemetry'] = None\n"
            "import statemachine\n"
            "try:\n    statemachine.Telemetry\n"
            "except ImportError as exc:\n    print('ImportError:', exc)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    assert "ImportError:" in result.stdout and "pip install 'statemachine-asl[otel]'" in result.stdout


class FullDisk(io.StringIO):
    def write(self, text: str) -> int:
        raise OSError(28, "No space left on device")


def test_a_log_that_fails_mid_run_never_fails_the_execution(capsys: pytest.CaptureFixture[str]) -> None:
    """AWS: logging is a side channel; a destination that stops accepting lines (disk full)
    costs the lines, said once on stderr, never the execution."""
    machine = statemachine.load(FLOW)
    execution = machine.run({"k": 1}, logging=LoggingConfiguration("ALL", destination=FullDisk()))
    assert execution.status == "SUCCEEDED"
    err = capsys.readouterr().err
    assert err.count("No space left on device") == 1 and "Traceback" not in err


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs Linux's /dev/full")
def test_sm_run_with_a_full_log_file_still_runs(flow: Path) -> None:
    result = sm("run", str(flow), "--input", '{"k": 1}', "--log-file", "/dev/full")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"k": 1}
    assert "No space left on device" in result.stderr and "Traceback" not in result.stderr


def test_a_worker_refuses_a_bad_log_level_at_construction(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """Library users get the error once, not a worker that retries every execution forever."""
    from statemachine.durable import open_store
    from statemachine.durable.worker import Worker

    monkeypatch.setenv("SM_LOG_LEVEL", "bogus")
    store = open_store(str(tmp_path / "sm.db"))
    try:
        with pytest.raises(ValueError, match="SM_LOG_LEVEL"):
            Worker(store, log=lambda _: None)
        Worker(store, observability=[], log=lambda _: None)  # explicit settings: env not read
    finally:
        store.close()
