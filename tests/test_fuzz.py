"""Fuzz (issue 9, "Done means"): a seeded mutator over the conformance corpus definitions and
definitions/*.yaml. For every mutant:

- ``load()`` raises nothing but DefinitionError or ResourceNotFoundError;
- ``run()`` (virtual time, a timeout, every Task answered by a local stand-in) raises nothing
  and ends in a final status.

Deterministic: case ``i`` of seed ``s`` is always the same mutant (``SM_FUZZ_SEED``,
``SM_FUZZ_CASES`` change them; a failure message names the seed and case to replay). The
default size keeps the whole test well under a minute on two cores.

The history-event limit is lowered to ``HISTORY_LIMIT`` so endless mutants end quickly (FAILED,
States.Runtime, as AWS ends them at 25,000); callbacks nobody answers end at their deadline
under virtual time (run() does not hold the clock for them).
"""

from __future__ import annotations

import collections
import copy
import json
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import statemachine
from statemachine import DefinitionError
from statemachine.errors import ResourceNotFoundError
from statemachine.resources import ResourceRegistry, TaskRequest
from statemachine.values import JSON
from tests.conformance.corpus import all_cases, corpus_dir

REPO = Path(__file__).resolve().parents[1]
SEED = int(os.environ.get("SM_FUZZ_SEED", "20261130"))
CASES = int(os.environ.get("SM_FUZZ_CASES", "3000"))
HISTORY_LIMIT = 2_000  # AWS: 25,000; lowered so endless mutants end quickly
FINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}

#: Values that broke engines before: huge and odd numbers, paths where literals go, intrinsic
#: calls where paths go, JSONata that does not parse or reads the top level, bad timestamps.
NASTY: tuple[JSON, ...] = (
    0, -1, 1.5, -0.0, 10**15, 2**63, 9223372036854775808, 10**400, 1e308, 99999999,
    "", "$", "$$", "$.x", "$.a[0]", "$..a", "$[?(@.a > 1)]", "$.a[*]", "$$.Execution.Id", "$var",
    "States.ArrayLength($.a)", "States.Format('{}', $.x)", "States.MathAdd(1, 2)",
    "States.StringToJson($.s)", "States.Hash($.a, 'SHA-1')", "States.ArrayRange(1, 100000000, 1)",
    "{% ! %}", "{% phone %}", "{% $states.input %}", "{% $states.result %}", "{% 1/0 %}",
    "{% $x %}", "{% $states.input.n * 1e308 * 10 %}", "{% [1..100000000] %}", "{% $$ %}",
    "2024-01-01T00:00:60Z", "2024-01-01t00:00:00z", "2016-03-14T01:59:00Z", "not a timestamp",
    True, False, None, [], {}, [1, [2, [3]]], {"a.$": "$.b"}, {"x": "{% $states.input %}"},
    "x" * 300, "States.ALL", "States.Runtime", "JSONata", "JSONPath", "DISTRIBUTED",
)
FIELDS = (
    "Next", "End", "Type", "Comment", "InputPath", "OutputPath", "ResultPath", "Parameters",
    "ResultSelector", "Result", "Arguments", "Output", "Assign", "QueryLanguage", "Seconds",
    "SecondsPath", "Timestamp", "TimestampPath", "TimeoutSeconds", "TimeoutSecondsPath",
    "HeartbeatSeconds", "Retry", "Catch", "Choices", "Default", "Error", "Cause", "ErrorPath",
    "CausePath", "Items", "ItemsPath", "ItemSelector", "MaxConcurrency", "ToleratedFailureCount",
    "ToleratedFailurePercentage", "ItemBatcher", "Variable", "Condition", "StringEquals",
    "NumericEquals", "TimestampEquals", "IsPresent", "And", "Not", "Label",
)
TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
NUMBERS: tuple[JSON, ...] = tuple(v for v in NASTY if isinstance(v, (int, float)) and not isinstance(v, bool))
PATHS: tuple[JSON, ...] = ("$.x", "$.y", "$$.Execution.Input.x")
WAIT = ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")
EXPRESSIONS: tuple[JSON, ...] = (
    "{% $states.input.x * $states.input.y %}", "{% $string($states.input.x) %}",
    "{% $states.input.x[$states.input.y] %}", "{% [1..$states.input.x] %}",
    "{% $pad('a', $states.input.x) %}", "{% $states.input.x %}", "{% $formatNumber($states.input.x, '#') %}",
)
PAYLOADS: tuple[JSON, ...] = tuple({"a.$": f"States.{call}"} for call in (
    "MathAdd($.x, $.y)", "ArrayRange(0, $.x, 1)", "StringSplit($.x, $.y)", "Base64Decode($.x)",
    "ArrayPartition($.x, $.y)", "Format($.x, $.y)", "ArrayGetItem($.x, $.y)", "MathRandom($.x, $.y)",
    "StringToJson($.x)", "JsonToString($.x)", "Hash($.x, $.y)", "UUID()", "ArrayUnique($.x)"))
#: Per state type: (fields removed first, field set, values) -- aimed so that the mutant still
#: validates and the input (mutate_input) decides what happens at run time.
TARGETED: dict[str, tuple[tuple[tuple[str, ...], str, tuple[JSON, ...]], ...]] = {
    "Wait": ((WAIT, "Seconds", NUMBERS), (WAIT, "SecondsPath", PATHS), (WAIT, "TimestampPath", PATHS),
             (WAIT, "Seconds", EXPRESSIONS), (WAIT, "Timestamp", EXPRESSIONS)),
    "Task": ((("TimeoutSecondsPath",), "TimeoutSeconds", NUMBERS), (("TimeoutSeconds",), "TimeoutSecondsPath", PATHS),
             (("HeartbeatSecondsPath",), "HeartbeatSecondsPath", PATHS), ((), "Parameters", PAYLOADS),
             ((), "ResultSelector", PAYLOADS), ((), "ResultPath", ("$.x", "$.x[0]", "$.y.z")),
             ((), "Retry", ([{"ErrorEquals": ["States.ALL"], "MaxAttempts": 3, "IntervalSeconds": 99999999,
                              "BackoffRate": 99, "JitterStrategy": "FULL"}],)),
             ((), "Output", EXPRESSIONS), ((), "Arguments", EXPRESSIONS)),
    "Pass": (((), "Parameters", PAYLOADS), ((), "InputPath", PATHS), ((), "OutputPath", PATHS),
             ((), "ResultPath", ("$.x", "$.x[0]", "$.y.z")), ((), "Output", EXPRESSIONS)),
    "Map": ((("MaxConcurrency",), "MaxConcurrencyPath", PATHS), (("MaxConcurrencyPath",), "MaxConcurrency", NUMBERS),
            ((), "ItemsPath", PATHS), ((), "ToleratedFailureCountPath", PATHS), ((), "Items", EXPRESSIONS),
            ((), "ItemSelector", PAYLOADS), ((), "ToleratedFailurePercentagePath", PATHS)),
    "Fail": ((("Error",), "ErrorPath", PATHS), (("Cause",), "CausePath", PATHS + PAYLOADS[:1])),
    "Choice": ((("Choices",), "Choices", tuple([{"Variable": "$.x", op: v, "Next": "__NEXT__"}]
                                          for op, v in (("NumericEquals", 10**15), ("TimestampLessThan", "2016-03-14T01:59:00Z"),
                                                        ("StringMatches", "*a*"), ("NumericLessThanPath", "$.y"),
                                                        ("IsTimestamp", True)))),),
}


def _sources() -> list[tuple[str, JSON, JSON]]:
    """(name, definition dict, input) of every corpus definition and example definition."""
    from statemachine.loader import load_source

    found: list[tuple[str, JSON, JSON]] = []
    for path in sorted((REPO / "definitions").glob("*.yaml")):
        found.append((path.name, load_source(path).data, {}))
    if corpus_dir() is not None:
        for case in all_cases():
            definition = case.definition
            if isinstance(definition, str):
                try:
                    definition = json.loads(definition)
                except ValueError:
                    continue
            if isinstance(definition, dict):
                found.append((case.id, definition, case.data.get("input")))
    return found


# --- the mutator ---------------------------------------------------------------------------------

def _nodes(value: JSON, path: tuple[Any, ...] = ()) -> Iterator[tuple[tuple[Any, ...], JSON]]:
    yield path, value
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _nodes(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _nodes(item, (*path, index))


def _parent(root: JSON, path: tuple[Any, ...]) -> Any:
    node: Any = root
    for key in path[:-1]:
        node = node[key]
    return node


def _strings(root: JSON) -> list[str]:
    return [v for _, v in _nodes(root) if isinstance(v, str)] or ["A"]


def mutate(definition: JSON, rng: random.Random) -> JSON:
    """A copy of ``definition`` with 1-3 random mutations."""
    root = copy.deepcopy(definition)
    for _ in range(rng.randint(1, 3)):
        nodes = list(_nodes(root))[1:]
        if not nodes:
            break
        path, value = rng.choice(nodes)
        parent = _parent(root, path)
        kind = rng.randrange(9)
        kind = 7 if kind == 8 else kind
        if kind == 0:  # replace a value with a nasty one
            parent[path[-1]] = copy.deepcopy(rng.choice(NASTY))
        elif kind == 1 and isinstance(parent, dict):  # drop a field
            del parent[path[-1]]
        elif kind == 2 and isinstance(value, dict):  # add a field
            value[rng.choice(FIELDS)] = copy.deepcopy(rng.choice(NASTY + tuple(_strings(root)[:20])))
        elif kind == 3:  # point somewhere else: a string of the definition (state names ...)
            parent[path[-1]] = rng.choice(_strings(root))
        elif kind == 4 and isinstance(value, dict) and "Type" in value:  # change the state type
            value["Type"] = rng.choice(TYPES)
        elif kind == 5 and isinstance(value, dict):  # change the query language
            value["QueryLanguage"] = rng.choice(("JSONata", "JSONPath"))
        elif kind == 7:  # a targeted field on a state, often reading the input
            _target(root, rng)
        elif kind == 6 and isinstance(value, (int, float)) and not isinstance(value, bool):
            parent[path[-1]] = rng.choice((value * 10**12, -value, 2**53 + 1, 0.5))
    return root


def _target(root: JSON, rng: random.Random) -> None:
    states = [n for _, n in _nodes(root) if isinstance(n, dict) and isinstance(n.get("Type"), str) and n["Type"] in TARGETED]
    if not states:
        return
    state = rng.choice(states)
    removed, field, values = rng.choice(TARGETED[state["Type"]])
    for name in removed:
        state.pop(name, None)
    value = copy.deepcopy(rng.choice(values))
    if field == "Choices":  # keep the rule's target: the state's Default (or its first old target)
        value[0]["Next"] = state.get("Default") or "__NEXT__"
    state[field] = value


_FIELD = re.compile(r"\$(?:states\.input)?\.([A-Za-z_][A-Za-z0-9_]*)")


def mutate_input(definition: JSON, data: JSON, rng: random.Random) -> JSON:
    """The input with nasty values under some of the names the definition's paths read."""
    names = sorted({m.group(1) for text in _strings(definition) for m in _FIELD.finditer(text)})
    if not names or rng.random() < 0.3:
        return copy.deepcopy(rng.choice(NASTY)) if rng.random() < 0.3 else data
    base = dict(data) if isinstance(data, dict) else {}
    for name in rng.sample(names, min(len(names), rng.randint(1, 3))):
        base[name] = copy.deepcopy(rng.choice(NASTY))
    return base


# --- running a mutant ------------------------------------------------------------------------------

def _stand_in(request: TaskRequest) -> JSON:
    """Every Task: echo the input, or fail with a named error for some inputs."""
    text = json.dumps(request.input, default=str)
    if len(text) % 5 == 0:
        raise RuntimeError("stand-in failure")
    return request.input


def _registry() -> ResourceRegistry:
    registry = ResourceRegistry()
    registry.register("", _stand_in, prefix=True)
    return registry


def check_case(definition: JSON, data: JSON, registry: ResourceRegistry) -> tuple[str, str | None]:
    """(outcome, problem): outcome "refused" or "ran"; problem None when
    the mutant behaved, else what went wrong."""
    try:
        machine = statemachine.load(definition, resources=registry)
    except (DefinitionError, ResourceNotFoundError):
        return "refused", None
    except Exception as exc:
        return "load", f"load() raised {type(exc).__name__}: {str(exc)[:300]}"
    try:
        execution = machine.run(data, virtual_time=True, timeout=5, rng=random.Random(0),
                                history_limit=HISTORY_LIMIT)
    except Exception as exc:
        return "run", f"run() raised {type(exc).__name__}: {str(exc)[:300]}"
    if execution.status not in FINAL:
        return "run", f"run() returned status {execution.status}"
    return "ran", None


@pytest.mark.filterwarnings("ignore")  # a mutant may make jsonata-python warn; not our subject
def test_mutated_definitions_load_or_refuse_and_runs_end() -> None:
    sources = _sources()
    rng = random.Random(SEED)
    registry = _registry()
    failures: list[str] = []
    outcomes: collections.Counter[str] = collections.Counter()
    for index in range(CASES):
        name, definition, data = rng.choice(sources)
        mutant = mutate(definition, random.Random(rng.getrandbits(64)))
        if rng.random() < 0.5:
            data = mutate_input(mutant, data, random.Random(rng.getrandbits(64)))
        outcome, problem = check_case(mutant, data, registry)
        outcomes[outcome] += 1
        if problem is not None:
            failures.append(f"case {index} (seed {SEED}, from {name}): {problem}\n  "
                            f"{json.dumps(mutant, default=str)[:600]}")
    assert not failures, f"{len(failures)} of {CASES} mutants misbehaved:\n" + "\n".join(failures[:15])
    # not vacuous: a good share of the mutants is accepted and runs
    assert outcomes["ran"] >= CASES // 5, outcomes


def test_the_harness_reports_what_it_must(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fuzz assertion can fail: a load() that raises anything else is reported."""
    registry = _registry()
    definition = {"StartAt": "P", "States": {"P": {"Type": "Pass", "End": True}}}
    assert check_case(definition, {}, registry) == ("ran", None)
    assert check_case({"StartAt": "P"}, {}, registry) == ("refused", None)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("x")

    monkeypatch.setattr(statemachine, "load", broken)
    outcome, problem = check_case(definition, {}, registry)
    assert outcome == "load" and problem is not None and "KeyError" in problem


#: Text fragments that broke YAML/JSON loaders before.
TEXT_NASTY = ("!!python/object:os.system", "&a [*a, *a]", "*a", "<<: {}", "{", "]", "\t", "\x00",
              "1" * 4301, "1e999", ".inf", "0x1F", "010", "on", "? [a]\n", "- ", ": :", '"\\ud800"',
              "{% ! %}", "!!binary aGk=", "%YAML 1.1\n---\n", "\ufeff", "---\n...\n---\n")


def mutate_text(text: str, rng: random.Random) -> str:
    """``text`` with 1-3 edits: a fragment inserted, a span deleted, or a line repeated."""
    for _ in range(rng.randint(1, 3)):
        at = rng.randrange(len(text) + 1)
        kind = rng.randrange(3)
        if kind == 0:
            text = text[:at] + rng.choice(TEXT_NASTY) + text[at:]
        elif kind == 1:
            text = text[:at] + text[at + rng.randint(1, 40):]
        else:
            lines = text.splitlines(keepends=True) or [""]
            index = rng.randrange(len(lines))
            lines.insert(index, lines[index])
            text = "".join(lines)
    return text


@pytest.mark.filterwarnings("ignore")
def test_mutated_definition_text_loads_or_is_refused_with_diagnostics() -> None:
    """The YAML/JSON texts of definitions/ with random edits: ``check`` never raises and
    ``load`` raises nothing but DefinitionError / ResourceNotFoundError."""
    from statemachine.validation import check

    texts = [p.read_text(encoding="utf-8") for p in sorted((REPO / "definitions").glob("*.yaml"))]
    texts += [json.dumps(definition) for _, definition, _ in _sources()[len(texts):][:200]]
    rng = random.Random(SEED)
    registry = _registry()
    failures = []
    for index in range(CASES // 4):
        text = mutate_text(rng.choice(texts), random.Random(rng.getrandbits(64)))
        try:
            check(text)
            statemachine.load(text, resources=registry)
        except (DefinitionError, ResourceNotFoundError):
            pass
        except Exception as exc:
            failures.append(f"case {index} (seed {SEED}): {type(exc).__name__}: {str(exc)[:200]}\n  {text[:300]!r}")
    assert not failures, "\n".join(failures[:10])
