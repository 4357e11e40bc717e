"""statemachine.layout: the console's graph layout, checked on its geometry (every state
drawn once, nothing overlapping, edges joining the boxes they name, branches inside their
Parallel/Map box, loops drawn as back edges) over the example definitions."""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest
import yaml

from statemachine.layout import layout

DEFINITIONS = sorted((Path(__file__).parents[2] / "definitions").glob("*.yaml"))


def state_names(scope: dict[str, Any]) -> list[str]:
    names = []
    for name, state in scope.get("States", {}).items():
        names.append(name)
        for branch in state.get("Branches", []):
            names.extend(state_names(branch))
        processor = state.get("ItemProcessor", state.get("Iterator"))
        if processor:
            names.extend(state_names(processor))
    return names


def overlap(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return (a["x"] < b["x"] + b["width"] and b["x"] < a["x"] + a["width"]
            and a["y"] < b["y"] + b["height"] and b["y"] < a["y"] + a["height"])


def inside(inner: dict[str, Any], outer: dict[str, Any]) -> bool:
    return (outer["x"] <= inner["x"] and inner["x"] + inner["width"] <= outer["x"] + outer["width"]
            and outer["y"] <= inner["y"] and inner["y"] + inner["height"] <= outer["y"] + outer["height"])


@pytest.mark.parametrize("path", DEFINITIONS, ids=lambda p: p.stem)
def test_example_definitions_lay_out_cleanly(path: Path) -> None:
    definition = yaml.safe_load(path.read_text())
    drawn = layout(definition)
    nodes = {node["id"]: node for node in drawn["nodes"]}
    states = [n for n in drawn["nodes"] if n["kind"] in ("state", "compound")]
    assert sorted(n["name"] for n in states) == sorted(state_names(definition))
    lanes = {lane["id"]: lane for lane in drawn["lanes"]}
    # a state is inside the lanes of the compounds holding it, and overlaps nothing else
    for a, b in itertools.combinations(drawn["nodes"], 2):
        if overlap(a, b):
            assert any(inside(a, nodes[ln["owner"]]) or inside(b, nodes[ln["owner"]])
                       for ln in lanes.values()), (a["name"], b["name"])
    for lane in lanes.values():
        assert inside(lane, nodes[lane["owner"]])
    for node in drawn["nodes"]:
        assert node["x"] >= 0 and node["x"] + node["width"] <= drawn["width"] + 0.5
        assert node["y"] >= 0 and node["y"] + node["height"] <= drawn["height"] + 0.5
    for edge in drawn["edges"]:
        source, target = nodes[edge["source"]], nodes[edge["target"]]
        (x0, y0), (x1, y1) = edge["points"][0], edge["points"][-1]
        if edge["back"]:  # leaves the right side, comes back into the right side
            assert x0 == pytest.approx(source["x"] + source["width"], abs=0.2)
            assert x1 == pytest.approx(target["x"] + target["width"], abs=0.2)
        else:  # from the bottom of its source down to the top of its target
            assert y0 == pytest.approx(source["y"] + source["height"], abs=0.2)
            assert y1 == pytest.approx(target["y"], abs=0.2)
            assert source["x"] <= x0 <= source["x"] + source["width"]
            assert target["x"] <= x1 <= target["x"] + target["width"]
            assert y0 < y1


def test_loops_become_back_edges_and_labels_do_not_collide() -> None:
    definition = yaml.safe_load((Path(__file__).parents[2] / "definitions/api_poller.yaml").read_text())
    drawn = layout(definition)
    names = {node["id"]: node["name"] for node in drawn["nodes"]}
    back = [(names[e["source"]], names[e["target"]]) for e in drawn["edges"] if e["back"]]
    assert back == [("WaitBeforeNextPoll", "CheckStatus")]
    boxes = [{"x": e["labelAt"][0] - len(e["label"]) * 3.1, "y": e["labelAt"][1] - 8,
              "width": len(e["label"]) * 6.2, "height": 16} for e in drawn["edges"] if e["label"]]
    assert len(boxes) == 4  # three Choice rules and the Fail state's edge to End
    for a, b in itertools.combinations(boxes, 2):
        assert not overlap(a, b)
    for box in boxes:
        for node in drawn["nodes"]:
            assert not overlap(box, node), node["name"]


def test_parallel_branches_sit_side_by_side_in_their_box() -> None:
    definition = {"StartAt": "Fan", "States": {
        "Fan": {"Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A2"}, "A2": {"Type": "Pass", "End": True}}},
            {"StartAt": "B", "States": {"B": {"Type": "Pass", "End": True}}}]}}}
    drawn = layout(definition)
    by_name = {node["name"]: node for node in drawn["nodes"]}
    assert by_name["Fan"]["kind"] == "compound"
    left, right = sorted(drawn["lanes"], key=lambda lane: lane["x"])
    assert (left["label"], right["label"]) == ("branch 1", "branch 2")
    assert left["x"] + left["width"] <= right["x"]
    assert left["height"] == right["height"]  # both end on the box's bottom line
    assert inside(by_name["A"], left) and inside(by_name["A2"], left) and inside(by_name["B"], right)
    assert by_name["A"]["y"] < by_name["A2"]["y"]
    # the box leads to End; the branches' ends join at their bottoms, not at End
    names = {node["id"]: node["name"] or node["kind"] for node in drawn["nodes"]}
    assert sorted((names[e["source"]], names[e["target"]]) for e in drawn["edges"]) == [
        ("A", "A2"), ("A2", "join"), ("B", "join"), ("Fan", "End"), ("Start", "Fan")]


def test_broken_definitions_draw_what_they_can() -> None:
    assert layout({})["nodes"][0]["kind"] in ("start", "end")
    drawn = layout({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "Missing"}, "B": 3}})
    assert [n["name"] for n in drawn["nodes"] if n["kind"] == "state"] == ["A"]
