"""`sm graph` and statemachine.graph: Mermaid and DOT diagrams, nested branches as clusters."""

from __future__ import annotations

import re

import pytest

from statemachine.graph import build_graph, render, rule_label, to_dot, to_mermaid

PARALLEL_IN_MAP = {
    "StartAt": "Fan",
    "States": {
        "Fan": {
            "Type": "Map",
            "ItemProcessor": {
                "StartAt": "Both",
                "States": {
                    "Both": {
                        "Type": "Parallel",
                        "Branches": [
                            {"StartAt": "Left", "States": {"Left": {"Type": "Pass", "End": True}}},
                            {"StartAt": "Right", "States": {"Right": {"Type": "Succeed"}}},
                        ],
                        "End": True,
                    }
                },
            },
            "Next": "Check",
        },
        "Check": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.n", "NumericGreaterThan": 3, "Next": "Done"}],
            "Default": "Oops",
        },
        "Done": {"Type": "Succeed"},
        "Oops": {"Type": "Fail", "Error": "E"},
    },
}


def _ids(graph_text: str, name: str) -> str:
    """The node id Mermaid/DOT text gives to the state ``name``."""
    match = re.search(r'(\w+)\W*"?' + re.escape(name) + r"(<br/>|\\n)", graph_text)
    assert match, f"{name} not drawn:\n{graph_text}"
    return match.group(1)


def test_nested_scopes_become_nested_clusters() -> None:
    graph = build_graph(PARALLEL_IN_MAP)
    assert [n.name for n in graph.root.nodes] == ["Fan", "Check", "Done", "Oops"]
    (processor,) = graph.root.clusters
    assert processor.label == "Fan: each item"
    assert [n.name for n in processor.nodes] == ["Both"]
    assert [c.label for c in processor.clusters] == ["Both: branch 1", "Both: branch 2"]
    assert [n.name for n in processor.clusters[1].nodes] == ["Right"]


def test_mermaid_draws_transitions_choices_and_subgraphs() -> None:
    text = to_mermaid(PARALLEL_IN_MAP)
    assert text.startswith("flowchart TD\n")
    fan, check, done, oops = (_ids(text, n) for n in ("Fan", "Check", "Done", "Oops"))
    assert f"__start --> {fan}" in text
    assert f"{fan} --> {check}" in text
    assert f'{check} -->|"$.n NumericGreaterThan 3"| {done}' in text
    assert f'{check} -->|"default"| {oops}' in text
    assert text.count("subgraph ") == 3 and text.count("\n  end\n") == 1
    assert f'{_ids(text, "Both")} -.->|"branch 2"| {_ids(text, "Right")}' in text
    assert f"{check}{{" in text  # Choice states are diamonds


def test_dot_uses_clusters_and_dashed_catch_edges() -> None:
    definition = {
        "StartAt": "Work",
        "States": {
            "Work": {
                "Type": "Task",
                "Resource": "python:m:f",
                "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Undo"}],
                "End": True,
            },
            "Undo": {"Type": "Fail"},
        },
    }
    text = to_dot(definition)
    assert text.startswith("digraph statemachine {") and text.rstrip().endswith("}")
    assert 's1 -> s2 [label="catch States.ALL", style=dashed];' in text
    assert "s1 -> __end;" in text
    assert "shape=doubleoctagon" in text  # the Fail state
    assert "cluster_" not in text
    nested = to_dot(PARALLEL_IN_MAP)
    assert nested.count("subgraph cluster_") == 3


def test_labels_are_escaped() -> None:
    definition = {"StartAt": 'say "hi"', "States": {'say "hi"': {"Type": "Pass", "End": True}}}
    assert "say #quot;hi#quot;" in to_mermaid(definition)
    assert 'say \\"hi\\"' in to_dot(definition)


def test_rule_labels_summarise_every_rule_form() -> None:
    assert (
        rule_label({"Condition": "{% $states.input.n > 1 %}", "Next": "X"}) == "$states.input.n > 1"
    )
    assert rule_label({"And": [{}, {}], "Next": "X"}) == "And(2)"
    assert (
        rule_label({"Not": {"Variable": "$.a", "IsNull": True}, "Next": "X"})
        == "Not $.a IsNull true"
    )
    assert rule_label({"Variable": "$.s", "StringEquals": "x" * 100, "Next": "X"}).endswith("…")


def test_broken_definitions_are_drawn_as_far_as_possible() -> None:
    broken = {"StartAt": "Nope", "States": {"A": "not a state", "B": {"Type": "Pass", "Next": 3}}}
    text = to_mermaid(broken)
    assert '"B<br/><i>Pass</i>"' in text and "__start -->" not in text
    assert to_mermaid({"States": []}).startswith("flowchart TD")


def test_render_rejects_unknown_format() -> None:
    with pytest.raises(ValueError, match="unknown graph format"):
        render(PARALLEL_IN_MAP, "svg")  # type: ignore[arg-type]


def test_sm_graph_prints_mermaid_and_dot(sm, definitions) -> None:
    mermaid = sm("graph", definitions / "parallel_report.yaml")
    assert mermaid.returncode == 0, mermaid.stderr
    assert mermaid.stdout.startswith("flowchart TD")
    assert mermaid.stdout.count("subgraph ") == 3
    dot = sm("graph", definitions / "fan_out.yaml", "--format", "dot")
    assert dot.returncode == 0, dot.stderr
    assert "subgraph cluster_" in dot.stdout and '"Resize\\nTask"' in dot.stdout


def test_sm_graph_on_unreadable_files_exits_2(sm, tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("StartAt: [unclosed\n")
    result = sm("graph", bad)
    assert result.returncode == 2
    assert str(bad) in result.stderr
    missing = sm("graph", tmp_path / "missing.yaml")
    assert missing.returncode == 2 and "missing.yaml" in missing.stderr
    usage = sm("graph", bad, "--format", "svg")
    assert usage.returncode == 2 and "invalid choice" in usage.stderr
