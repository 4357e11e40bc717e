"""Randomness: AWS's seeded functions (Java's generator) and one recorded seed per execution.

Golden values: AWS's JSONata ``$random(42)`` is 0.7275636800328681 (issue 9, item 10), which is
``new java.util.Random(42).nextDouble()``; the other ``java.util.Random`` values are the JDK's
well-known outputs (``new Random(0).nextInt() == -1155484576``, ``new Random(42).nextInt() ==
-1170105035``, ``new Random(0).nextDouble() == 0.730967787376657``, ``"hello".hashCode() ==
99162322``).
"""

from __future__ import annotations

import random
import re

import pytest

import statemachine
from statemachine.randomness import JavaRandom, java_long
from statemachine.store import MemoryStore

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_java_random_matches_the_jdk() -> None:
    assert JavaRandom(42).next_double() == 0.7275636800328681
    assert JavaRandom(0).next_double() == 0.730967787376657
    assert JavaRandom(0).next_int() == -1155484576
    assert JavaRandom(42).next_int() == -1170105035
    assert java_long("hello") == 99162322


def test_java_random_bounded_ints_stay_in_range() -> None:
    java = JavaRandom(7)
    values = [java.next_int(999) for _ in range(2000)] + [java.next_int(64) for _ in range(100)]
    assert all(0 <= v < 999 for v in values)
    with pytest.raises(ValueError):
        java.next_int(0)


@pytest.mark.parametrize(("value", "expected"), [
    (42, 42), (42.9, 42), (-42.9, -42), (float("nan"), 0), (1e300, 2**63 - 1), (-1e300, -(2**63)),
])
def test_seeds_convert_like_a_java_long_cast(value: float, expected: int) -> None:
    assert java_long(value) == expected


def _jsonata(expression: str) -> statemachine.StateMachine:
    return statemachine.load({"QueryLanguage": "JSONata", "StartAt": "A", "States": {
        "A": {"Type": "Pass", "Output": "{% " + expression + " %}", "End": True}}})


def test_seeded_jsonata_random_is_awss_number() -> None:
    execution = _jsonata("[$random(42), $random($states.input.seed)]").run({"seed": 42})
    assert execution.output == [0.7275636800328681, 0.7275636800328681]


def test_seeded_math_random_is_deterministic_and_in_range() -> None:
    # AWS documents only "the same seed value returns an identical number".
    machine = statemachine.load({"StartAt": "A", "States": {"A": {
        "Type": "Pass", "End": True,
        "Parameters": {"r.$": "States.MathRandom(1, 999, $.seed)"}}}})
    first = machine.run({"seed": 3}).output["r"]
    assert machine.run({"seed": 3}).output["r"] == first
    assert 1 <= first < 999
    draws = {machine.run({"seed": s}).output["r"] for s in range(20)}
    assert len(draws) > 10 and all(1 <= d < 999 for d in draws)


_DRAWS = {"StartAt": "A", "States": {
    "A": {"Type": "Pass", "QueryLanguage": "JSONata", "Output": "{% [$random(), $uuid()] %}",
          "Next": "B"},
    "B": {"Type": "Pass", "End": True, "Parameters": {
        "prev.$": "$", "id.$": "States.UUID()", "n.$": "States.MathRandom(0, 1000000)"}}}}


def test_one_seed_reproduces_every_draw() -> None:
    machine = statemachine.load(_DRAWS)
    first = machine.run({}, seed=1234)
    again = machine.run({}, seed=1234)
    other = machine.run({}, seed=1235)
    assert first.seed == 1234 and first.to_dict()["seed"] == 1234
    assert again.output == first.output and again.name == first.name
    assert other.output != first.output and other.name != first.name
    assert _UUID.fullmatch(first.output["id"]) and _UUID.fullmatch(first.name)


def test_an_unseeded_run_records_the_seed_it_drew() -> None:
    machine = statemachine.load(_DRAWS)
    store = MemoryStore()
    first = machine.run({}, store=store)
    assert isinstance(first.seed, int)
    assert store.execution(first.execution_arn)["seed"] == first.seed
    replay = machine.run({}, seed=first.seed)
    assert replay.output == first.output and replay.name == first.name


def test_rng_still_works_and_gives_a_recorded_seed() -> None:
    machine = statemachine.load(_DRAWS)
    first = machine.run({}, rng=random.Random(9))
    assert machine.run({}, rng=random.Random(9)).output == first.output
    assert machine.run({}, seed=first.seed).output == first.output
    with pytest.raises(TypeError):
        machine.run({}, seed=1, rng=random.Random(1))


def test_task_tokens_come_from_the_seed() -> None:
    machine = statemachine.load(
        {"StartAt": "T", "States": {"T": {"Type": "Task", "End": True,
                                          "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken",
                                          "Parameters": {"FunctionName": "f", "t.$": "$$.Task.Token"}}}},
        resources={"arn:aws:states:::lambda:invoke.waitForTaskToken": lambda payload: None})
    tokens = []
    for _ in range(2):
        execution = machine.start({}, seed=77)
        token = execution.wait_for_task_token(timeout=30)
        tokens.append(token)
        execution.send_task_success(token, {})
        execution.wait(30)
    assert tokens[0] == tokens[1]


def test_sm_run_seed_option(tmp_path, capsys) -> None:
    from cli.main import main

    path = tmp_path / "draws.json"
    import json

    path.write_text(json.dumps(_DRAWS))
    assert main(["run", str(path), "--seed", "5", "--json", "-q"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["run", str(path), "--seed", "5", "--json", "-q"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["seed"] == 5 and first["output"] == second["output"]


def test_retry_jitter_comes_from_the_seed() -> None:
    from statemachine.clock import VirtualClock

    calls = {"n": 0}

    def flaky(payload: object) -> object:
        calls["n"] += 1
        if calls["n"] % 4:
            raise RuntimeError("again")
        return {}

    machine = statemachine.load(
        {"StartAt": "T", "States": {"T": {"Type": "Task", "Resource": "custom:flaky", "End": True,
                                          "Retry": [{"ErrorEquals": ["States.ALL"], "MaxAttempts": 5,
                                                     "IntervalSeconds": 10, "JitterStrategy": "FULL"}]}}},
        resources={"custom:flaky": flaky})

    def waits(seed: int) -> list[float]:  # event times: the jittered retry delays
        calls["n"] = 0
        execution = machine.run({}, seed=seed, clock=VirtualClock(start=1_700_000_000.0))
        assert execution.status == "SUCCEEDED"
        return [round(e.timestamp - 1_700_000_000.0, 1) for e in execution.events]  # virtual + a little real time

    assert waits(3) == waits(3)
    assert waits(3) != waits(4)
