"""Ctrl-C of ``sm run --executor dask`` while the local cluster starts or works: the process
ends by SIGINT (a shell's 130) with a one-line message, no traceback (Dask's own exit hook and
its worker processes included), nothing left running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import dask_or_skip


@pytest.mark.parametrize(("after", "how"), [(0.8, "ignored"), (0.8, "process"), (2.5, "ignored"),
                                           (0.8, "terminal"), (2.5, "terminal")])
def test_ctrl_c_while_the_local_cluster_starts_or_works(tmp_path: Path, after: float,
                                                        how: str) -> None:
    """``how``: "ignored", as a background job of a script (started with SIGINT ignored);
    "process", the signal to sm alone; "terminal", as Ctrl-C on a terminal, to the whole
    foreground process group (sm, its Dask worker processes, the resource tracker)."""
    dask_or_skip()
    (tmp_path / "sm_sleepy.py").write_text("import time\ndef nap(e):\n    time.sleep(3)\n    return e\n")
    (tmp_path / "flow.json").write_text(json.dumps({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "python:sm_sleepy:nap", "End": True}}}}}}))
    proc = subprocess.Popen([sys.executable, "-m", "statemachine.cli", "run", "flow.json",
                             "--input", '{"items": [1, 2]}', "--executor", "dask"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=how == "terminal",
                            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
                            if how == "ignored" else None)
    time.sleep(after)  # the signal lands while the cluster starts (0.8 s) or runs (2.5 s)
    try:
        if how == "terminal":
            os.killpg(proc.pid, signal.SIGINT)
        else:
            proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == -signal.SIGINT, (out, err)  # a shell: $? 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert err.strip().splitlines()[-1].startswith(("sm: ", "cause: ")), err
    if how == "terminal":  # the workers were closed, not left to die on their own
        deadline = time.monotonic() + 30
        while _alive_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive_in_group(proc.pid)


def _alive_in_group(group: int) -> list[int]:
    """The processes of process group ``group`` that are not zombies (waiting to be reaped)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) == group and fields[0] != "Z":
                alive.append(int(entry.name))
    return alive
