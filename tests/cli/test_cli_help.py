"""`sm --help`, subcommand help, usage errors, and what start-up imports (no timing asserts:
start-up speed is kept by never importing heavy modules for light commands)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from statemachine.cli.main import build_parser

HEAVY = ("rich", "boto3", "botocore", "httpx", "jsonata", "jsonschema", "transitions", "asyncio")


def _imported(*args: str, full: bool = False) -> set[str]:
    """Modules (top-level names unless ``full``) imported by ``python -X importtime -m
    statemachine.cli ARGS``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "statemachine.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    names = set()
    for line in result.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            names.add(name if full else name.split(".")[0])
    assert names, result.stderr
    return names


def test_main_help_lists_commands_examples_and_exit_codes(sm) -> None:
    result = sm("--help")
    assert result.returncode == 0
    for text in ("validate", "run", "graph", "schema", "examples:", "exit codes:", "130"):
        assert text in result.stdout


@pytest.mark.parametrize("command", ["validate", "run", "graph", "schema"])
def test_each_subcommand_documents_examples_and_exit_codes(sm, command: str) -> None:
    result = sm(command, "--help")
    assert result.returncode == 0
    assert f"usage: sm {command}" in result.stdout
    assert "examples:" in result.stdout and "exit codes:" in result.stdout


def test_usage_errors_exit_2(sm) -> None:
    assert sm().returncode == 2
    no_files = sm("validate")
    assert no_files.returncode == 2 and "FILE" in no_files.stderr
    assert sm("frobnicate").returncode == 2
    bad_timeout = sm("run", "definitions/hello.yaml", "--timeout", "-1")
    assert bad_timeout.returncode == 2 and "greater than 0" in bad_timeout.stderr


def test_version(sm) -> None:
    result = sm("--version")
    assert result.returncode == 0 and result.stdout.startswith("sm ")


def test_help_imports_nothing_heavy() -> None:
    imported = _imported("--help")
    assert not imported & set(HEAVY), imported & set(HEAVY)
    assert "yaml" not in imported


def test_graph_does_not_load_the_runtime() -> None:
    imported = _imported("graph", "definitions/hello.yaml", full=True)
    assert not {name.split(".")[0] for name in imported} & set(HEAVY)
    assert "statemachine.api" not in imported and "statemachine.interpreter" not in imported


def test_run_in_a_pipe_imports_no_rich_and_no_remote_clients() -> None:
    imported = _imported("run", "definitions/hello.yaml", "--input", '{"name": "x"}')
    assert not imported & {"rich", "boto3", "botocore", "httpx"}, imported


def test_run_without_tasks_or_mocks_reads_no_plugin_metadata_and_no_mock_layer() -> None:
    # a machine without Task states never looks a resource up: the entry points (the
    # installed distributions' metadata) wait for the first lookup; the mock layer loads
    # only with --mock-config
    imported = _imported("run", "definitions/hello.yaml", "--input", '{"name": "x"}', full=True)
    assert "importlib.metadata" not in imported
    assert not {name for name in imported if name.startswith("statemachine.testing")}, imported


def test_parser_defaults() -> None:
    args = build_parser().parse_args(["run", "flow.yaml"])
    assert args.input is None and args.timeout is None and not args.virtual_time  # None: stdin or {}
    assert build_parser().parse_args(["validate", "a", "b"]).format == "human"


def _readme() -> str:
    return (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def test_readme_test_command_is_what_ci_runs() -> None:
    command = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest -q"
    ci = (Path(__file__).resolve().parents[2] / ".ci" / "run").read_text(encoding="utf-8")
    assert command in _readme() and command in ci.splitlines()


def test_readme_sm_run_examples_work(sm) -> None:
    commands = [
        shlex.split(line.strip())
        for line in _readme().splitlines()
        if line.strip().startswith("sm run definitions/")
    ]
    assert len(commands) >= 3
    for command in commands:
        result = sm(*command[1:])
        assert result.returncode == 0, (command, result.stderr)
        json.loads(result.stdout)
    routed = sm(
        "run",
        "definitions/order_routing.yaml",
        "--input",
        '{"orderId": "A-1", "lines": [{"sku": "lamp", "quantity": 2, "unitPriceCents": 4500}]}',
    )
    documented = '{"orderId": "A-1", "service": "standard", "subtotalCents": 9000, "shippingCents": 495, "totalCents": 9495}'
    assert f"Both print `{documented}`" in _readme()
    assert json.loads(routed.stdout) == json.loads(documented)
