"""The web console in a real headless Chromium against a real server (sm serve's app under
uvicorn): lists and filters, the graph's colours per state outcome, the event table, and the
buttons (Approve with an edited output, Reject, Stop, Redrive) checked through boto3."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from tests.console.conftest import ROLE, Console, make_console

# The console's colours (statemachine/server/static/console.css) as the browser computes them.
FILLS = {
    "succeeded": "rgb(220, 252, 231)",
    "failed": "rgb(254, 226, 226)",
    "caught": "rgb(254, 243, 199)",
    "running": "rgb(219, 234, 254)",
    "not-reached": "rgb(255, 255, 255)",
}


def execution_url(console: Console, arn: str) -> str:
    return f"{console.url}/#/execution/{quote(arn, safe='')}"


def outcomes(page: Any) -> dict[str, tuple[str, str]]:
    """State name -> (outcome class, computed fill of its box) as drawn."""
    found: dict[str, tuple[str, str]] = page.eval_on_selector_all(
        "svg.graph g.state",
        """nodes => Object.fromEntries(nodes.map(g => [g.dataset.state,
             [g.dataset.outcome, getComputedStyle(g.querySelector('rect')).fill]]))""")
    return found


def test_lists_and_status_filter(console: Console, page: Any) -> None:
    waiting = console.start("Approval", "big-order", {"order": "A-1", "amount": 500})
    small = console.start("Approval", "small-order", {"order": "A-2", "amount": 5})
    failed = console.start("Outcomes", "outcome-1", {})
    console.wait(small, "SUCCEEDED")
    console.wait(failed, "FAILED")
    console.wait_token(waiting)

    page.goto(console.url + "/")
    rows = page.locator("#executions tbody tr")
    rows.first.wait_for()
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.dataset.status + ' ' + r.cells[0].innerText)")) == [
        "FAILED outcome-1", "RUNNING big-order", "SUCCEEDED small-order"]

    page.click("#status-filter button[data-status=FAILED]")
    page.wait_for_function("document.querySelectorAll('#executions tbody tr').length === 1")
    assert rows.evaluate_all("rs => rs.map(r => r.cells[0].innerText)") == ["outcome-1"]

    page.click("#status-filter button[data-status=ALL]")
    page.wait_for_function("document.querySelectorAll('#executions tbody tr').length === 3")
    page.select_option("#machine-filter", console.arns["Approval"])
    page.wait_for_function("document.querySelectorAll('#executions tbody tr').length === 2")
    assert sorted(rows.evaluate_all("rs => rs.map(r => r.cells[0].innerText)")) == ["big-order", "small-order"]

    page.goto(console.url + "/#/machines")
    page.locator("#machines tbody tr").first.wait_for()
    names = page.locator("#machines tbody tr td:first-child").all_inner_texts()
    assert sorted(names) == ["Approval", "Flaky", "Outcomes"]

    # the pending approval is listed on the front page and on its own page, with its input
    page.goto(console.url + "/#/approvals")
    card = page.locator(".approval")
    card.wait_for()
    assert card.get_attribute("data-state") == "AskManager"
    assert json.loads(card.locator("pre.json").inner_text()) == {"order": "A-1", "amount": 500}


def test_graph_colours_and_event_table(console: Console, page: Any) -> None:
    arn = console.start("Outcomes", "outcome-1", {"customer": "kim"})
    console.wait(arn, "FAILED")
    page.goto(execution_url(console, arn))
    page.wait_for_selector("#execution[data-status=FAILED] svg.graph g.state")
    drawn = outcomes(page)
    expected = {"Validate": "succeeded", "Charge": "caught", "Never": "not-reached",
                "Compensate": "succeeded", "Refund": "succeeded", "NotifyCustomer": "succeeded",
                "Audit": "failed"}
    assert {name: outcome for name, (outcome, _) in drawn.items()} == expected
    for name, outcome in expected.items():
        if name != "Compensate":  # a Parallel is a dashed frame, not a filled box
            assert drawn[name][1] == FILLS[outcome], name

    # each state's input and output are in the event table
    entered = page.locator("#events tr[data-type=PassStateEntered][data-state=Validate] .detail-input")
    assert json.loads(entered.locator("code").inner_text()) == {"customer": "kim"}
    exited = page.locator("#events tr[data-type=TaskStateExited][data-state=Charge] .detail-output pre")
    assert json.loads(exited.text_content())["error"]["Error"] == "ValueError"
    failed = page.locator("#events tr[data-type=TaskFailed][data-state=Audit] .detail-error")
    assert failed.inner_text().split() == ["Error", "ValueError"]
    assert page.locator("#execution-error").inner_text() == "ValueError"

    # clicking a state shows only its events and its input/output
    page.click("svg.graph g.state[data-state=Audit]")
    visible = page.locator("#events tbody tr:not(.hidden)")
    assert set(visible.evaluate_all("rs => rs.map(r => r.dataset.state)")) == {"Audit"}
    assert page.locator("#state-detail h2").inner_text() == "State Audit"


def test_running_execution_updates_live(console: Console, page: Any) -> None:
    arn = console.start("Approval", "live-order", {"order": "A-9", "amount": 700})
    console.wait_token(arn)
    page.goto(execution_url(console, arn))
    page.wait_for_selector("#execution[data-status=RUNNING] svg.graph g.state")
    assert {name: outcome for name, (outcome, _) in outcomes(page).items()} == {
        "Prepare": "succeeded", "CheckAmount": "succeeded", "AskManager": "running",
        "AutoApprove": "not-reached", "Ship": "not-reached"}
    assert outcomes(page)["AskManager"][1] == FILLS["running"]
    # answered elsewhere (boto3): the open page follows without a reload
    token = console.sfn.get_execution_history(executionArn=arn)["events"]
    scheduled = next(e for e in token if e["type"] == "TaskScheduled")
    parameters = json.loads(scheduled["taskScheduledEventDetails"]["parameters"])
    console.sfn.send_task_success(taskToken=parameters["token"], output='{"by": "boto3"}')
    page.wait_for_selector("#execution[data-status=SUCCEEDED]", timeout=20000)
    assert outcomes(page)["Ship"][0] == "succeeded"


def test_approve_with_edited_output(console: Console, page: Any) -> None:
    arn = console.start("Approval", "to-approve", {"order": "A-3", "amount": 300})
    console.wait_token(arn)
    page.goto(execution_url(console, arn))
    card = page.locator(".approval[data-state=AskManager]")
    card.wait_for()
    assert json.loads(card.locator("pre.json").inner_text()) == {"order": "A-3", "amount": 300}
    card.locator("textarea.approve-output").fill('{"approved": true, "by": "kim"}')
    card.locator("button.approve").click()
    page.wait_for_selector("#execution[data-status=SUCCEEDED]", timeout=20000)
    done = console.wait(arn, "SUCCEEDED")
    assert json.loads(done["output"])["decision"] == {"approved": True, "by": "kim"}
    assert page.locator(".approval").count() == 0


def test_approve_with_invalid_output_says_why(console: Console, page: Any) -> None:
    arn = console.start("Approval", "bad-output", {"order": "A-4", "amount": 300})
    console.wait_token(arn)
    page.goto(execution_url(console, arn))
    card = page.locator(".approval")
    card.wait_for()
    card.locator("textarea.approve-output").fill("{not json")
    card.locator("button.approve").click()
    toast = page.locator("#toast.error")
    toast.wait_for()
    assert toast.inner_text().startswith("InvalidOutput")
    assert console.sfn.describe_execution(executionArn=arn)["status"] == "RUNNING"


def test_reject_fails_with_error_and_cause(console: Console, page: Any) -> None:
    arn = console.start("Approval", "to-reject", {"order": "A-5", "amount": 300})
    console.wait_token(arn)
    page.goto(console.url + "/")  # from the front page's list of pending approvals
    card = page.locator(f".approval:has(a[href*='{quote(arn, safe='')}'])")
    card.wait_for()
    card.locator("input.reject-error").fill("Denied")
    card.locator("input.reject-cause").fill("too expensive")
    card.locator("button.reject").click()
    done = console.wait(arn, "FAILED")
    assert (done["error"], done["cause"]) == ("Denied", "too expensive")
    page.goto(execution_url(console, arn))
    assert page.locator("#execution-error").inner_text() == "Denied"
    assert page.locator("#execution-cause").inner_text() == "too expensive"
    assert outcomes(page)["AskManager"][0] == "failed"


def test_stop(console: Console, page: Any) -> None:
    arn = console.start("Approval", "to-stop", {"order": "A-6", "amount": 300})
    console.wait_token(arn)
    page.goto(execution_url(console, arn))
    page.click("#stop-button")
    page.wait_for_selector("#execution[data-status=ABORTED]", timeout=20000)
    assert console.sfn.describe_execution(executionArn=arn)["status"] == "ABORTED"
    assert page.locator("#stop-button").count() == 0
    assert page.locator("#redrive-button").count() == 1


def test_redrive(console: Console, page: Any, tmp_path: Path) -> None:
    marker = tmp_path / "marker"
    arn = console.start("Flaky", "flaky-1", {"marker": str(marker)})
    console.wait(arn, "FAILED")
    page.goto(execution_url(console, arn))
    page.wait_for_selector("#execution[data-status=FAILED]")
    assert outcomes(page)["Flaky"][0] == "failed"
    marker.write_text("now it works")
    page.click("#redrive-button")
    page.wait_for_selector("#execution[data-status=SUCCEEDED]", timeout=20000)
    done = console.wait(arn, "SUCCEEDED")
    assert done["redriveCount"] == 1
    assert {name: outcome for name, (outcome, _) in outcomes(page).items()} == {
        "Begin": "succeeded", "Flaky": "succeeded"}


def test_works_offline_and_behind_the_token(tmp_path: Path, page: Any) -> None:
    console = make_console(tmp_path, token="console-token-0123456789")
    try:
        console.start("Approval", "guarded", {"order": "A-7", "amount": 1})
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        assert page.request.get(console.url + "/").status == 403  # no token, no console
        page.goto(console.url + "/?token=console-token-0123456789")  # once: kept as a cookie
        page.locator("#executions tbody tr").first.wait_for()
        assert page.locator("#executions tbody tr td:first-child").all_inner_texts() == ["guarded"]
        assert requested and all(url.startswith(console.url + "/") for url in requested), requested
    finally:
        console.server.stop()


def test_machine_page_draws_the_graph_and_starts_an_execution(console: Console, page: Any) -> None:
    page.goto(f"{console.url}/#/machine/{quote(console.arns['Approval'], safe='')}")
    page.wait_for_selector("svg.graph g.state")
    assert {name: outcome for name, (outcome, _) in outcomes(page).items()} == dict.fromkeys(
        ["Prepare", "CheckAmount", "AutoApprove", "AskManager", "Ship"], "not-reached")
    labels = page.locator("svg.graph .edge-label text").all_text_contents()
    assert sorted(labels) == ["$.amount NumericGreaterThan 100", "default"]
    page.fill("#start-input", '{"order": "A-8", "amount": 3}')
    page.click("#start-button")
    page.wait_for_selector("#execution[data-status=SUCCEEDED]", timeout=20000)
    arn = page.evaluate("decodeURIComponent(location.hash.split('/')[2])")
    done = console.wait(arn, "SUCCEEDED")
    assert json.loads(done["input"]) == {"order": "A-8", "amount": 3}
    assert outcomes(page)["AutoApprove"][0] == "succeeded"
    assert outcomes(page)["AskManager"][0] == "not-reached"


def test_long_history_shows_its_ends_then_all(console: Console, page: Any) -> None:
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items", "End": True, "ResultPath": None,
        "ItemProcessor": {"StartAt": "Touch", "States": {"Touch": {"Type": "Pass", "End": True}}}}}}
    arn = console.sfn.create_state_machine(name="Many", definition=json.dumps(definition),
                                           roleArn="arn:aws:iam::123456789012:role/x")["stateMachineArn"]
    started = console.sfn.start_execution(stateMachineArn=arn, input=json.dumps({"items": list(range(300))}))
    console.wait(started["executionArn"], "SUCCEEDED")
    pages = console.sfn.get_paginator("get_execution_history").paginate(executionArn=started["executionArn"])
    total = sum(len(found["events"]) for found in pages)
    assert total > 1000
    page.goto(execution_url(console, started["executionArn"]))
    page.wait_for_selector("#execution[data-status=SUCCEEDED] #events")
    rows = page.locator("#events tbody tr")
    assert rows.count() == 1000
    assert rows.last.get_attribute("data-type") == "ExecutionSucceeded"
    assert page.locator("#more-events").inner_text().startswith(f"{total - 1000} events")
    assert {name: outcome for name, (outcome, _) in outcomes(page).items()} == {
        "Each": "succeeded", "Touch": "succeeded"}  # 300 iterations of Touch, one outcome
    page.click("#more-events a")
    page.wait_for_function(f"document.querySelectorAll('#events tbody tr').length === {total}")


def test_retried_success_and_a_caught_parallel(console: Console, page: Any, tmp_path: Path) -> None:
    definition = {"StartAt": "Try", "States": {
        "Try": {"Type": "Task", "Resource": "python:console_flows:fail_once", "ResultPath": None,
                "Retry": [{"ErrorEquals": ["States.ALL"], "IntervalSeconds": 1, "MaxAttempts": 2,
                           "BackoffRate": 1}], "Next": "Group"},
        "Group": {"Type": "Parallel", "Next": "Skipped",
                  "Branches": [{"StartAt": "Inner", "States": {"Inner": {
                      "Type": "Task", "Resource": "python:console_flows:boom", "End": True}}}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Handled"}]},
        "Skipped": {"Type": "Pass", "End": True},
        "Handled": {"Type": "Pass", "End": True}}}
    machine = console.sfn.create_state_machine(name="Retried", definition=json.dumps(definition),
                                               roleArn="arn:aws:iam::123456789012:role/x")
    arn = console.sfn.start_execution(stateMachineArn=machine["stateMachineArn"],
                                      input=json.dumps({"marker": str(tmp_path / "m")}))["executionArn"]
    console.wait(arn, "SUCCEEDED")
    page.goto(execution_url(console, arn))
    page.wait_for_selector("#execution[data-status=SUCCEEDED] svg.graph g.state")
    assert {name: outcome for name, (outcome, _) in outcomes(page).items()} == {
        "Try": "succeeded", "Group": "caught", "Inner": "failed", "Skipped": "not-reached",
        "Handled": "succeeded"}
    assert page.locator("#events tr[data-type=TaskFailed][data-state=Try]").count() == 1


def test_a_failed_branch_state_is_failed_while_the_execution_still_runs(console: Console, page: Any) -> None:
    definition = {"StartAt": "Group", "States": {
        "Group": {"Type": "Parallel", "Next": "Never",
                  "Branches": [{"StartAt": "Inner", "States": {"Inner": {
                      "Type": "Task", "Resource": "python:console_flows:boom", "End": True}}}],
                  "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Wait"}]},
        "Never": {"Type": "Pass", "End": True},
        "Wait": {"Type": "Task", "Resource": "python:console_flows:notify.waitForTaskToken",
                 "Parameters": {"token.$": "$$.Task.Token"}, "End": True}}}
    machine = console.sfn.create_state_machine(name="Branchy", definition=json.dumps(definition),
                                               roleArn="arn:aws:iam::123456789012:role/x")
    arn = console.sfn.start_execution(stateMachineArn=machine["stateMachineArn"])["executionArn"]
    console.wait_token(arn)
    page.goto(execution_url(console, arn))
    page.wait_for_selector("#execution[data-status=RUNNING] svg.graph g.state")
    assert {name: outcome for name, (outcome, _) in outcomes(page).items()} == {
        "Group": "caught", "Inner": "failed", "Never": "not-reached", "Wait": "running"}


XSS = '<img src=x onerror="window.__xss=1"><script>window.__xss=2</script>'


def test_html_in_names_inputs_errors_and_labels_is_shown_as_text(console: Console, page: Any) -> None:
    """Everything the console shows comes from users (state names, inputs, outputs, errors,
    causes, Choice labels, approval inputs): it is text, never markup."""
    bad = '<img src=x onerror="window.__xss=3">'
    definition = {"Comment": XSS, "StartAt": bad, "States": {
        bad: {"Type": "Choice", "Choices": [
            {"Variable": "$.loop", "StringEquals": XSS, "Next": f"Each{bad}"}], "Default": "Ask"},
        f"Each{bad}": {"Type": "Map", "ItemsPath": "$.items", "ResultPath": "$.loop", "Next": bad,
                       "Parameters": {"loop": "no", "v.$": "$$.Map.Item.Value"},
                       "ItemProcessor": {"StartAt": f"In{bad}", "States": {
                           f"In{bad}": {"Type": "Pass", "End": True}}}},
        "Ask": {"Type": "Task", "Resource": "python:console_flows:notify.waitForTaskToken",
                "Parameters": {"token.$": "$$.Task.Token", "html": XSS}, "Next": "Fail"},
        "Fail": {"Type": "Fail", "Error": XSS, "Cause": XSS}}}
    arn = console.sfn.create_state_machine(name="Xss", definition=json.dumps(definition),
                                           roleArn=ROLE)["stateMachineArn"]
    execution = console.sfn.start_execution(
        stateMachineArn=arn, input=json.dumps({"loop": XSS, "items": [XSS], XSS: XSS}))["executionArn"]
    console.wait_token(execution)
    for url in (f"{console.url}/#/approvals", f"{console.url}/", execution_url(console, execution),
                f"{console.url}/#/machine/{quote(arn, safe='')}"):
        page.goto(url)
        page.wait_for_selector("svg.graph g.state, .approval")
        page.wait_for_timeout(200)
        assert page.evaluate("window.__xss") is None, url
        assert page.locator("#app img, #app script").count() == 0, url
    page.goto(execution_url(console, execution))
    page.wait_for_selector("svg.graph g.state")
    assert bad in outcomes(page)
    page.locator(".approval .approve-output").fill(json.dumps({"loop": "no", "items": []}))
    page.click(".approval button.approve")
    page.wait_for_selector("#execution[data-status=FAILED]")
    assert page.locator("#execution-error").inner_text() == XSS
    assert page.locator("#execution-cause").inner_text() == XSS
    assert page.evaluate("window.__xss") is None


def test_schedules_with_their_next_fire_times_on_their_own_clock(console: Console, page: Any) -> None:
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    service = console.server.app.state.service
    service.create_schedule(Name="nightly", ScheduleExpression="cron(30 2 * * ? *)",
                            ScheduleExpressionTimezone="Europe/Berlin", Description=XSS,
                            FlexibleTimeWindow={"Mode": "OFF"},
                            Target={"Arn": console.arns["Approval"], "Input": "{}"})
    service.create_schedule(Name="paused", GroupName="reports", ScheduleExpression="rate(1 hour)",
                            State="DISABLED", FlexibleTimeWindow={"Mode": "OFF"},
                            Target={"Arn": console.arns["Flaky"]})
    page.goto(console.url + "/")
    page.click("header nav a[href='#/schedules']")
    rows = page.locator("#schedules tbody tr")
    rows.first.wait_for()
    assert rows.evaluate_all("rs => rs.map(r => r.dataset.group + '/' + r.dataset.name)") == [
        "default/nightly", "reports/paused"]
    nightly = page.locator("#schedules tr[data-name=nightly]")
    assert nightly.locator("code.expression").inner_text() == "cron(30 2 * * ? *)"
    assert nightly.locator(".zone").inner_text() == "Europe/Berlin"
    assert XSS in nightly.inner_text() and page.evaluate("window.__xss") is None
    fires = [datetime.fromisoformat(value.replace("Z", "+00:00")) for value in
             nightly.locator(".next-fires time").evaluate_all("ts => ts.map(t => t.getAttribute('datetime'))")]
    berlin = [moment.astimezone(ZoneInfo("Europe/Berlin")) for moment in fires]
    assert len(berlin) == 3 and all((b.hour, b.minute) == (2, 30) for b in berlin), berlin
    assert [b.date() - berlin[0].date() for b in berlin] == [timedelta(days=n) for n in range(3)]
    assert all("02:30" in text for text in nightly.locator(".next-fires time").all_inner_texts())
    assert datetime.now(ZoneInfo("UTC")) < fires[0] <= datetime.now(ZoneInfo("UTC")) + timedelta(days=1)
    assert nightly.locator(".last-fire").inner_text() == "never"
    assert nightly.locator("a").get_attribute("href") == f"#/machine/{quote(console.arns['Approval'], safe='')}"
    paused = page.locator("#schedules tr[data-name=paused]")
    assert paused.get_attribute("data-state") == "DISABLED"
    assert paused.locator(".next-fires").inner_text() == "disabled"

    console.sfn.delete_state_machine(stateMachineArn=console.arns["Flaky"])  # a target gone
    page.reload()
    page.wait_for_selector("#schedules tr[data-name=paused] .target-missing")
    assert paused.locator("td").nth(3).inner_text() == "Flaky (deleted)"
    assert nightly.locator("td a").count() == 1  # its target is still there
