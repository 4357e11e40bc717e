"""Benchmark stage 1: workload definitions, inputs and output checks.

In: a workload name and a size. Out: a `Job` -- the ASL definition (a dict), the execution
input, the number of state transitions one execution makes, and a `check` that raises
`WrongOutput` when an engine returns anything but the one right answer (so a fast wrong
answer fails the benchmark). Small definitions whose size comes from the input are committed
as YAML in bench/workloads/; big ones (chains of hundreds of states) are built here and written
to bench/workloads/generated/ at run time, never committed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

WORKLOADS_DIR = Path(__file__).resolve().parent / "workloads"
GENERATED_DIR = WORKLOADS_DIR / "generated"
ECHO_ARN = "arn:aws:lambda:us-east-1:123456789012:function:bench-echo"

JSON = Any


class WrongOutput(AssertionError):
    """An engine finished but its output is not the expected one."""


@dataclass(frozen=True, slots=True)
class Job:
    """One workload at one size, ready to hand to any engine."""

    name: str
    definition: dict[str, JSON]
    input: JSON
    transitions: int
    expected: JSON
    path: Path
    # Task state names -> the bench echo callable (peers that override tasks by state name).
    echo_states: tuple[str, ...] = ()
    features: frozenset[str] = field(default_factory=frozenset)

    def check(self, output: JSON) -> None:
        """Raise WrongOutput unless ``output`` equals the expected result."""
        if output != self.expected:
            raise WrongOutput(
                f"{self.name}: unexpected output {_preview(output)}, "
                f"expected {_preview(self.expected)}"
            )


def _preview(value: JSON, limit: int = 200) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


def load_workload_file(name: str) -> dict[str, JSON]:
    """A committed workload definition (YAML) as a dict."""
    data = yaml.safe_load((WORKLOADS_DIR / f"{name}.yaml").read_text())
    assert isinstance(data, dict)
    return data


def _write(name: str, definition: dict[str, JSON]) -> Path:
    GENERATED_DIR.mkdir(parents=True, exist_ok=True)
    path = GENERATED_DIR / f"{name}.json"
    text = json.dumps(definition, indent=1)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)
    return path


# --- chains ------------------------------------------------------------------------------


def chain_states(n: int, *, prefix: str = "S", tag: str = "chain") -> dict[str, JSON]:
    """n Pass states, each ``Parameters: {from.$: $.last.step, step: i, tag}``, ResultPath $.last."""
    states: dict[str, JSON] = {}
    for i in range(1, n + 1):
        state: dict[str, JSON] = {
            "Type": "Pass",
            "Parameters": {"from.$": "$.last.step", "step": i, "tag": tag},
            "ResultPath": "$.last",
        }
        if i < n:
            state["Next"] = f"{prefix}{i + 1}"
        else:
            state["End"] = True
        states[f"{prefix}{i}"] = state
    return states


def _chain_result(n: int, tag: str = "chain") -> dict[str, JSON]:
    return {"from": n - 1, "step": n, "tag": tag}


def pass_chain(n: int) -> Job:
    definition = {
        "Comment": f"bench: pass chain of {n}",
        "StartAt": "S1",
        "States": chain_states(n),
    }
    return Job(
        "pass_chain",
        definition,
        {"last": {"step": 0}},
        n,
        {"last": _chain_result(n)},
        _write(f"pass_chain_{n}", definition),
    )


def jsonata_definition(n: int) -> dict[str, JSON]:
    """The pass chain in JSONata: Output builds ``last``, Assign keeps the previous step."""
    states: dict[str, JSON] = {}
    for i in range(1, n + 1):
        output: dict[str, JSON] = {
            "last": {"from": "{% $states.input.last.step %}", "step": i, "tag": "chain"}
        }
        if i == n:
            output["seen"] = "{% $seen %}"  # Output sees variables as they were on entry
        state: dict[str, JSON] = {
            "Type": "Pass",
            "Assign": {"seen": "{% $states.input.last.step %}"},
            "Output": output,
        }
        state.update({"Next": f"S{i + 1}"} if i < n else {"End": True})
        states[f"S{i}"] = state
    return {
        "Comment": f"bench: JSONata pass chain of {n}",
        "QueryLanguage": "JSONata",
        "StartAt": "S1",
        "States": states,
    }


def jsonata_chain(n: int) -> Job:
    definition = jsonata_definition(n)
    expected = {"last": _chain_result(n), "seen": n - 2}
    return Job(
        "jsonata_chain",
        definition,
        {"last": {"step": 0}},
        n,
        expected,
        _write(f"jsonata_chain_{n}", definition),
        features=frozenset({"jsonata"}),
    )


def parallel_definition(branches: int, n: int) -> dict[str, JSON]:
    branch_defs = [
        {"StartAt": f"B{b}S1", "States": chain_states(n, prefix=f"B{b}S", tag=f"b{b}")}
        for b in range(branches)
    ]
    return {
        "Comment": f"bench: Parallel of {branches} x {n}-state chains",
        "StartAt": "Fan",
        "States": {"Fan": {"Type": "Parallel", "Branches": branch_defs, "End": True}},
    }


def parallel_chains(branches: int, n: int) -> Job:
    definition = parallel_definition(branches, n)
    expected = [{"last": _chain_result(n, f"b{b}")} for b in range(branches)]
    return Job(
        "parallel",
        definition,
        {"last": {"step": 0}},
        1 + branches * n,
        expected,
        _write(f"parallel_{branches}x{n}", definition),
    )


def payload_records(kib: int) -> list[JSON]:
    """About ``kib`` KiB of JSON records (serialised size)."""
    records: list[JSON] = []
    size = 0
    while size < kib * 1024:
        i = len(records)
        record = {
            "id": i,
            "name": f"record-{i:06d}",
            "active": i % 3 == 0,
            "score": i * 0.5,
            "tags": ["alpha", "beta", f"t{i % 17}"],
            "note": "x" * 40,
        }
        records.append(record)
        size += len(json.dumps(record)) + 2
    return records


def payload_chain(kib: int, n: int) -> Job:
    definition = {
        "Comment": f"bench: {kib} KiB payload through {n} Pass states",
        "StartAt": "S1",
        "States": chain_states(n),
    }
    records = payload_records(kib)
    return Job(
        "payload",
        definition,
        {"last": {"step": 0}, "records": records},
        n,
        {"last": _chain_result(n), "records": records},
        _write(f"payload_chain_{n}", definition),
    )


# --- committed definitions whose size comes from the input -------------------------------


def trivial() -> Job:
    definition = load_workload_file("trivial")
    expected = {"greeting": "hello", "who": "bench", "version": 1}
    return Job(
        "trivial", definition, {"name": "bench"}, 1, expected, WORKLOADS_DIR / "trivial.yaml"
    )


def choice_loop(limit: int) -> Job:
    """Init, then (Check, Increment) x limit, then the last Check and Done: 2*limit + 3."""
    definition = load_workload_file("choice_loop")
    return Job(
        "choice_loop",
        definition,
        {"limit": limit},
        2 * limit + 3,
        {"count": limit, "limit": limit},
        WORKLOADS_DIR / "choice_loop.yaml",
    )


def map_items(name: str, count: int) -> Job:
    """Inline Map (MaxConcurrency 0) of a Pass with Parameters over ``count`` items."""
    definition = load_workload_file("map_items")
    items = [{"id": i, "label": f"item-{i}"} for i in range(count)]
    expected = [{"id": i, "label": f"item-{i}", "kind": "item"} for i in range(count)]
    return Job(
        name, definition, {"items": items}, 1 + count, expected, WORKLOADS_DIR / "map_items.yaml"
    )


def nested_map(rows: int, cols: int) -> Job:
    """rows x cols Map items made in-state (AWS's 256 KiB payload limit rules out a flat list)."""
    expected = [{"count": cols, "first": {"r": r, "c": 1}} for r in range(1, rows + 1)]
    return Job(
        "map_100k",
        load_workload_file("map_nested"),
        {"rows": rows, "cols": cols},
        2 + rows * (2 + cols),
        expected,
        WORKLOADS_DIR / "map_nested.yaml",
    )


def task_loop(limit: int) -> Job:
    """Init, then (Call, Check) x limit, then Done: 2*limit + 2 transitions."""
    definition = load_workload_file("task_loop")
    assert definition["States"]["Call"]["Resource"] == ECHO_ARN
    return Job(
        "task_loop",
        definition,
        {"limit": limit},
        2 * limit + 2,
        {"i": limit, "limit": limit},
        WORKLOADS_DIR / "task_loop.yaml",
        echo_states=("Call",),
        features=frozenset({"python-task"}),
    )


# --- the table -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Workload:
    number: int
    name: str
    title: str
    build: Callable[[bool], Job]  # quick -> Job
    kind: str = "throughput"  # "throughput" | "cold-start" | "memory"


WORKLOADS: tuple[Workload, ...] = (
    Workload(
        1, "trivial", "Pass + Parameters, `sm run` cold start", lambda q: trivial(), "cold-start"
    ),
    Workload(
        2,
        "pass_chain",
        "1,000 Pass states with Parameters + ResultPath",
        lambda q: pass_chain(20 if q else 1000),
    ),
    Workload(
        3,
        "choice_loop",
        "Choice loop 0..5,000 with States.MathAdd",
        lambda q: choice_loop(20 if q else 5000),
    ),
    Workload(
        4,
        "map",
        "inline Map over 2,000 items, MaxConcurrency 0",
        lambda q: map_items("map", 20 if q else 2000),
    ),
    Workload(
        5,
        "jsonata_chain",
        "the pass chain in JSONata (Output + Assign)",
        lambda q: jsonata_chain(20 if q else 1000),
    ),
    Workload(
        6,
        "parallel",
        "Parallel of 8 branches x 100-state chain",
        lambda q: parallel_chains(8, 5 if q else 100),
    ),
    Workload(
        7,
        "payload",
        "200 KiB payload through 200 Pass states",
        lambda q: payload_chain(4 if q else 200, 10 if q else 200),
    ),
    Workload(
        8,
        "map_100k",
        "Map over 100,000 small items (peak RSS)",
        lambda q: nested_map(4, 50) if q else nested_map(100, 1000),
        "memory",
    ),
    Workload(
        9,
        "task_loop",
        "Task calling a Python callable, 5,000 times",
        lambda q: task_loop(20 if q else 5000),
    ),
)

BY_NAME: Mapping[str, Workload] = {w.name: w for w in WORKLOADS}


def validate_corpus(directory: Path, count: int) -> list[Path]:
    """Write ``count`` distinct valid definitions (chains, loops, maps, parallels) for `sm validate`."""
    directory.mkdir(parents=True, exist_ok=True)
    makers: list[Callable[[int], dict[str, JSON]]] = [
        lambda i: {"StartAt": "S1", "States": chain_states(10 + i % 40)},
        lambda i: load_workload_file("choice_loop"),
        lambda i: load_workload_file("map_items"),
        lambda i: parallel_definition(2 + i % 3, 5),
        lambda i: jsonata_definition(5 + i % 10),
    ]
    paths = []
    for i in range(count):
        definition = dict(makers[i % len(makers)](i))
        definition["Comment"] = f"validate corpus #{i}"
        path = directory / f"definition_{i:03d}.json"
        path.write_text(json.dumps(definition))
        paths.append(path)
    return paths
