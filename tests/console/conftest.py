"""Fixtures for the console tests: a server whose API machines may run ``console_flows``
(tests/console/flows), the three state machines the tests look at, and a real headless
Chromium driven by Playwright (Debian's ``/usr/bin/chromium``; never a downloaded one).

Browser tests skip, saying why, when Playwright or Chromium is missing.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("starlette", reason="the server extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (uvicorn) is not installed")

from statemachine.server.config import ServerConfig
from statemachine.server.policy import ResourcePolicy
from tests.server.conftest import RunningServer

FLOWS = Path(__file__).parent / "flows"
if str(FLOWS) not in sys.path:
    sys.path.insert(0, str(FLOWS))

ROLE = "arn:aws:iam::123456789012:role/StepFunctions"
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser")
BROWSER_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]

APPROVAL = {"Comment": "Order approval", "StartAt": "Prepare", "States": {
    "Prepare": {"Type": "Pass", "Parameters": {"order.$": "$.order", "amount.$": "$.amount"},
                "Next": "CheckAmount"},
    "CheckAmount": {"Type": "Choice", "Choices": [
        {"Variable": "$.amount", "NumericGreaterThan": 100, "Next": "AskManager"}],
        "Default": "AutoApprove"},
    "AutoApprove": {"Type": "Pass", "Result": {"approved": True, "by": "rules"},
                    "ResultPath": "$.decision", "Next": "Ship"},
    "AskManager": {"Type": "Task", "Resource": "python:console_flows:notify.waitForTaskToken",
                   "Parameters": {"token.$": "$$.Task.Token", "order.$": "$.order"},
                   "ResultPath": "$.decision", "Next": "Ship"},
    "Ship": {"Type": "Task", "Resource": "python:console_flows:work", "ResultPath": "$.shipment",
             "End": True}}}

OUTCOMES = {"Comment": "One state of each outcome", "StartAt": "Validate", "States": {
    "Validate": {"Type": "Pass", "Next": "Charge"},
    "Charge": {"Type": "Task", "Resource": "python:console_flows:boom", "Next": "Never",
               "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error",
                          "Next": "Compensate"}]},
    "Never": {"Type": "Pass", "End": True},
    "Compensate": {"Type": "Parallel", "Next": "Audit", "Branches": [
        {"StartAt": "Refund", "States": {"Refund": {"Type": "Pass", "End": True}}},
        {"StartAt": "NotifyCustomer", "States": {"NotifyCustomer": {
            "Type": "Task", "Resource": "python:console_flows:work", "End": True}}}]},
    "Audit": {"Type": "Task", "Resource": "python:console_flows:boom", "End": True}}}

FLAKY = {"StartAt": "Begin", "States": {
    "Begin": {"Type": "Pass", "Next": "Flaky"},
    "Flaky": {"Type": "Task", "Resource": "python:console_flows:flaky", "End": True}}}


@dataclass
class Console:
    """A running server with the test machines created; ``arns`` by machine name."""

    server: RunningServer
    sfn: Any
    arns: dict[str, str]

    @property
    def url(self) -> str:
        return self.server.url

    def start(self, machine: str, name: str, input: Any) -> str:
        return str(self.sfn.start_execution(stateMachineArn=self.arns[machine], name=name,
                                            input=json.dumps(input))["executionArn"])

    def wait(self, arn: str, status: str, timeout: float = 30.0) -> dict[str, Any]:
        """DescribeExecution until ``status`` (bounded; fails the test on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            found: dict[str, Any] = self.sfn.describe_execution(executionArn=arn)
            if found["status"] == status:
                return found
            assert time.monotonic() < deadline, f"{arn} is {found['status']}, not {status}"
            time.sleep(0.05)

    def wait_token(self, arn: str, timeout: float = 30.0) -> None:
        """Until the execution waits on a task token."""
        import httpx

        deadline = time.monotonic() + timeout
        while True:
            answer = httpx.get(f"{self.url}/console/api/approvals", params={"executionArn": arn},
                               headers=self.headers())
            if answer.json()["approvals"]:
                return
            assert time.monotonic() < deadline, f"{arn} never waited for a task token"
            time.sleep(0.05)

    def headers(self) -> dict[str, str]:
        token = self.server.config.token
        return {"Authorization": f"Bearer {token}"} if token else {}


def make_console(tmp_path: Path, token: str | None = None) -> Console:
    config = ServerConfig(db=str(tmp_path / "console.db"), port=0, token=token,
                          policy=ResourcePolicy(python_modules=("console_flows",)))
    server = RunningServer(config)
    sfn = server.client()
    arns = {}
    for name, definition in (("Approval", APPROVAL), ("Outcomes", OUTCOMES), ("Flaky", FLAKY)):
        arns[name] = sfn.create_state_machine(name=name, definition=json.dumps(definition),
                                              roleArn=ROLE)["stateMachineArn"]
    return Console(server, sfn, arns)


@pytest.fixture
def console(tmp_path: Path) -> Iterator[Console]:
    made = make_console(tmp_path)
    try:
        yield made
    finally:
        made.server.stop()


def chromium_path() -> str | None:
    """Debian's Chromium, or None."""
    for path in (os.environ.get("SM_CHROMIUM"), *CHROMIUM_PATHS, shutil.which("chromium")):
        if path and os.path.exists(path):
            return path
    return None


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """A headless Chromium (Playwright); skips with the reason when none can be had.
    Module-scoped on purpose: Playwright's sync API keeps an asyncio loop running on the main
    thread while it is started, which would break ``asyncio.run`` in every later test."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (pip install playwright)")
    path = chromium_path()
    if path is None:
        pytest.skip("no Chromium found (apt-get install chromium, or set SM_CHROMIUM)")
    manager = sync_api.sync_playwright().start()
    try:
        launched = manager.chromium.launch(executable_path=path, args=BROWSER_ARGS)
    except Exception as error:  # a browser that cannot start is no browser: say why
        manager.stop()
        pytest.skip(f"Chromium at {path} did not start: {error}")
    try:
        yield launched
    finally:
        launched.close()
        manager.stop()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh page (its own context: no cookies or storage shared between tests); page
    errors fail the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.set_default_timeout(15000)
    try:
        yield opened
    finally:
        context.close()
    assert not errors, f"the page raised: {errors}"
