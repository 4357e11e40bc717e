"""Conformance plumbing: skip with a message when the corpus is absent, and print the pass
rate per group at the end of the run."""

from __future__ import annotations

import collections
from typing import Any

import pytest

from tests.conformance.corpus import corpus_dir

_RESULTS: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if corpus_dir() is not None:
        return
    skip = pytest.mark.skip(
        reason="conformance corpus not found: set SM_CONFORMANCE_DIR or place it at ../shared/conformance"
    )
    for item in items:
        if "conformance" in item.keywords:
            item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    outcome = yield
    report = outcome.get_result()
    group = item.get_closest_marker("conformance")
    if group is None or not group.args:
        return
    if report.when == "call" or (report.when == "setup" and report.skipped):
        kind = "xfailed" if hasattr(report, "wasxfail") else report.outcome
        _RESULTS[group.args[0]][kind] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _RESULTS:
        return
    terminalreporter.section("conformance pass rate")
    for group, counts in sorted(_RESULTS.items()):
        total = sum(counts.values())
        passed = counts["passed"]
        rate = 100.0 * passed / total if total else 0.0
        detail = ", ".join(f"{k} {v}" for k, v in sorted(counts.items()) if k != "passed")
        terminalreporter.write_line(f"{group}: {passed}/{total} pass ({rate:.1f}%){'; ' + detail if detail else ''}")
