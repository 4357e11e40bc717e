"""Benchmark stage: results (the runner's JSON-ready dict) in, targets and a markdown report out.

Ratios are peer time / our time for the same workload, i.e. how many times faster this engine
is (equal to our transitions per second over the peer's); above 1 means we are faster.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

LABELS = {"ours": "statemachine-asl", "als": "aws-local-stepfunctions", "moto": "moto"}
THROUGHPUT_WORKLOADS = ("pass_chain", "choice_loop", "map")
#: issue 6's targets
MIN_RATIO = {"als": 1.5, "moto": 30.0}
COLD_WALL_S, COLD_RSS_MB = 0.15, 60.0
JSONATA_MAX_RATIO = 3.0
MAP_100K_RSS_MB = 400.0
VALIDATE_200_S = 2.0
#: issue 10's target: `sm validate` on one 20,000-state file
VALIDATE_LARGE_S = 3.0
#: "memory does not grow": what allocator noise we tolerate over 10,000 runs
GROWTH_TOLERANCE_MB = 5.0

Row = dict[str, Any]


def _row(results: dict[str, Any], name: str) -> Row | None:
    return next((r for r in results["workloads"] if r["workload"] == name), None)


def ratio(row: Row, peer: str) -> float | None:
    ours, theirs = row["results"].get("ours"), row["results"].get(peer)
    if not ours or not theirs or ours["status"] != "ok" or theirs["status"] != "ok":
        return None
    return theirs["wall_s"] / ours["wall_s"] if ours["wall_s"] else None


def _target(text: str, figure: str, met: bool | None) -> dict[str, Any]:
    return {"target": text, "figure": figure, "met": met}


def _throughput_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for peer, minimum in MIN_RATIO.items():
        for name in THROUGHPUT_WORKLOADS:
            row = _row(results, name)
            if row is None or peer not in row["results"]:
                continue
            r = ratio(row, peer)
            statuses = {k: row["results"][k]["status"] for k in ("ours", peer)}
            why = ", ".join(f"{LABELS[k]} {s}" for k, s in statuses.items() if s != "ok")
            figure = f"{r:.2f}x" if r is not None else f"n/a ({why})"
            out.append(
                _target(
                    f"{name}: >= {minimum:g}x {LABELS[peer]}",
                    figure,
                    None if r is None else r >= minimum,
                )
            )
    return out


def _ours(results: dict[str, Any], name: str) -> dict[str, Any] | None:
    row = _row(results, name)
    result = row["results"].get("ours") if row else None
    return result if result and result["status"] == "ok" else None


def _cold_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    cold = _ours(results, "trivial")
    if cold is None:
        return []
    return [
        _target(
            f"cold start `sm run` < {COLD_WALL_S} s",
            f"{cold['wall_s']:.3f} s",
            cold["wall_s"] < COLD_WALL_S,
        ),
        _target(
            f"cold start peak RSS < {COLD_RSS_MB:g} MB",
            f"{cold['max_rss_mb']:.1f} MB",
            cold["max_rss_mb"] < COLD_RSS_MB,
        ),
    ]


def _other_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    jsonata, jsonpath = _ours(results, "jsonata_chain"), _ours(results, "pass_chain")
    if jsonata and jsonpath:
        r = jsonata["wall_s"] / jsonpath["wall_s"]
        out.append(
            _target(
                f"JSONata chain within {JSONATA_MAX_RATIO:g}x of JSONPath chain",
                f"{r:.2f}x",
                r <= JSONATA_MAX_RATIO,
            )
        )
    big = _ours(results, "map_100k")
    if big:
        out.append(
            _target(
                f"Map over 100,000 items: peak RSS < {MAP_100K_RSS_MB:g} MB",
                f"{big['max_rss_mb']:.0f} MB",
                big["max_rss_mb"] < MAP_100K_RSS_MB,
            )
        )
    growth = results["extras"].get("memory_growth")
    if growth and "growth_mb" in growth:
        out.append(
            _target(
                f"no RSS growth over {growth['runs']:,} runs (< {GROWTH_TOLERANCE_MB:g} MB)",
                f"{growth['growth_mb']:+.1f} MB ({growth['rss_before_mb']:.0f} -> "
                f"{growth['rss_after_mb']:.0f} MB)",
                growth["growth_mb"] < GROWTH_TOLERANCE_MB,
            )
        )
    val = results["extras"].get("validate")
    if val:
        out.append(
            _target(
                f"`sm validate` on {val['definitions']} definitions < {VALIDATE_200_S:g} s",
                f"{val['wall_s']:.2f} s" + ("" if val["ok"] else " (FAILED)"),
                val["ok"] and val["wall_s"] < VALIDATE_200_S,
            )
        )
    large = results["extras"].get("validate_large")
    if large:
        out.append(
            _target(
                f"`sm validate` on a {large['states']:,}-state file < {VALIDATE_LARGE_S:g} s",
                f"{large['valid_wall_s']:.2f} s (with 3 errors: {large['broken_wall_s']:.2f} s)"
                + ("" if large["ok"] else " (FAILED)"),
                large["ok"] and large["valid_wall_s"] < VALIDATE_LARGE_S and large["broken_wall_s"] < VALIDATE_LARGE_S,
            )
        )
    return out


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every issue-6 target that this run measured, with its figure and whether it is met."""
    found = _throughput_targets(results) + _cold_targets(results) + _other_targets(results)
    if results.get("quick"):
        for t in found:
            t["met"] = None  # tiny sizes say nothing about the targets
    return found


# --- rendering --------------------------------------------------------------------------------


def _seconds(v: float | None) -> str:
    if v is None:
        return ""
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def _cell(result: dict[str, Any] | None, pick: Callable[[dict[str, Any]], str]) -> str:
    if result is None:
        return ""
    return pick(result) if result["status"] == "ok" else result["status"]


def _engine_cells(row: Row, key: str) -> list[str]:
    result = row["results"].get(key)
    if result is not None and result["status"] != "ok":
        return [result["status"], "", ""]
    tps = _cell(
        result, lambda r: f"{r['transitions_per_s']:,.0f}" if r["transitions_per_s"] else ""
    )
    return [
        _cell(result, lambda r: _seconds(r["wall_s"])),
        tps,
        _cell(result, lambda r: f"{r['max_rss_mb']:.0f} MB"),
    ]


def table(results: dict[str, Any]) -> list[str]:
    keys = [k for k in LABELS if any(k in row["results"] for row in results["workloads"])]
    head = ["#", "workload", "transitions"]
    for key in keys:
        head += [f"{key} time", f"{key} trans/s", f"{key} RSS"] + (
            [] if key == "ours" else [f"{key}/ours"]
        )
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in results["workloads"]:
        cells = [str(row["number"]), row["workload"], f"{row['transitions']:,}"]
        for key in keys:
            cells += _engine_cells(row, key)
            if key != "ours":
                r = ratio(row, key)
                cells.append(f"{r:.2f}x" if r is not None else "")
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _notes(results: dict[str, Any]) -> list[str]:
    notes = []
    for row in results["workloads"]:
        for key, r in row["results"].items():
            if r["status"] != "ok":
                notes.append(f"- {row['workload']} / {LABELS[key]}: {r['status']} -- {r['reason']}")
    return notes


def render(results: dict[str, Any]) -> str:
    env = results["environment"]
    versions = ", ".join(f"{LABELS.get(k, k)} {v}" for k, v in env["versions"].items() if v)
    lines = [
        f"Benchmark run {env['date']} -- `{results['command']}`",
        f"Python {env['python']}, Node {env['node']}, {env['machine']}, {env['cpus']} CPUs; {versions}",
        f"Median of {results['runs']} run(s) per engine (moto at most 3, memory workload 1, fewer past a 20 s budget). "
        "time = one execution in-process (workload 1: whole process); ratio = peer time / our time.",
        "",
        *table(results),
    ]
    if results["targets"]:
        lines += ["", "| target | figure | met |", "|---|---|---|"]
        for t in results["targets"]:
            met = {True: "yes", False: "**NO**", None: "n/a"}[t["met"]]
            lines.append(f"| {t['target']} | {t['figure']} | {met} |")
    notes = _notes(results)
    if notes:
        lines += ["", "Not measured / failed:", *notes]
    return "\n".join(lines)


RESULTS_START, RESULTS_END = "<!-- results:start -->", "<!-- results:end -->"


def update_readme(readme: Path, text: str) -> None:
    """Replace what lies between the results markers of ``readme`` with ``text``."""
    pattern = re.compile(re.escape(RESULTS_START) + ".*?" + re.escape(RESULTS_END), re.S)
    content = readme.read_text()
    if not pattern.search(content):
        raise ValueError(f"{readme} has no {RESULTS_START} ... {RESULTS_END} section")
    block = f"{RESULTS_START}\n{text}\n{RESULTS_END}"
    readme.write_text(pattern.sub(lambda _m: block, content))
