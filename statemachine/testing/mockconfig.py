"""Testing stage, the mock file: Step Functions Local's MockConfigFile (JSON or YAML) in, a
checked ``MockConfig`` out (test cases per state machine, mocked responses per invocation).

The format is AWS's (docs: "Using mocked service integrations for testing in Step Functions
Local", "Configuration file for mocked service integrations")::

    StateMachines:
      <machine>:
        TestCases:
          <case>:
            <state name>: <mocked response name>
    MockedResponses:
      <mocked response name>:
        "0":   {Return: <JSON>}                      # the state's first invocation
        "1-2": {Throw: {Error: <name>, Cause: <text>}}  # its second and third

Invocations are counted per state name within one execution, retries included (AWS's
RetryPath: invocation 0 throws, 1-2 throw, 3 returns). An invocation past the last key has no
response: it fails the execution with States.Runtime (AWS: "If you do not specify a mocked
response for a specific retry attempt ... the state machine execution will fail"). Every
problem - bad JSON/YAML, a range that is not ``N`` or ``N-M`` with N <= M, ranges that overlap
or leave a gap from 0, a response without exactly one of Return/Throw, a test case naming a
missing response, an unknown state or machine - raises ``MockConfigError`` naming file, line
and column.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from statemachine.errors import DefinitionError, StateMachineError
from statemachine.values import JSON, MISSING

__all__ = ["MockConfig", "MockConfigError", "MockResponse", "MockedResponses", "TestCase",
           "load_mock_config", "parse_responses"]

_RANGE = re.compile(r"(\d+)(?:-(\d+))?\Z")


class MockConfigError(StateMachineError):
    """A mock or test file cannot be used: ``file:line:column: message`` (one line)."""

    def __init__(self, message: str, file: str | None = None, line: int = 0, column: int = 0) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        super().__init__(self.format())

    def format(self) -> str:
        where = ":".join(str(part) for part in (self.file, self.line or None, self.column or None) if part)
        return f"{where}: {self.message}" if where else self.message


@dataclasses.dataclass(frozen=True, slots=True)
class MockResponse:
    """One mocked answer: ``Return`` a value, or ``Throw`` error/cause (``value`` is MISSING)."""

    value: Any = MISSING
    error: str | None = None
    cause: str | None = None

    @property
    def throws(self) -> bool:
        return self.value is MISSING


@dataclasses.dataclass(frozen=True, slots=True)
class MockedResponses:
    """A named sequence of responses by invocation: ``ranges`` are (first, last, response)."""

    name: str
    ranges: tuple[tuple[int, int, MockResponse], ...]
    #: the last response answers every later invocation too (a test file's or sm_mock's
    #: single response); a mock file's ranges end where they end
    repeat_last: bool = False

    def at(self, invocation: int) -> MockResponse | None:
        """The response of the 0-based ``invocation``; None past the last range (unless
        ``repeat_last``)."""
        for first, last, response in self.ranges:
            if first <= invocation <= last:
                return response
        return self.ranges[-1][2] if self.repeat_last and self.ranges else None

    def covered(self) -> str:
        """The invocations the ranges answer, for messages: ``0``, ``0-3``, ``none``."""
        if not self.ranges:
            return "none"
        last = self.ranges[-1][1]
        return "0" if last == 0 else f"0-{last}"


@dataclasses.dataclass(frozen=True, slots=True)
class TestCase:
    """One test case: state name -> its mocked responses."""

    __test__ = False  # not a pytest test class
    name: str
    states: Mapping[str, MockedResponses]


class _Source:
    """Positions of JSON pointers in one loaded file."""

    def __init__(self, doc: Any, file: str) -> None:
        self.doc = doc
        self.file = file

    def error(self, message: str, pointer: str) -> MockConfigError:
        line, column = self.doc.position(pointer) if self.doc is not None else (0, 0)
        return MockConfigError(message, self.file, line, column)


def _ptr(*parts: str | int) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def read_document(source: str | os.PathLike[str], what: str) -> tuple[dict[str, JSON], Any]:
    """Load a YAML/JSON object with its source map; MockConfigError (with line) when it cannot."""
    from statemachine.loader import load_source

    file = os.fspath(source)
    if not os.path.isfile(file):
        raise MockConfigError(f"{what} not found", file)
    try:
        doc = load_source(Path(file), name=file)
    except DefinitionError as exc:
        first = exc.diagnostics[0]
        message = first.message
        if first.code == "not-an-object":  # the loader's words are about definitions
            message = f"a {what} must be an object (a mapping)" + message[message.index(";"):] \
                if ";" in message else f"a {what} must be an object (a mapping)"
        raise MockConfigError(message, file, first.line, first.column) from None
    for problem in doc.problems:
        if problem.severity == "error":
            raise MockConfigError(problem.message, file, problem.line, problem.column)
    assert isinstance(doc.data, dict)
    return doc.data, doc


def parse_responses(name: str, body: JSON, src: _Source, pointer: str) -> MockedResponses:
    """One entry of ``MockedResponses`` (``{"0": {...}, "1-2": {...}}``) checked."""
    if not isinstance(body, dict):  # {} is allowed: a run that reaches it fails (States.Runtime)
        raise src.error(f"mocked response {name!r} must be an object of invocation ranges "
                        '("0", "1-2") to {Return: ...} or {Throw: ...}', pointer)
    found_ranges: list[tuple[int, int, str, MockResponse]] = []
    for key, answer in body.items():
        here = f"{pointer}{_ptr(key)}"
        found = _RANGE.match(key)
        if found is None:
            raise src.error(f"mocked response {name!r}: bad range {key!r} (use \"N\" or \"N-M\", "
                            "counting invocations from 0)", here)
        first = int(found.group(1))
        last = int(found.group(2)) if found.group(2) is not None else first
        if last < first:
            raise src.error(f"mocked response {name!r}: bad range {key!r} ({first} > {last})", here)
        found_ranges.append((first, last, key, _response(name, key, answer, src, here)))
    found_ranges.sort(key=lambda item: item[0])
    expected = 0
    for first, last, key, _ in found_ranges:
        if first < expected:
            raise src.error(f"mocked response {name!r}: range {key!r} overlaps an earlier range",
                            f"{pointer}{_ptr(key)}")
        if first > expected:
            gap = str(expected) if first - 1 == expected else f"{expected}-{first - 1}"
            raise src.error(f"mocked response {name!r}: no response for invocation {gap} "
                            "(ranges must follow each other from 0)", f"{pointer}{_ptr(key)}")
        expected = last + 1
    ranges = tuple((first, last, response) for first, last, _, response in found_ranges)
    return MockedResponses(name, ranges)


def _response(name: str, key: str, answer: JSON, src: _Source, pointer: str) -> MockResponse:
    if not isinstance(answer, dict) or len(answer.keys() & {"Return", "Throw"}) != 1 or len(answer) != 1:
        raise src.error(f"mocked response {name!r} {key!r}: needs exactly one of Return or Throw", pointer)
    if "Return" in answer:
        return MockResponse(value=answer["Return"])
    throw = answer["Throw"]
    if not isinstance(throw, dict) or not isinstance(throw.get("Error"), str) or \
            not isinstance(throw.get("Cause", ""), str) or set(throw) - {"Error", "Cause"}:
        raise src.error(f"mocked response {name!r} {key!r}: Throw needs Error (a string) and "
                        "may have Cause (a string), nothing else", f"{pointer}/Throw")
    cause = throw.get("Cause")
    return MockResponse(error=throw["Error"], cause=cause if isinstance(cause, str) else None)


@dataclasses.dataclass(frozen=True)
class MockConfig:
    """A checked mock file: ``machines[machine][case]`` and the named ``responses``."""

    file: str
    machines: Mapping[str, Mapping[str, TestCase]]
    responses: Mapping[str, MockedResponses]
    _source: Any = dataclasses.field(default=None, repr=False, compare=False)

    def test_case(self, machine: str, case: str, states: Iterable[str] | None = None) -> TestCase:
        """The test case ``case`` of ``machine``; with ``states`` (the definition's state
        names, nested ones included; a mapping name -> Type also checks that each mocked state
        is a Task) every mocked state must be one of them."""
        src = _Source(self._source, self.file)
        cases = self.machines.get(machine)
        if cases is None:
            known = ", ".join(sorted(self.machines)) or "none"
            raise src.error(f"unknown state machine {machine!r} (the file has: {known})", "/StateMachines")
        found = cases.get(case)
        if found is None:
            known = ", ".join(sorted(cases)) or "none"
            raise src.error(f"state machine {machine!r} has no test case {case!r} (it has: {known})",
                            _ptr("StateMachines", machine, "TestCases"))
        if states is not None:
            present: set[str] | dict[str, str] = dict(states) if isinstance(states, Mapping) else set(states)
            check_states(found, present, src, _ptr("StateMachines", machine, "TestCases", case))
        return found


def check_states(case: TestCase, states: set[str] | Mapping[str, str], src: _Source, pointer: str) -> None:
    """MockConfigError for the first mocked state name the definition does not have, or (with
    ``states`` a mapping name -> Type) that is not a Task: a mock answers in place of a Task's
    resource (AWS: "Task states configured to use mocked responses"), on any other state it
    would never be used."""
    for state in case.states:
        if state not in states:
            raise src.error(f"test case {case.name!r} mocks unknown state {state!r}", f"{pointer}{_ptr(state)}")
        kind = states[state] if isinstance(states, Mapping) else "Task"
        if kind != "Task":
            raise src.error(f"test case {case.name!r} mocks {kind} state {state!r}: only Task states "
                            "can be mocked", f"{pointer}{_ptr(state)}")


def load_mock_config(source: str | os.PathLike[str]) -> MockConfig:
    """Read and check a MockConfigFile (JSON or YAML). Raises MockConfigError."""
    data, doc = read_document(source, "mock config file")
    return build_mock_config(data, _Source(doc, os.fspath(source)))


def build_mock_config(data: Mapping[str, JSON], src: _Source) -> MockConfig:
    unknown = set(data) - {"StateMachines", "MockedResponses"}
    if unknown:
        field = sorted(unknown)[0]
        raise src.error(f"unknown field {field!r} (a mock file has StateMachines and MockedResponses)", _ptr(field))
    raw_responses = data.get("MockedResponses", {})
    if not isinstance(raw_responses, dict):
        raise src.error("MockedResponses must be an object", "/MockedResponses")
    responses = {name: parse_responses(name, body, src, _ptr("MockedResponses", name))
                 for name, body in raw_responses.items()}
    raw_machines = data.get("StateMachines", {})
    if not isinstance(raw_machines, dict):
        raise src.error("StateMachines must be an object", "/StateMachines")
    machines = {name: _machine(name, body, responses, src) for name, body in raw_machines.items()}
    return MockConfig(src.file, machines, responses, src.doc)


def _machine(name: str, body: JSON, responses: Mapping[str, MockedResponses],
             src: _Source) -> dict[str, TestCase]:
    pointer = _ptr("StateMachines", name)
    if not isinstance(body, dict) or not isinstance(body.get("TestCases"), dict) or set(body) - {"TestCases"}:
        raise src.error(f"state machine {name!r} must be an object with TestCases only", pointer)
    cases: dict[str, TestCase] = {}
    for case, states in body["TestCases"].items():
        here = f"{pointer}/TestCases{_ptr(case)}"
        if not isinstance(states, dict):
            raise src.error(f"test case {case!r} must map state names to mocked response names", here)
        mapped: dict[str, MockedResponses] = {}
        for state, response in states.items():
            if not isinstance(response, str) or response not in responses:
                raise src.error(f"test case {case!r}, state {state!r}: no mocked response named "
                                f"{response!r} in MockedResponses", f"{here}{_ptr(state)}")
            mapped[state] = responses[response]
        cases[case] = TestCase(case, mapped)
    return cases
