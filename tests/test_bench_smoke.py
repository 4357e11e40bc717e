"""Smoke test of bench/: every workload at tiny sizes through the real runner, outputs checked.

No timing assertions: the figures belong in bench/README.md, not in the test suite. Peers are
not installed here (no network in tests); the peer drivers are exercised when a peer happens to
be installed under bench/.peers/.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest

import statemachine
from bench import generate, report
from bench.engines import ALS, MOTO, OURS, REPO
from bench.generate import WrongOutput
from bench.run import measure_throughput

needs_engine = pytest.mark.skipif(
    not hasattr(statemachine, "load"), reason="statemachine.load() not available yet"
)


# -- workloads and their checks (no engine needed) --------------------------------------------


@pytest.mark.parametrize("workload", generate.WORKLOADS, ids=lambda w: w.name)
def test_each_workload_checks_its_output(workload: generate.Workload) -> None:
    job = workload.build(True)
    assert job.definition["StartAt"] in job.definition["States"]
    job.check(json.loads(json.dumps(job.expected)))
    with pytest.raises(WrongOutput):
        job.check(job.input)  # an engine that returned its input unchanged
    with pytest.raises(WrongOutput):
        job.check(None)


def test_full_sizes_are_the_issues() -> None:
    # Issue 6: counting 0..5,000 makes 10,003 state transitions; a 1,000-state chain; 2,000 items.
    assert generate.choice_loop(5000).transitions == 10_003
    full = {w.name: w.build(False) for w in generate.WORKLOADS if w.name != "map_100k"}
    assert len(full["pass_chain"].definition["States"]) == 1000
    assert len(full["map"].input["items"]) == 2000
    branches = full["parallel"].definition["States"]["Fan"]["Branches"]
    assert [len(b["States"]) for b in branches] == [100] * 8
    assert len(json.dumps(full["payload"].input)) >= 200 * 1024
    assert full["task_loop"].transitions == 2 * 5000 + 2


def test_validate_corpus_writes_distinct_definitions(tmp_path: Path) -> None:
    paths = generate.validate_corpus(tmp_path, 12)
    texts = {p.read_text() for p in paths}
    assert len(texts) == 12


def test_large_validation_workload_is_valid_and_its_broken_twin_has_three_errors() -> None:
    from bench import validate_large
    from statemachine.validation import check

    definition = validate_large.large_definition(70)  # every state kind, ten times
    assert len(definition["States"]) == 70
    assert check(definition) == []
    codes = sorted(d.code for d in check(validate_large.broken(definition)) if d.severity == "error")
    assert codes == ["invalid-value", "no-terminal-state", "unknown-field", "unknown-next-target", "unreachable-state"]


def test_report_ratio_is_peer_time_over_ours() -> None:
    row = {
        "number": 2,
        "workload": "pass_chain",
        "title": "",
        "kind": "throughput",
        "transitions": 1000,
        "results": {
            "ours": {
                "status": "ok",
                "wall_s": 0.01,
                "transitions_per_s": 100_000,
                "max_rss_mb": 30,
            },
            "als": {"status": "ok", "wall_s": 0.02, "transitions_per_s": 50_000, "max_rss_mb": 90},
            "moto": {"status": "missing", "reason": "no venv", "wall_s": None},
        },
    }
    results = {"workloads": [row], "extras": {}, "quick": False}
    assert report.ratio(row, "als") == pytest.approx(2.0)
    assert report.ratio(row, "moto") is None
    found = {t["target"]: t for t in report.targets(results)}
    assert found["pass_chain: >= 1.5x aws-local-stepfunctions"]["met"] is True
    assert found["pass_chain: >= 30x moto"]["met"] is None
    assert "| 2 | pass_chain | 1,000 |" in "\n".join(report.table(results))


# -- the runner end to end -----------------------------------------------------------------------


@needs_engine
def test_quick_run_of_every_workload(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    argv = [sys.executable, "-m", "bench", "--quick", "--peers", "none", "--json", str(out)]
    done = subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert [row["workload"] for row in results["workloads"]] == list(generate.BY_NAME)
    for row in results["workloads"]:
        ours = row["results"]["ours"]
        assert ours["status"] == "ok", (row["workload"], ours["reason"])
        assert ours["max_rss_mb"] > 0
        if ours["history_transitions"] is not None:  # one *StateEntered event per transition
            assert ours["history_transitions"] == row["transitions"], row["workload"]
    assert results["extras"]["validate"]["ok"], results["extras"]["validate"]
    assert results["extras"]["validate_large"]["ok"], results["extras"]["validate_large"]
    assert results["extras"]["memory_growth"]["statuses"] == {"SUCCEEDED": 300}
    assert "| 9 | task_loop |" in done.stdout


@needs_engine
def test_a_wrong_answer_fails_the_workload(tmp_path: Path) -> None:
    job = generate.pass_chain(5)
    wrong = dataclasses.replace(job, expected={"last": {"from": 3, "step": 5, "tag": "chain"}})
    assert measure_throughput(OURS, wrong, 1, 0, tmp_path).status == "wrong-output"
    assert measure_throughput(OURS, job, 1, 0, tmp_path).status == "ok"


@pytest.mark.skipif(ALS.missing() is not None, reason="aws-local-stepfunctions not installed")
def test_als_driver_runs_a_workload(tmp_path: Path) -> None:
    result = measure_throughput(ALS, generate.choice_loop(10), 2, 0, tmp_path)
    assert result.status == "ok", result.reason
    assert result.version == "3.0.0"
    assert result.runs == 2


@pytest.mark.skipif(MOTO.missing() is not None, reason="moto peer not installed")
def test_moto_driver_runs_a_workload(tmp_path: Path) -> None:
    result = measure_throughput(MOTO, generate.pass_chain(3), 1, 0, tmp_path)
    assert result.status == "ok", result.reason
    assert result.version == "5.2.5"


@needs_engine
def test_cold_start_leaves_heavy_imports_out() -> None:
    # Issue 6: boto3, httpx, jsonata and rich (off a terminal) load only when needed; a Pass
    # state run by `sm run` needs none of them.
    job = generate.trivial()
    code = (
        "import sys; from statemachine.cli.main import main; "
        f"code = main(['run', {str(job.path)!r}, '--input', {json.dumps(json.dumps(job.input))}]); "
        "print(sorted({m.split('.')[0] for m in sys.modules}), file=sys.stderr); sys.exit(code)"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    job.check(json.loads(done.stdout))
    loaded = set(json.loads(done.stderr.strip().splitlines()[-1].replace("'", '"')))
    assert loaded.isdisjoint({"boto3", "botocore", "httpx", "jsonata", "rich"}), loaded


def test_update_readme_replaces_only_the_results_section(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"# B\nbefore\n{report.RESULTS_START}\nold\n{report.RESULTS_END}\nafter\n")
    report.update_readme(readme, "| new | table |")
    assert readme.read_text() == (
        f"# B\nbefore\n{report.RESULTS_START}\n| new | table |\n{report.RESULTS_END}\nafter\n"
    )
    readme.write_text("no markers")
    with pytest.raises(ValueError):
        report.update_readme(readme, "x")


def test_the_serve_benchmark_loses_nothing_at_a_tiny_size(tmp_path: Path) -> None:
    """bench/serve.py against sm serve only (moto is a peer, not installed by the tests):
    every execution ends SUCCEEDED and every callback is answered by the other process."""
    pytest.importorskip("starlette", reason="the server extra (starlette) is not installed")
    out = tmp_path / "serve.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.serve", "--engines", "ours", "--executions", "20",
         "--callbacks", "4", "--threads", "2", "--deadline", "120", "--json", str(out)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    (run,) = json.loads(out.read_text())["results"]
    assert (run["statuses"], run["lost"], run["callbacks_answered"]) == ({"SUCCEEDED": 20}, 0, 4)
    assert run["latency_ms"]["p50_callback"] >= run["latency_ms"]["p50_direct"] > 0
