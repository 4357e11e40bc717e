"""``sm run`` input sources (issue 10): piped or redirected stdin when --input is not given,
YAML input files (``--input @in.yaml``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import REPO, Runner

HELLO = "definitions/hello.yaml"


def test_piped_stdin_is_the_input_when_no_input_option(sm: Runner) -> None:
    result = sm("run", HELLO, stdin='{"name": "pipe"}')
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"greeting": "Hello, pipe!"}


def test_redirected_file_on_stdin_is_the_input(tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text('{"name": "file"}')
    with source.open() as stdin:
        result = subprocess.run([sys.executable, "-m", "statemachine.cli", "run", HELLO],
                                stdin=stdin, capture_output=True, text=True, cwd=REPO,
                                timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"greeting": "Hello, file!"}


def test_input_option_wins_over_stdin(sm: Runner) -> None:
    result = sm("run", HELLO, "--input", '{"name": "option"}', stdin='{"name": "pipe"}')
    assert json.loads(result.stdout) == {"greeting": "Hello, option!"}


def test_no_stdin_means_empty_object(sm: Runner, tmp_path: Path) -> None:
    echo = tmp_path / "echo.yaml"
    echo.write_text("StartAt: P\nStates:\n  P: {Type: Pass, End: true}\n")
    assert json.loads(sm("run", echo).stdout) == {}  # stdin is /dev/null
    assert json.loads(sm("run", echo, stdin="").stdout) == {}  # an empty pipe


def test_bad_json_on_stdin_is_a_usage_error(sm: Runner) -> None:
    result = sm("run", HELLO, stdin="{name: pipe")
    assert result.returncode == 2
    assert "standard input is not valid JSON" in result.stderr


def test_yaml_input_file(sm: Runner, tmp_path: Path) -> None:
    source = tmp_path / "in.yaml"
    source.write_text("name: yaml\n")
    result = sm("run", HELLO, "--input", f"@{source}")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"greeting": "Hello, yaml!"}


def test_yaml_input_is_read_the_yaml_1_2_way(sm: Runner, tmp_path: Path) -> None:
    source = tmp_path / "in.yml"
    source.write_text("name: yes\ncount: 010\nlist: [1, 2.5, null, true]\n")
    echo = tmp_path / "echo.yaml"
    echo.write_text("StartAt: P\nStates:\n  P: {Type: Pass, End: true}\n")
    result = sm("run", echo, "--input", f"@{source}")
    assert json.loads(result.stdout) == {"name": "yes", "count": 10, "list": [1, 2.5, None, True]}


def test_bad_yaml_input_names_the_file_and_line(sm: Runner, tmp_path: Path) -> None:
    source = tmp_path / "in.yaml"
    source.write_text("a: 1\nb: [1, 2\n")
    result = sm("run", HELLO, "--input", f"@{source}")
    assert result.returncode == 2
    assert f"{source}:" in result.stderr and "not a usable YAML input" in result.stderr


def test_json_file_is_still_json(sm: Runner, tmp_path: Path) -> None:
    source = tmp_path / "in.json"
    source.write_text("name: not json\n")
    result = sm("run", HELLO, "--input", f"@{source}")
    assert result.returncode == 2
    assert "is not valid JSON" in result.stderr
