"""Testing stage, test files: ``*.test.yaml`` files in, one ``CaseResult`` per case out.

A test file lists cases for one definition (paths are relative to the test file)::

    definition: order_saga.yaml
    resources: local/order.resources.yaml   # optional resource map (MAP.yaml)
    mock_config: MockConfigFile.json        # optional Step Functions Local mock file
    state_machine: OrderSaga                # its StateMachines key (default: file stem)
    MockedResponses: {...}                  # optional named responses, mock-file format
    cases:
      payment declined:
        input: {orderId: o-1}
        test_case: HappyPath                # a test case of mock_config
        mocks:                              # state -> response name, or inline responses:
          ChargePayment: {Throw: {Error: PaymentDeclined, Cause: card expired}}
          ShipOrder: {"0": {Return: {trackingNumber: T1}}}
        seed: 7                             # optional; virtual_time: false for real waits
        expect:
          status: FAILED                    # SUCCEEDED | FAILED | TIMED_OUT | ABORTED
          output: {...}                     # exact; output_subset: {...} for a subset
          error: PaymentDeclined
          cause: card expired
          path: [ReserveInventory, ChargePayment, ReleaseInventory, OrderFailed]

``path`` is the states entered, in order (nested Parallel/Map states included). A case
without ``expect.status`` expects SUCCEEDED. Cases of all files run at once in this process
(worker threads, each execution on its own event loop); virtual time is on unless a case sets ``virtual_time: false``. Problems in a file raise
``MockConfigError`` with file and line (``sm test`` exits 2).
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from statemachine.errors import DefinitionError, ResourceNotFoundError
from statemachine.testing.mockconfig import (
    MockedResponses,
    _ptr,
    _Source,
    check_states,
    load_mock_config,
    parse_responses,
    read_document,
)
from statemachine.testing.mocks import MockPlan, always, load_for_test, state_types
from statemachine.values import JSON, MISSING

__all__ = ["CaseResult", "TestFile", "expand_test_paths", "load_test_file", "path_of", "run_cases"]

SUFFIXES = (".test.yaml", ".test.yml", ".test.json")
_FILE_FIELDS = {"definition", "resources", "mock_config", "state_machine", "MockedResponses", "cases"}
_CASE_FIELDS = {"input", "test_case", "mocks", "seed", "virtual_time", "timeout", "expect"}
_EXPECT_FIELDS = {"status", "output", "output_subset", "error", "cause", "path"}
_STATUSES = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
DEFAULT_TIMEOUT = 60.0  # wall-clock seconds per case before it is aborted


@dataclasses.dataclass(frozen=True)
class Case:
    """One case of a test file, checked."""

    name: str
    input: JSON
    mocks: MockPlan
    expect: Mapping[str, JSON]
    seed: int | None
    virtual_time: bool
    timeout: float
    line: int


@dataclasses.dataclass(frozen=True)
class TestFile:
    """A loaded test file: its machine and its cases."""

    __test__ = False
    path: str
    machine: Any
    cases: tuple[Case, ...]


@dataclasses.dataclass
class CaseResult:
    """What one case did and how it compared: ``failures`` are messages with diffs."""

    file: str
    name: str
    line: int
    status: str = ""
    output: JSON = None
    error: str | None = None
    cause: str | None = None
    path: list[str] = dataclasses.field(default_factory=list)
    failures: list[str] = dataclasses.field(default_factory=list)
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "name": self.name, "line": self.line, "passed": self.passed,
                "status": self.status, "output": self.output, "error": self.error,
                "cause": self.cause, "path": self.path, "failures": self.failures,
                "seconds": round(self.seconds, 6)}


def expand_test_paths(paths: Sequence[str]) -> list[str]:
    """Test files as given; folders replaced by the ``*.test.yaml`` files below them."""
    found: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            found += sorted(str(p) for p in Path(path).rglob("*") if p.name.endswith(SUFFIXES) and p.is_file())
        else:
            found.append(path)
    return found


def is_test_file(path: str | os.PathLike[str]) -> bool:
    return os.fspath(path).endswith(SUFFIXES)


def path_of(history: Iterable[Mapping[str, Any]]) -> list[str]:
    """The states entered, in order, from a history (AWS event dicts)."""
    return [event["stateEnteredEventDetails"]["name"] for event in history
            if event["type"].endswith("StateEntered")]


# -- loading ----------------------------------------------------------------------------------
def load_test_file(path: str) -> TestFile:
    """Read and check one test file and load its definition. Raises MockConfigError."""
    data, doc = read_document(path, "test file")
    src = _Source(doc, path)
    unknown = set(data) - _FILE_FIELDS
    if unknown:
        field = sorted(unknown)[0]
        raise src.error(f"unknown field {field!r} (a test file has: {', '.join(sorted(_FILE_FIELDS))})", _ptr(field))
    base = Path(path).parent
    definition = _relative(data, "definition", base, src, required=True)
    assert definition is not None
    machine = _load_machine(definition, _relative(data, "resources", base, src), src)
    names = state_types(machine.definition)
    named = _named_responses(data, src)
    mock_file = _relative(data, "mock_config", base, src)
    config = load_mock_config(mock_file) if mock_file is not None else None
    default_name = Path(definition).name.split(".")[0]
    machine_key = data.get("state_machine", default_name)
    if not isinstance(machine_key, str):
        raise src.error("state_machine must be a string", "/state_machine")
    cases = data.get("cases")
    if not isinstance(cases, dict) or not cases:
        raise src.error("cases must be an object of case name -> case", "/cases")
    context = _Context(src, names, named, config, machine_key)
    return TestFile(path, machine, tuple(_case(name, body, context) for name, body in cases.items()))


def _relative(data: Mapping[str, JSON], field: str, base: Path, src: _Source, *, required: bool = False) -> str | None:
    value = data.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise src.error(f"{field} must name a file (relative to the test file)", _ptr(field) if field in data else "")
    full = base / value
    if not full.is_file():
        raise src.error(f"{field} file not found: {full}", _ptr(field))
    return str(full)


def _load_machine(definition: str, resource_map: str | None, src: _Source) -> Any:
    if resource_map is not None:  # a bad map is named at the test file's resources line
        from statemachine.resources.registry import coerce_registry

        try:
            coerce_registry(None, resource_map, base_dir=Path(definition).parent)
        except (ResourceNotFoundError, OSError, ValueError) as exc:  # ResourceMapError is one
            raise src.error(f"cannot use resource map {resource_map}: {exc}", "/resources") from None
    try:
        return load_for_test(Path(definition), resource_map=resource_map)
    except DefinitionError as exc:
        first = exc.diagnostics[0]
        where = f"{definition}:{first.line}:{first.column}" if first.line else definition
        raise src.error(f"invalid definition ({where}: {first.message})", "/definition") from None
    except (ResourceNotFoundError, OSError, ValueError) as exc:
        raise src.error(f"cannot load {definition}: {exc}", "/definition") from None


def _named_responses(data: Mapping[str, JSON], src: _Source) -> dict[str, MockedResponses]:
    raw = data.get("MockedResponses", {})
    if not isinstance(raw, dict):
        raise src.error("MockedResponses must be an object", "/MockedResponses")
    return {name: parse_responses(name, body, src, _ptr("MockedResponses", name)) for name, body in raw.items()}


@dataclasses.dataclass(frozen=True)
class _Context:
    src: _Source
    states: Mapping[str, str]  # state name -> Type
    named: Mapping[str, MockedResponses]
    config: Any
    machine_key: str


def _case(name: str, body: JSON, ctx: _Context) -> Case:
    src, here = ctx.src, _ptr("cases", name)
    if not isinstance(body, dict):
        raise src.error(f"case {name!r} must be an object", here)
    unknown = set(body) - _CASE_FIELDS
    if unknown:
        field = sorted(unknown)[0]
        raise src.error(f"case {name!r}: unknown field {field!r} (a case has: {', '.join(sorted(_CASE_FIELDS))})",
                        f"{here}{_ptr(field)}")
    mocks: dict[str, MockedResponses] = {}
    if "test_case" in body:
        if ctx.config is None:
            raise src.error(f"case {name!r}: test_case needs mock_config in the file", f"{here}/test_case")
        # a problem in the mock file is reported at its place in the mock file
        mocks.update(ctx.config.test_case(ctx.machine_key, str(body["test_case"]), ctx.states).states)
    mocks.update(_inline_mocks(name, body.get("mocks", {}), ctx, f"{here}/mocks"))
    expect = body.get("expect", {})
    _check_expect(name, expect, src, f"{here}/expect")
    assert isinstance(expect, dict)
    return Case(name, body.get("input", {}), MockPlan(mocks), expect, _seed(name, body, src, here),
                _virtual_time(name, body, src, here), _timeout(name, body, src, here),
                src.doc.position(here)[0] if src.doc is not None else 0)


def _inline_mocks(case: str, raw: JSON, ctx: _Context, pointer: str) -> dict[str, MockedResponses]:
    src = ctx.src
    if not isinstance(raw, dict):
        raise src.error(f"case {case!r}: mocks must map state names to mocked responses", pointer)
    mocks: dict[str, MockedResponses] = {}
    for state, spec in raw.items():
        here = f"{pointer}{_ptr(state)}"
        if isinstance(spec, str):
            if spec not in ctx.named and (ctx.config is None or spec not in ctx.config.responses):
                raise src.error(f"case {case!r}, state {state!r}: no mocked response named {spec!r}", here)
            mocks[state] = ctx.named.get(spec) or ctx.config.responses[spec]
        elif isinstance(spec, dict) and set(spec) & {"Return", "Throw"}:  # every invocation
            checked = parse_responses(f"{case}/{state}", {"0": spec}, src, here)
            mocks[state] = always(checked.ranges[0][2], checked.name)
        else:
            mocks[state] = parse_responses(f"{case}/{state}", spec, src, here)
    from statemachine.testing.mockconfig import TestCase

    check_states(TestCase(case, mocks), ctx.states, src, pointer)
    return mocks


def _check_expect(case: str, expect: JSON, src: _Source, pointer: str) -> None:
    if not isinstance(expect, dict):
        raise src.error(f"case {case!r}: expect must be an object", pointer)
    unknown = set(expect) - _EXPECT_FIELDS
    if unknown:
        field = sorted(unknown)[0]
        raise src.error(f"case {case!r}: unknown expectation {field!r} (use: {', '.join(sorted(_EXPECT_FIELDS))})",
                        f"{pointer}{_ptr(field)}")
    if "status" in expect and expect["status"] not in _STATUSES:
        raise src.error(f"case {case!r}: status must be one of {', '.join(sorted(_STATUSES))}", f"{pointer}/status")
    if "output" in expect and "output_subset" in expect:
        raise src.error(f"case {case!r}: give output or output_subset, not both", f"{pointer}/output_subset")
    for field in ("error", "cause"):
        if field in expect and not isinstance(expect[field], str):
            raise src.error(f"case {case!r}: {field} must be a string", f"{pointer}/{field}")
    path = expect.get("path", [])
    if not isinstance(path, list) or not all(isinstance(p, str) for p in path):
        raise src.error(f"case {case!r}: path must be a list of state names", f"{pointer}/path")


def _seed(case: str, body: Mapping[str, JSON], src: _Source, here: str) -> int | None:
    seed = body.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise src.error(f"case {case!r}: seed must be an integer", f"{here}/seed")
    return seed


def _virtual_time(case: str, body: Mapping[str, JSON], src: _Source, here: str) -> bool:
    value = body.get("virtual_time", True)
    if not isinstance(value, bool):
        raise src.error(f"case {case!r}: virtual_time must be true or false", f"{here}/virtual_time")
    return value


def _timeout(case: str, body: Mapping[str, JSON], src: _Source, here: str) -> float:
    value = body.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise src.error(f"case {case!r}: timeout must be a positive number of seconds", f"{here}/timeout")
    return float(value)


# -- running ----------------------------------------------------------------------------------
def run_cases(files: Sequence[TestFile], workers: int = 8) -> list[CaseResult]:
    """Run every case of ``files`` at once, each execution on its own event loop in a worker
    thread (a virtual clock jumps only when its own loop is idle, so executions sharing one
    loop would hold each other's time still); results in file order."""
    from concurrent.futures import ThreadPoolExecutor

    jobs = [(test_file, case) for test_file in files for case in test_file.cases]
    if not jobs:
        return []
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(jobs))), thread_name_prefix="sm-test") as pool:
        return list(pool.map(lambda job: _run_case(*job), jobs))


def _run_case(test_file: TestFile, case: Case) -> CaseResult:
    result = CaseResult(test_file.path, case.name, case.line)
    started = time.perf_counter()
    try:
        execution = test_file.machine.run(
            case.input, virtual_time=case.virtual_time, seed=case.seed, mocks=case.mocks,
            timeout=case.timeout)
    except Exception as exc:  # bad input and the like: the case fails, the others go on
        result.failures.append(f"the execution could not run: {type(exc).__name__}: {exc}")
        return result
    result.seconds = time.perf_counter() - started
    result.status, result.output = execution.status, execution.output
    result.error, result.cause = execution.error, execution.cause
    result.path = path_of(execution.history)
    result.failures = compare(case.expect, result)
    return result


def compare(expect: Mapping[str, JSON], result: CaseResult) -> list[str]:
    """Messages for each expectation the result does not meet (with a diff for values)."""
    failures: list[str] = []
    status = expect.get("status", "SUCCEEDED")
    if result.status != status:
        detail = f" (error {result.error!r}, cause {result.cause!r})" if result.error else ""
        failures.append(f"status: expected {status}, got {result.status}{detail}")
    for field in ("error", "cause"):
        if field in expect and getattr(result, field) != expect[field]:
            failures.append(f"{field}: expected {expect[field]!r}, got {getattr(result, field)!r}")
    if "output" in expect and result.output != expect["output"]:
        failures.append("output differs:\n" + diff(expect["output"], result.output))
    if "output_subset" in expect and not is_subset(expect["output_subset"], result.output):
        shown = project(expect["output_subset"], result.output)
        failures.append("output does not contain the expected subset:\n" + diff(expect["output_subset"], shown))
    if "path" in expect and result.path != expect["path"]:
        failures.append("path differs:\n" + diff(expect["path"], result.path))
    return failures


def is_subset(expected: JSON, actual: JSON) -> bool:
    """Objects: every expected key present with a subset value; anything else: equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and is_subset(value, actual[key]) for key, value in expected.items())
    return _json_equal(expected, actual)


def _json_equal(expected: JSON, actual: JSON) -> bool:
    """JSON equality: 1 == 1.0, but true is not 1 (Python's == says it is)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual)


def project(expected: JSON, actual: JSON) -> JSON:
    """``actual`` cut down to the keys ``expected`` names (for a readable subset diff)."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        return {key: project(value, actual[key]) for key, value in expected.items() if key in actual}
    return actual


def diff(expected: JSON, actual: JSON) -> str:
    """A unified diff of two JSON values (indented, keys sorted)."""
    def lines(value: JSON) -> list[str]:
        if value is MISSING:
            return ["(nothing)"]
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False, default=str).splitlines()

    return "\n".join(difflib.unified_diff(lines(expected), lines(actual), "expected", "actual", lineterm=""))
