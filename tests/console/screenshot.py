"""Take the README's screenshot of the console (docs/console.png) with the real browser:

    .venv/bin/python -m tests.console.screenshot docs/console.png

Starts a server on a free port with a temporary database, runs an order flow up to its
manager's approval (one step caught and recovered, a Parallel done, the approval waiting)
and photographs that execution's page in headless Chromium.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

from tests.console.conftest import BROWSER_ARGS, ROLE, Console, chromium_path, make_console

ORDER = {"Comment": "Order fulfilment with a manager's approval", "StartAt": "ValidateOrder",
         "States": {
    "ValidateOrder": {"Type": "Pass", "Next": "ReserveStock"},
    "ReserveStock": {"Type": "Task", "Resource": "python:console_flows:work",
                     "ResultSelector": {"reserved.$": "$.worked"}, "ResultPath": "$.stock",
                     "Next": "ChargeCard"},
    "ChargeCard": {"Type": "Task", "Resource": "python:console_flows:boom", "Next": "Prepare",
                   "ResultPath": "$.payment",
                   "Catch": [{"ErrorEquals": ["States.ALL"], "ResultPath": None,
                              "Next": "ChargeBackupProvider"}]},
    "ChargeBackupProvider": {"Type": "Task", "Resource": "python:console_flows:work",
                             "ResultSelector": {"charged.$": "$.worked", "provider": "backup"},
                             "ResultPath": "$.payment", "Next": "Prepare"},
    "Prepare": {"Type": "Parallel", "ResultPath": None, "Next": "ManagerApproval",
                "Branches": [
        {"StartAt": "PackItems", "States": {"PackItems": {
            "Type": "Task", "Resource": "python:console_flows:work", "End": True}}},
        {"StartAt": "PrintLabel", "States": {"PrintLabel": {
            "Type": "Task", "Resource": "python:console_flows:work", "End": True}}}]},
    "ManagerApproval": {"Type": "Task",
                        "Resource": "python:console_flows:notify.waitForTaskToken",
                        "Parameters": {"token.$": "$$.Task.Token", "order.$": "$.order"},
                        "ResultPath": "$.approval", "Next": "Approved?"},
    "Approved?": {"Type": "Choice", "Default": "Cancelled", "Choices": [
        {"Variable": "$.approval.approved", "BooleanEquals": True, "Next": "Ship"}]},
    "Ship": {"Type": "Task", "Resource": "python:console_flows:work", "End": True},
    "Cancelled": {"Type": "Fail", "Error": "OrderCancelled"}}}


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise SystemExit("no Chromium found (apt-get install chromium)")
    with tempfile.TemporaryDirectory() as folder:
        console: Console = make_console(Path(folder))
        try:
            arn = console.sfn.create_state_machine(
                name="OrderFulfilment", definition=json.dumps(ORDER), roleArn=ROLE)["stateMachineArn"]
            console.arns["OrderFulfilment"] = arn
            run = console.start("OrderFulfilment", "order-1042",
                                {"order": "1042", "customer": "Kim Lee", "total": 249.9})
            console.wait_token(run)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=path, args=BROWSER_ARGS)
                page = browser.new_page(viewport={"width": 1200, "height": 1180})
                page.goto(f"{console.url}/#/execution/{run}")
                page.wait_for_selector("#execution svg.graph g.state")
                page.screenshot(path=str(out), animations="disabled",
                                clip={"x": 0, "y": 0, "width": 1200, "height": 1180})
                browser.close()
        finally:
            console.server.stop()
    print(f"{out}: {out.stat().st_size} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/console.png"))
