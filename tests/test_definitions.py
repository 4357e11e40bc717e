"""The example workflows in definitions/: each one is described on its first line, validates,
and runs (with virtual time) to the output its documentation promises."""

from __future__ import annotations

import hashlib
import json
import pickle
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
SALES = {
    "period": "2026-10",
    "orders": [
        {"customer": "ann", "amount": 30},
        {"customer": "bo", "amount": 12.5},
        {"customer": "ann", "amount": 5},
        {"customer": "cy", "amount": 20},
        {"customer": "di", "amount": 1},
    ],
    "stock": [
        {"sku": "lamp", "onHand": 3, "reorderAt": 5},
        {"sku": "desk", "onHand": 9, "reorderAt": 2},
        {"sku": "bulb", "onHand": 0, "reorderAt": 10},
    ],
}
SMALL_ORDER = {"orderId": "A-1", "lines": [{"sku": "lamp", "quantity": 2, "unitPriceCents": 4500}]}
LARGE_ORDER = {"orderId": "A-2", "lines": [{"sku": "lamp", "quantity": 3, "unitPriceCents": 4500}]}

#: Examples written for AWS, run locally through a resource map of stand-ins.
RESOURCE_MAPS = {"aws_signup.yaml": DEFINITIONS / "local" / "aws_signup.resources.yaml"}
#: definitions/local/signup.py documents the account id: "acct-" + sha256(lower-case email)[:8]
ANN_ACCOUNT = "acct-" + hashlib.sha256(b"ann@example.com").hexdigest()[:8]

#: (file, input, expected output) for runs that succeed.
SUCCEEDS: list[tuple[str, Any, Any]] = [
    ("aws_signup.yaml", {"email": "Ann@example.com", "plan": "pro"}, {"status": "ACTIVE", "accountId": ANN_ACCOUNT}),
    ("hello.yaml", {"name": "world"}, {"greeting": "Hello, world!"}),
    (
        "etl.yaml",
        {"table": "sales", "csv": "id,name,amount\n1,alice,10.5\n2,bob,x\n3, carol ,7"},
        {"table": "sales", "rowsLoaded": 2, "total": 17.5, "rejected": ["2"]},
    ),
    (
        "order_saga.yaml",
        ORDER,
        {"orderId": "7", "status": "CONFIRMED", "charged": 28.0, "trackingNumber": "TRK-7"},
    ),
    (
        "fan_out.yaml",
        {
            "thumbnailWidth": 200,
            "images": [
                {"key": "a/cat.jpg", "width": 1000, "height": 800},
                {"key": "dog.png", "width": 400, "height": 300},
            ],
        },
        {
            "count": 2,
            "thumbnails": [
                {
                    "index": 0,
                    "source": "a/cat.jpg",
                    "thumbnail": "thumbnails/cat-200w.jpg",
                    "width": 200,
                    "height": 160,
                },
                {
                    "index": 1,
                    "source": "dog.png",
                    "thumbnail": "thumbnails/dog-200w.png",
                    "width": 200,
                    "height": 150,
                },
            ],
        },
    ),
    (
        "api_poller.yaml",
        {"report": "q3", "pollsUntilReady": 3, "flakyAnswers": 1},
        {"jobId": "job-q3", "polls": 3, "url": "https://reports.example.com/job-q3.csv"},
    ),
    (
        "parallel_report.yaml",
        SALES,
        {
            "title": "Monthly report 2026-10",
            "sales": {"orders": 5, "revenue": 68.5},
            "topCustomers": [
                {"customer": "ann", "spent": 35.0},
                {"customer": "cy", "spent": 20.0},
                {"customer": "bo", "spent": 12.5},
            ],
            "stockAlerts": ["bulb", "lamp"],
        },
    ),
    *[
        (name, order, expected)
        for name in ("order_routing.yaml", "order_routing_jsonata.yaml")
        for order, expected in (
            (
                SMALL_ORDER,
                {
                    "orderId": "A-1",
                    "service": "standard",
                    "subtotalCents": 9000,
                    "shippingCents": 495,
                    "totalCents": 9495,
                },
            ),
            (
                LARGE_ORDER,
                {
                    "orderId": "A-2",
                    "service": "free",
                    "subtotalCents": 13500,
                    "shippingCents": 0,
                    "totalCents": 13500,
                },
            ),
        )
    ],
    (
        "invoice_jsonata.yaml",
        {
            "customer": "ACME",
            "taxRate": 0.2,
            "lines": [
                {"sku": "a", "quantity": 3, "unitPrice": 1.1},
                {"sku": "b", "quantity": 1, "unitPrice": 10},
            ],
        },
        {
            "customer": "ACME",
            "lines": [
                {"line": 1, "sku": "a", "amount": 3.3},
                {"line": 2, "sku": "b", "amount": 10},
            ],
            "net": 13.3,
            "tax": 2.66,
            "total": 15.96,
        },
    ),
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
    names = {path.name for path in FILES}
    assert len(names) >= 8
    documented = {name for name, _, _ in SUCCEEDS} | {"human_approval.yaml"}
    assert documented == names, "every example needs a documented run in this file"


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.name)
def test_each_definition_is_described_and_valid(path: Path) -> None:
    first, second = path.read_text(encoding="utf-8").splitlines()[:2]
    assert first.startswith("# ") and len(first) > 30, "first line: a one-line description"
    assert not second.startswith("#"), "the description is one line"
    errors = [d.format() for d in check(path) if d.severity == "error"]
    assert errors == []


@pytest.mark.parametrize(
    ("name", "data", "expected"), SUCCEEDS, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(SUCCEEDS)]
)
def test_each_definition_runs_to_its_documented_output(name: str, data: Any, expected: Any) -> None:
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
