"""The example workflows in definitions/: each one is described on its first line, validates,
and runs (with virtual time) to the output its documentation promises."""

from __future__ import annotations

import hashlib
import itertools
import json
import pickle
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine.validation import check

DEFINITIONS = Path(__file__).resolve().parents[1] / "definitions"
FILES = sorted(DEFINITIONS.glob("*.yaml"))

ORDER = {
    "orderId": "7",
    "card": "4242-4242-4242-4242",
    "address": "1 Main St",
    "lines": [
        {"sku": "book", "quantity": 2, "unitPrice": 12.5},
        {"sku": "pen", "quantity": 1, "unitPrice": 3},
    ],
}
LARGE_ORDER = {"orderId": "A-2", "lines": [{"sku": "lamp", "quantity": 3, "unitPriceCents": 4500}]}

#: Examples written for AWS, run locally through a resource map of stand-ins.
RESOURCE_MAPS = {
    "aws_signup.yaml": DEFINITIONS / "local" / "aws_signup.resources.yaml",
    "merchant_onboarding.yaml": DEFINITIONS / "local" / "merchant_onboarding.resources.yaml",
}
#: definitions/local/signup.py documents the account id: "acct-" + sha256(lower-case email)[:8]
ANN_ACCOUNT = "acct-" + hashlib.sha256(b"ann@example.com").hexdigest()[:8]

INPUTS = DEFINITIONS / "inputs"
README = DEFINITIONS.parent / "README.md"


def documented_run(path: Path) -> tuple[list[str], Any, Any]:
    """What a definition's header comment documents: the ``# Try it:`` command (argv after
    ``sm``), the ``# Answer:`` a callback gets (or None) and the ``# Output:`` (inline JSON, or
    indented JSON on the comment lines below it)."""
    lines = path.read_text(encoding="utf-8").splitlines()
    command = answer = None
    output: list[str] = []
    for index, line in enumerate(lines):
        if line.startswith("# Try it: sm "):
            command = shlex.split(line.removeprefix("# Try it: sm "))
        elif line.startswith("# Answer: "):
            answer = json.loads(line.removeprefix("# Answer: "))
        elif line.startswith("# Output:"):
            output = [line.removeprefix("# Output:")]
            output += [more[1:] for more in itertools.takewhile(
                lambda text: text.startswith("#   "), lines[index + 1:])]
    assert command is not None, f"{path.name}: no '# Try it: sm run ...' line"
    assert output, f"{path.name}: no '# Output:' line"
    return command, answer, json.loads("\n".join(output))


def input_file(path: Path) -> Path:
    return INPUTS / f"{path.stem}.input.json"


#: More documented runs than the one in each file's header: (file, input, expected output).
SUCCEEDS: list[tuple[str, Any, Any]] = [
    *[
        (name, LARGE_ORDER, {
            "orderId": "A-2",
            "service": "free",
            "subtotalCents": 13500,
            "shippingCents": 0,
            "totalCents": 13500,
        })
        for name in ("order_routing.yaml", "order_routing_jsonata.yaml")
    ],
]


@pytest.fixture(autouse=True)
def fresh_handlers() -> Iterator[None]:
    """definitions/handlers is imported as ``handlers``: keep other tests' modules of that name
    (and ours) from leaking into each other through sys.modules."""
    saved = {
        k: sys.modules.pop(k)
        for k in list(sys.modules)
        if k == "handlers" or k.startswith("handlers.")
    }
    yield
    for key in [k for k in sys.modules if k == "handlers" or k.startswith("handlers.")]:
        del sys.modules[key]
    sys.modules.update(saved)


def _run(name: str, data: Any) -> statemachine.Execution:
    machine = statemachine.load(DEFINITIONS / name, resource_map=RESOURCE_MAPS.get(name))
    machine.compiled = pickle.loads(pickle.dumps(machine.compiled))  # compiled machines ship as data
    execution = machine.run(data, virtual_time=True)
    assert execution.status != "RUNNING"
    return execution


def _entered(execution: statemachine.Execution) -> list[str]:
    return [
        e["stateEnteredEventDetails"]["name"]
        for e in execution.history
        if e["type"].endswith("StateEntered")
    ]


def test_there_are_examples_of_every_kind() -> None:
    assert len(FILES) >= 8


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_definition_is_described_and_valid(path: Path) -> None:
    first, second = path.read_text(encoding="utf-8").splitlines()[:2]
    assert first.startswith("# ") and len(first) > 30, "first line: a one-line description"
    assert not second.startswith("#"), "the description is one line"
    errors = [d.format() for d in check(path) if d.severity == "error"]
    assert errors == []


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_definition_has_an_input_file_and_a_readme_line(path: Path) -> None:
    command, _, _ = documented_run(path)
    assert input_file(path).is_file(), f"{path.name} needs {input_file(path)}"
    assert command[:2] == ["run", f"definitions/{path.name}"]
    assert f"@definitions/inputs/{path.stem}.input.json" in command
    readme_line = "sm " + shlex.join(command)
    assert readme_line in README.read_text(encoding="utf-8"), f"README: add `{readme_line}`"


@pytest.mark.parametrize("path", [p for p in FILES if documented_run(p)[1] is None],
                         ids=lambda p: p.name)
def test_each_definition_runs_its_input_file_to_the_documented_output(path: Path) -> None:
    _, _, expected = documented_run(path)
    execution = _run(path.name, json.loads(input_file(path).read_text(encoding="utf-8")))
    assert (execution.status, execution.error, execution.cause) == ("SUCCEEDED", None, None)
    assert execution.output == expected


@pytest.mark.parametrize("path", [p for p in FILES if documented_run(p)[1] is None],
                         ids=lambda p: p.name)
def test_the_readme_command_prints_the_documented_output(path: Path) -> None:
    """The `# Try it` line, run as a user runs it (from the repository root)."""
    command, _, expected = documented_run(path)
    result = subprocess.run(
        [sys.executable, "-m", "statemachine.cli", *command], cwd=DEFINITIONS.parent,
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == expected


@pytest.mark.parametrize("path", [p for p in FILES if documented_run(p)[1] is not None],
                         ids=lambda p: p.name)
def test_the_callback_examples_give_the_documented_output_once_answered(path: Path) -> None:
    _, answer, expected = documented_run(path)
    machine = statemachine.load(path, resource_map=RESOURCE_MAPS.get(path.name))
    execution = machine.start(json.loads(input_file(path).read_text(encoding="utf-8")))
    execution.send_task_success(execution.wait_for_task_token(timeout=30), answer)
    assert execution.wait(30).status == "SUCCEEDED"
    assert execution.output == expected


@pytest.mark.parametrize("path", [p for p in FILES if documented_run(p)[1] is not None],
                         ids=lambda p: p.name)
def test_the_readme_says_what_to_type_for_each_callback_example(path: Path) -> None:
    """sm run prompts "type its output as JSON": the README tells a new user which JSON, as the
    header's `# Answer:` line does (without it the run goes on with a wrong answer and fails)."""
    _, answer, _ = documented_run(path)
    assert json.dumps(answer) in README.read_text(encoding="utf-8"), f"README: say to type {json.dumps(answer)}"


@pytest.mark.parametrize(
    ("name", "data", "expected"), SUCCEEDS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(SUCCEEDS)]
)
def test_other_documented_runs(name: str, data: Any, expected: Any) -> None:
    execution = _run(name, data)
    assert (execution.status, execution.error, execution.cause) == ("SUCCEEDED", None, None)
    assert execution.output == expected


def test_jsonata_twins_have_the_same_query_language_split() -> None:
    jsonpath = statemachine.load(DEFINITIONS / "order_routing.yaml").definition
    jsonata = statemachine.load(DEFINITIONS / "order_routing_jsonata.yaml").definition
    assert "QueryLanguage" not in jsonpath and jsonata["QueryLanguage"] == "JSONata"
    assert list(jsonpath["States"]) == list(jsonata["States"])


def test_aws_signup_rejects_a_bad_address_with_the_lambda_error_document() -> None:
    execution = _run("aws_signup.yaml", {"email": "nope"})
    assert (execution.status, execution.error) == ("FAILED", "SignupRejected")
    document = json.loads(execution.cause)
    assert (document["errorType"], document["errorMessage"]) == ("InvalidEmailError", "'nope' is not an email address")
    assert _entered(execution) == ["ValidateUser", "Rejected"]


def test_aws_signup_needs_its_stand_ins_to_run_locally() -> None:
    with pytest.raises(statemachine.ResourceNotFoundError, match="sqs:sendMessage"):
        statemachine.load(DEFINITIONS / "aws_signup.yaml")


def test_etl_fails_when_no_row_survives() -> None:
    execution = _run("etl.yaml", {"table": "t", "csv": "id,name,amount\n1,a,x"})
    assert (execution.status, execution.error) == ("FAILED", "NoValidRows")
    assert execution.cause == "Every row of the batch was rejected by the transform step."


@pytest.mark.parametrize(
    ("change", "error", "path"),
    [
        (
            {"card": "4000-0000-0000-0002"},
            "PaymentDeclined",
            ["ReserveInventory", "ChargePayment", "ReleaseInventory", "OrderFailed"],
        ),
        (
            {"address": ""},
            "AddressNotFound",
            [
                "ReserveInventory",
                "ChargePayment",
                "ShipOrder",
                "RefundPayment",
                "ReleaseInventory",
                "OrderFailed",
            ],
        ),
        (
            {"lines": [{"sku": "x", "quantity": 500, "unitPrice": 1}]},
            "OutOfStock",
            ["ReserveInventory", "OrderFailed"],
        ),
    ],
)
def test_order_saga_compensates_in_reverse_order(
    change: dict[str, Any], error: str, path: list[str]
) -> None:
    execution = _run("order_saga.yaml", {**ORDER, **change})
    assert (execution.status, execution.error) == ("FAILED", error)
    assert _entered(execution) == path
    assert json.loads(execution.cause)["errorType"] == error  # the Lambda-shaped error document


def test_api_poller_retries_each_flaky_answer_with_backoff() -> None:
    execution = _run("api_poller.yaml", {"report": "q3", "pollsUntilReady": 3, "flakyAnswers": 2})
    assert execution.status == "SUCCEEDED"
    types = [e["type"] for e in execution.history]
    assert types.count("TaskFailed") == 3 * 2  # two 503s before each of the three polls
    assert types.count("WaitStateEntered") == 2


def _start_approval(
    monkeypatch: pytest.MonkeyPatch, outbox: Path
) -> tuple[statemachine.Execution, str]:
    monkeypatch.setenv("APPROVAL_OUTBOX", str(outbox))
    execution = statemachine.load(DEFINITIONS / "human_approval.yaml").start(
        {"expenseId": "E-1", "amount": 120, "reviewer": "kim"}
    )
    requests = outbox / "approval-requests.jsonl"
    deadline = time.monotonic() + 30
    # The token exists as soon as the task starts; the request is sent a moment later.
    while (
        not (requests.exists() and requests.read_text().endswith("\n"))
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    (token,) = execution.task_tokens
    request = json.loads(requests.read_text())
    assert request == {"taskToken": token, "expenseId": "E-1", "amount": 120, "reviewer": "kim"}
    return execution, token


def test_human_approval_waits_for_the_callback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    execution, token = _start_approval(monkeypatch, tmp_path)
    assert execution.status == "RUNNING"
    execution.send_task_success(token, {"approvedBy": "kim"})
    execution.wait(30)
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"expenseId": "E-1", "status": "APPROVED", "approvedBy": "kim"}


def test_human_approval_rejection(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    execution, token = _start_approval(monkeypatch, tmp_path)
    execution.send_task_failure(token, "Rejected", "over budget")
    execution.wait(30)
    assert execution.output == {"expenseId": "E-1", "status": "REJECTED", "reason": "over budget"}


def test_validating_the_folder_skips_the_input_files() -> None:
    """`sm validate definitions/` checks the definitions only, not inputs/*.input.json."""
    result = subprocess.run(
        [sys.executable, "-m", "statemachine.cli", "validate", "definitions/"],
        cwd=DEFINITIONS.parent, stdin=subprocess.DEVNULL, capture_output=True, text=True,
        timeout=120, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(FILES)} files checked: {len(FILES)} valid" in result.stdout + result.stderr
    assert ".input.json" not in result.stdout + result.stderr
