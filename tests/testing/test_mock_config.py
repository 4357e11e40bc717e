"""Step Functions Local's MockConfigFile: AWS's documented example (LambdaSQSIntegration with
HappyPath, RetryPath and HybridPath), mocks by state name for every integration pattern, and
the errors a bad mock file gives (file, line, column; exit 2)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine.testing import MockConfigError, MockPlan, load_for_test, load_mock_config
from statemachine.testing.mocks import state_names
from statemachine.testing.testfile import path_of

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MACHINE = FIXTURES / "LambdaSQSIntegration.asl.json"
MOCKS = FIXTURES / "MockConfigFile.json"
# The documented mocked responses (AWS: "Configuration file for mocked service integrations").
LAMBDA_SUCCESS = {"StatusCode": 200, "Payload": {"StatusCode": 200, "body": "Hello from Lambda!"}}
SQS_SUCCESS = {"MD5OfMessageBody": "3bcb6e8e-7h85-4375-b0bc-1a59812c6e51",
               "MessageId": "3bcb6e8e-8b51-4375-b0bc-1a59812c6e51"}


def run_case(case: str, **load: Any) -> statemachine.Execution:
    machine = load_for_test(MACHINE, name="LambdaSQSIntegration", **load)
    plan = MockPlan(load_mock_config(MOCKS).test_case("LambdaSQSIntegration", case, state_names(machine.definition)))
    return machine.run({"start": True}, virtual_time=True, seed=1, mocks=plan)


def task_events(execution: statemachine.Execution) -> list[str]:
    return [e["type"] for e in execution.history if e["type"].startswith("Task") and "State" not in e["type"]]


def test_happy_path_both_states_answer_from_their_mocks() -> None:
    execution = run_case("HappyPath")
    assert execution.status == "SUCCEEDED"
    assert execution.output == SQS_SUCCESS
    assert path_of(execution.history) == ["LambdaState", "SQSState"]
    scheduled = [e for e in execution.history if e["type"] == "TaskScheduled"]
    # the SQS message body is the Lambda's (mocked) result: MessageBody.$ = $
    assert json.loads(scheduled[1]["taskScheduledEventDetails"]["parameters"])["MessageBody"] == LAMBDA_SUCCESS


def test_retry_path_fails_three_times_then_succeeds_on_the_fourth_invocation() -> None:
    execution = run_case("RetryPath")
    assert execution.status == "SUCCEEDED"
    assert execution.output == SQS_SUCCESS
    assert path_of(execution.history) == ["LambdaState", "SQSState"]
    failures = [e["taskFailedEventDetails"] for e in execution.history if e["type"] == "TaskFailed"]
    assert [(f["error"], f["cause"]) for f in failures] == [
        ("Lambda.ResourceNotReadyException", "Lambda resource is not ready."),
        ("Lambda.TimeoutException", "Lambda timed out."),
        ("Lambda.TimeoutException", "Lambda timed out."),
    ]
    assert task_events(execution)[:12] == ["TaskScheduled", "TaskStarted", "TaskFailed"] * 3 + \
        ["TaskScheduled", "TaskStarted", "TaskSucceeded"]


def test_hybrid_path_runs_the_unmocked_state_on_its_real_resource() -> None:
    sent: list[Any] = []

    def send_message(parameters: dict[str, Any]) -> dict[str, Any]:
        sent.append(parameters)
        return {"MessageId": "local-1"}

    execution = run_case("HybridPath", resources={"arn:aws:states:::sqs:sendMessage": send_message})
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"MessageId": "local-1"}
    assert sent == [{"QueueUrl": "https://sqs.us-east-1.amazonaws.com/123456789012/myQueue",
                     "MessageBody": LAMBDA_SUCCESS}]


def test_hybrid_path_without_a_handler_is_refused_at_load_by_sm_run(sm: Any) -> None:
    result = sm("run", MACHINE, "--mock-config", MOCKS, "--test-case", "HybridPath", "--virtual-time")
    assert result.returncode == 2
    assert "arn:aws:states:::sqs:sendMessage" in result.stderr
    # named at the definition file's own name and line (not the machine name "…asl")
    assert result.stderr.startswith(f"{MACHINE}:24:"), result.stderr


@pytest.mark.parametrize("case", ["HappyPath", "RetryPath"])
def test_sm_run_with_mock_config_prints_the_documented_output(sm: Any, case: str) -> None:
    result = sm("run", MACHINE, "--mock-config", MOCKS, "--test-case", case, "--virtual-time")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == SQS_SUCCESS


def test_sfn_mock_config_environment_variable_names_the_file(sm: Any) -> None:
    result = sm("run", MACHINE, "--test-case", "HappyPath", env={"SFN_MOCK_CONFIG": str(MOCKS)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == SQS_SUCCESS


def test_sfn_mock_config_in_the_environment_leaves_runs_without_a_test_case_alone(sm: Any) -> None:
    # AWS: with SFN_MOCK_CONFIG set, an execution started without "#TestCase" runs unmocked;
    # a variable exported as AWS's docs show must not break every other sm run
    result = sm("run", "definitions/hello.yaml", "--input", '{"name": "world"}',
                env={"SFN_MOCK_CONFIG": str(MOCKS)})
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"greeting": "Hello, world!"}


def test_an_explicit_mock_config_without_a_test_case_is_a_usage_error(sm: Any) -> None:
    result = sm("run", MACHINE, "--mock-config", MOCKS)
    assert result.returncode == 2
    assert "--test-case" in result.stderr


def test_a_test_case_without_a_mock_file_is_a_usage_error(sm: Any) -> None:
    result = sm("run", MACHINE, "--test-case", "HappyPath")
    assert result.returncode == 2
    assert "--mock-config" in result.stderr


# -- mocks by state name across integration patterns ---------------------------------------
def plan(**states: Any) -> MockPlan:
    from statemachine.testing.pytest_plugin import MockBuilder

    return MockBuilder()(**states)


def test_a_mocked_wait_for_task_token_callback_returns_at_once() -> None:
    machine = load_for_test(Path("definitions/human_approval.yaml"))
    execution = machine.run({"expenseId": "e", "amount": 1, "reviewer": "r"}, virtual_time=True,
                            mocks=plan(RequestApproval={"approvedBy": "ann"}))
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"expenseId": "e", "status": "APPROVED", "approvedBy": "ann"}
    assert "TaskSubmitted" in [e["type"] for e in execution.history]


def test_activities_and_sync_tasks_are_mocked_by_state_name() -> None:
    definition = {"StartAt": "Act", "States": {
        "Act": {"Type": "Task", "Resource": "arn:aws:states:us-east-1:123456789012:activity:review", "Next": "Job"},
        "Job": {"Type": "Task", "Resource": "arn:aws:states:::glue:startJobRun.sync", "ResultPath": "$.job", "End": True}}}
    machine = load_for_test(definition)
    execution = machine.run({}, mocks=plan(Act={"reviewed": True}, Job={"JobRunState": "SUCCEEDED"}))
    assert execution.status == "SUCCEEDED"
    assert execution.output == {"reviewed": True, "job": {"JobRunState": "SUCCEEDED"}}


def test_states_inside_a_map_are_mocked_and_counted_per_state() -> None:
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "MaxConcurrency": 1, "ItemProcessor": {"StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}},
        "End": True}}}
    machine = load_for_test(definition)
    execution = machine.run([1, 2, 3], mocks=plan(Work=["a", "b", "c"]))
    # one counter per state across the iterations: invocations 0, 1, 2
    assert execution.output == ["a", "b", "c"]


def test_an_invocation_past_the_last_mocked_range_fails_the_execution(tmp_path: Path) -> None:
    # AWS: "If you do not specify a mocked response for a specific retry attempt, for example,
    # retry "3", the state machine execution will fail." Step Functions Local fails it with
    # States.Runtime, which no Retry or Catch (not even States.ALL) handles.
    definition = {"StartAt": "Call", "States": {"Call": {
        "Type": "Task", "Resource": "arn:aws:states:::lambda:invoke",
        "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3}],
        "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Succeed"}}}
    path = write(tmp_path, '{"StateMachines": {"M": {"TestCases": {"C": {"Call": "R"}}}},\n'
                           ' "MockedResponses": {"R": {"0-1": {"Throw": {"Error": "E", "Cause": "c"}}}}}')
    machine = load_for_test(definition)
    execution = machine.run({}, virtual_time=True, mocks=MockPlan(load_mock_config(path).test_case("M", "C")))
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")
    assert "Caught" not in path_of(execution.history)
    failed = [e["taskFailedEventDetails"]["error"] for e in execution.history if e["type"] == "TaskFailed"]
    assert failed == ["E", "E", "States.Runtime"]


def test_a_map_runs_out_of_mocked_invocations_after_the_listed_ones() -> None:
    # A mock with only "0" answers the first iteration; the second has no response (AWS: "you
    # must specify a mocked response for every invocation").
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "MaxConcurrency": 1, "ItemProcessor": {"StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}},
        "End": True}}}
    execution = load_for_test(definition).run([1, 2], mocks=plan(Work={"0": {"Return": "a"}}))
    assert (execution.status, execution.error) == ("FAILED", "States.Runtime")


def test_a_single_inline_response_answers_every_invocation() -> None:
    definition = {"StartAt": "Each", "States": {"Each": {
        "Type": "Map", "MaxConcurrency": 1, "ItemProcessor": {"StartAt": "Work", "States": {
            "Work": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}},
        "End": True}}}
    execution = load_for_test(definition).run([1, 2, 3], mocks=plan(Work="a"))
    assert execution.output == ["a", "a", "a"]


def test_an_unmocked_state_with_no_handler_is_refused_when_loading_for_those_mocks() -> None:
    definition = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage", "End": True}}}
    with pytest.raises(statemachine.ResourceNotFoundError):
        load_for_test(definition, mocked={"Other"})


# -- bad mock files -------------------------------------------------------------------------
def write(tmp_path: Path, text: str, name: str = "mocks.json") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path, machine: str = "M", case: str = "C", states: set[str] | None = None) -> MockConfigError:
    with pytest.raises(MockConfigError) as info:
        load_mock_config(path).test_case(machine, case, states or {"A"})
    return info.value


def mock_file(responses: str, cases: str = '{"A": "R"}') -> str:
    return ('{\n  "StateMachines": {"M": {"TestCases": {"C": ' + cases + '}}},\n'
            '  "MockedResponses": {\n    "R": ' + responses + '\n  }\n}\n')


def test_a_bad_range_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, mock_file('{"0": {"Return": 1},\n          "2-1": {"Return": 2}}'))
    error = error_of(path)
    assert (error.file, error.line) == (str(path), 5)
    assert "bad range '2-1'" in error.message


def test_a_range_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, mock_file('{"first": {"Return": 1}}')))
    assert "bad range 'first'" in error.message and error.line == 4


def test_overlapping_ranges_are_refused(tmp_path: Path) -> None:
    path = write(tmp_path, mock_file('{"0-2": {"Return": 1},\n          "1": {"Return": 2}}'))
    error = error_of(path)
    assert "overlaps" in error.message and error.line == 5


def test_a_gap_between_ranges_is_refused(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, mock_file('{"0": {"Return": 1}, "3": {"Return": 2}}')))
    assert "no response for invocation 1-2" in error.message


def test_a_response_needs_exactly_one_of_return_or_throw(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, mock_file('{"0": {"Return": 1, "Throw": {"Error": "E"}}}')))
    assert "exactly one of Return or Throw" in error.message


def test_an_unknown_state_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, mock_file('{"0": {"Return": 1}}', '{"Nope": "R"}'))
    error = error_of(path)
    assert "unknown state 'Nope'" in error.message and error.line == 2


def test_an_unknown_machine_and_case_are_named(tmp_path: Path) -> None:
    path = write(tmp_path, mock_file('{"0": {"Return": 1}}'))
    assert "unknown state machine 'Other'" in error_of(path, machine="Other").message
    assert "has no test case 'X'" in error_of(path, case="X").message


def test_a_missing_mocked_response_is_named(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, mock_file('{"0": {"Return": 1}}', '{"A": "Missing"}')))
    assert "no mocked response named 'Missing'" in error.message


def test_bad_json_and_yaml_give_file_and_line(tmp_path: Path) -> None:
    error = error_of(write(tmp_path, '{\n  "StateMachines": {,\n}'))
    assert error.line == 2
    error = error_of(write(tmp_path, "StateMachines:\n  M: [\n", "mocks.yaml"))
    assert error.file and error.file.endswith("mocks.yaml") and error.line >= 2


def test_sm_run_reports_a_bad_mock_file_as_one_line_and_exit_2(sm: Any, tmp_path: Path) -> None:
    path = write(tmp_path, mock_file('{"0-": {"Return": 1}}'))
    result = sm("run", MACHINE, "--mock-config", path, "--test-case", "C", "--state-machine", "M")
    assert result.returncode == 2
    assert result.stderr.strip().startswith(f"sm: error: {path}:4:")
    assert "bad range '0-'" in result.stderr


def test_a_mock_file_mocking_a_state_that_is_not_a_task_is_named(sm: Any, tmp_path: Path) -> None:
    path = write(tmp_path, '{"StateMachines": {"LambdaSQSIntegration": {"TestCases": {"C": {\n'
                           '  "Route": "R"}}}},\n "MockedResponses": {"R": {"0": {"Return": 1}}}}')
    definition = tmp_path / "LambdaSQSIntegration.asl.json"
    definition.write_text(json.dumps({"StartAt": "Route", "States": {
        "Route": {"Type": "Pass", "Next": "Call"},
        "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True}}}), encoding="utf-8")
    result = sm("run", definition, "--mock-config", path, "--test-case", "C")
    assert result.returncode == 2
    assert result.stderr.startswith(f"sm: error: {path}:2:3: test case 'C' mocks Pass state 'Route'"), result.stderr


def test_an_empty_mocked_response_fails_only_the_run_that_reaches_it(tmp_path: Path) -> None:
    # Step Functions Local starts the execution and fails it with States.Runtime when the
    # state naming an empty MockedResponses entry is entered (a generated file whose list was
    # empty); a case that never reaches that state runs
    path = write(tmp_path, '{"StateMachines": {"M": {"TestCases": {"C": {"Call": "None"}}}},\n'
                           ' "MockedResponses": {"None": {}}}')
    definition = {"StartAt": "Pick", "States": {
        "Pick": {"Type": "Choice", "Choices": [{"Variable": "$.call", "BooleanEquals": True, "Next": "Call"}],
                 "Default": "Skip"},
        "Call": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "End": True},
        "Skip": {"Type": "Succeed"}}}
    machine = load_for_test(definition)
    plan = MockPlan(load_mock_config(path).test_case("M", "C"))
    assert machine.run({"call": False}, mocks=plan).status == "SUCCEEDED"
    reached = machine.run({"call": True}, mocks=plan)
    assert (reached.status, reached.error) == ("FAILED", "States.Runtime")
