"""Ctrl-C of ``sm run --executor dask`` while the local cluster starts or works: exit 130 with
a one-line message, no traceback (Dask's own exit hook included), nothing left hanging."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.conftest import dask_or_skip


@pytest.mark.parametrize(("after", "ignored"), [(0.8, True), (0.8, False), (2.5, True)])
def test_ctrl_c_while_the_local_cluster_starts_or_works(tmp_path: Path, after: float,
                                                        ignored: bool) -> None:
    dask_or_skip()
    (tmp_path / "sm_sleepy.py").write_text("import time\ndef nap(e):\n    time.sleep(3)\n    return e\n")
    (tmp_path / "flow.json").write_text(json.dumps({"StartAt": "M", "States": {"M": {
        "Type": "Map", "ItemsPath": "$.items", "End": True,
        "ItemProcessor": {"StartAt": "T", "States": {"T": {
            "Type": "Task", "Resource": "python:sm_sleepy:nap", "End": True}}}}}}))
    proc = subprocess.Popen([sys.executable, "-m", "statemachine.cli", "run", "flow.json",
                             "--input", '{"items": [1, 2]}', "--executor", "dask"],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            # ignored: as a background job of a script; else as from a terminal
                            preexec_fn=(lambda: signal.signal(signal.SIGINT, signal.SIG_IGN)) if ignored else None)
    time.sleep(after)  # the signal lands while the cluster starts (0.8 s) or runs (2.5 s)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == -signal.SIGINT, (out, err)  # a shell: $? 130
    assert "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith(("sm: ", "cause: "))
