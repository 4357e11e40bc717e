"""`sm graph` and statemachine.graph: Mermaid and DOT diagrams, nested branches as clusters."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from statemachine.graph import Cluster, Node, build_graph, render, rule_label, to_dot, to_mermaid

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
    # Fan's processor holds Both (End: true), whose branches end in Left and Right: both
    # join again at Fan's successor, Check, instead of a direct edge Fan -> Check.
    assert f"{_ids(text, 'Left')} --> {check}" in text and f"{_ids(text, 'Right')} --> {check}" in text
    assert f"{fan} --> {check}" not in text
    assert f'{check} -->|"$.n NumericGreaterThan 3"| {done}' in text
    assert f'{check} -->|"default"| {oops}' in text
    assert text.count("subgraph ") == 3 and text.count("\n  end\n") == 1
    assert f'{_ids(text, "Both")} -.-> {_ids(text, "Right")}' in text  # the subgraph's title names it
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


def test_parallel_branches_join_at_the_successor_and_at_end() -> None:
    branches = [{"StartAt": f"B{i}", "States": {f"B{i}": {"Type": "Pass", "End": True}}} for i in (1, 2)]
    definition = {"StartAt": "P", "States": {
        "P": {"Type": "Parallel", "Branches": branches, "Next": "Q"},
        "Q": {"Type": "Parallel", "Branches": [{"StartAt": "C", "States": {
            "C": {"Type": "Choice", "Choices": [{"Variable": "$.x", "IsNull": True, "Next": "Ok"}], "Default": "No"},
            "Ok": {"Type": "Succeed"}, "No": {"Type": "Fail"}}}], "End": True}}}
    graph = build_graph(definition)
    names = {node.id: node.name for node in _nodes(graph.root)} | {"__start": "Start", "__end": "End"}
    edges = {(names[e.source], names[e.target], e.label, e.dashed) for e in graph.edges}
    assert edges == {
        ("Start", "P", "", False),
        ("P", "B1", "", True), ("P", "B2", "", True), ("B1", "Q", "", False), ("B2", "Q", "", False),
        ("Q", "C", "", True), ("C", "Ok", "$.x IsNull true", False), ("C", "No", "default", False),
        ("Ok", "End", "", False),  # Q ends the machine: its branch's Succeed leads to End
    }  # no P -> Q and no Q -> End edge: the flow goes through the branches; a Fail in a branch leads nowhere


def test_dot_edges_enter_and_leave_clusters_at_their_border_in_one_font() -> None:
    text = to_dot(PARALLEL_IN_MAP)
    graph = build_graph(PARALLEL_IN_MAP)
    ids = {node.name: node.id for node in _nodes(graph.root)}
    processor = graph.root.clusters[0].id
    assert "compound=true;" in text
    entries = re.findall(r"-> (\w+) \[style=dashed, lhead=cluster_(\w+), minlen=2\]", text)
    assert len(entries) == 3  # into Fan's processor and Both's two branches, none labelled
    # Left and Right leave both clusters around them: clipped at the outermost, Fan's processor.
    joins = re.findall(r"(\w+) -> (\w+) \[ltail=cluster_(\w+)\]", text)
    assert sorted(joins) == sorted([(ids["Left"], ids["Check"], processor), (ids["Right"], ids["Check"], processor)])
    fonts = set(re.findall(r'fontname="([^"]*)"', text))
    assert fonts == {"Helvetica"} and text.count("fontname=") == 3  # graph, node and edge defaults


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) not installed")
def test_graphviz_renders_it_with_one_font_family() -> None:
    svg = subprocess.run(["dot", "-Tsvg"], input=to_dot(PARALLEL_IN_MAP), capture_output=True, text=True,
                         check=True, timeout=60).stdout
    assert len(set(re.findall(r'font-family="([^"]*)"', svg))) == 1
    assert "Fan: each item" in svg and "Both: branch 2" in svg


def test_sm_graph_on_an_invalid_definition_reports_and_exits_1(sm, tmp_path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text("StartAt: A\nStates:\n  A:\n    Type: Paralel\n    Next: Gone\n")
    result = sm("graph", flow)
    assert result.returncode == 1
    assert result.stdout == ""
    assert f"{flow}:4:5: error [invalid-value]" in result.stderr and 'did you mean "Parallel"' in result.stderr
    assert "unknown-next-target" in result.stderr and "nothing drawn" in result.stderr


def test_sm_graph_draws_a_definition_with_warnings_and_shows_them(sm, tmp_path) -> None:
    flow = tmp_path / "flow.yaml"
    flow.write_text("StartAt: A\nStates:\n  A:\n    Type: Pass\n    Parameters:\n      id: $.id\n    End: true\n")
    result = sm("graph", flow, "--format", "dot")
    assert result.returncode == 0
    assert result.stdout.startswith("digraph statemachine {")
    assert "warning [missing-path-suffix]" in result.stderr


def _nodes(cluster: Cluster) -> list[Node]:
    return [*cluster.nodes, *(node for child in cluster.clusters for node in _nodes(child))]


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz (dot) not installed")
@pytest.mark.parametrize("example", ["parallel_report.yaml", "fan_out.yaml"])
def test_graphviz_draws_the_edge_into_a_cluster_below_its_state(definitions, example: str) -> None:
    """The dashed edge from a Parallel/Map to its branch/processor cluster starts under the
    state's box and is long enough to show (not a zero-length arrowhead over the label)."""
    from statemachine.loader import load_source

    plain = subprocess.run(["dot", "-Tplain"], input=to_dot(load_source(definitions / example).data),
                           capture_output=True, text=True, check=True, timeout=60).stdout
    nodes = {f[1]: (float(f[3]), float(f[5])) for f in map(str.split, plain.splitlines()) if f[0] == "node"}
    dashed = [f for f in map(str.split, plain.splitlines()) if f[0] == "edge" and "dashed" in f]
    assert dashed
    for edge in dashed:
        count = int(edge[3])
        points = [(float(edge[4 + 2 * i]), float(edge[5 + 2 * i])) for i in range(count)]
        y, height = nodes[edge[1]]
        assert points[0][1] <= y - height / 2 + 0.01  # starts at the state's bottom
        assert points[0][1] - points[-1][1] >= 0.25, edge  # inches: a visible arrow
