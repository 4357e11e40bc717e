"""A task module edited between two runs on one long-lived cluster: the second run's workers
call the module as it is on disk now, as a fresh ``sm run`` in process would -- not the copy
a worker imported for an earlier run."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import statemachine

MAP = {
    "StartAt": "Each",
    "States": {"Each": {
        "Type": "Map", "ItemsPath": "$.items",
        "ItemProcessor": {"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "python:sm_edited_tasks:handler", "End": True}}},
        "End": True}},
}


def _write(folder: Path, body: str, stamp: int) -> None:
    path = folder / "sm_edited_tasks.py"
    path.write_text(f"def handler(event):\n    return {body}\n")
    os.utime(path, ns=(stamp, stamp))  # a later mtime even within the filesystem's granularity


def _run(folder: Path, cluster: Any) -> Any:
    sys.modules.pop("sm_edited_tasks", None)  # the parent as a new `sm run` process sees it
    machine = statemachine.load(MAP)
    return machine.run({"items": [1, 2]}, executor=cluster).output


def test_edited_module_runs_as_edited(dask_cluster: Any, tmp_path: Path, monkeypatch: Any) -> None:
    monkeypatch.syspath_prepend(str(tmp_path))
    _write(tmp_path, '"old"', 1_000_000_000_000_000_000)
    assert _run(tmp_path, dask_cluster) == ["old", "old"]
    _write(tmp_path, '"new"', 1_000_000_010_000_000_000)
    assert _run(tmp_path, dask_cluster) == ["new", "new"]
