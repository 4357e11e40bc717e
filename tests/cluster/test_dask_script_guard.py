"""A script that starts a local Dask cluster (``executor="dask"``, ``DaskExecutor()``) without
``if __name__ == "__main__":``: each worker process imports the script again; the error says
so, named (ExecutorError), instead of Dask's "Nanny failed to start"."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cluster.conftest import dask_or_skip

SCRIPT = '''
import statemachine
machine = statemachine.load({"StartAt": "P", "States": {"P": {"Type": "Parallel", "End": True,
    "Branches": [{"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}]}}})
print(machine.run({}, executor="dask").status)
'''


def test_unguarded_script_gets_a_named_error(tmp_path: Path) -> None:
    dask_or_skip()
    (tmp_path / "unguarded.py").write_text(SCRIPT)
    proc = subprocess.run([sys.executable, "unguarded.py"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode != 0
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("statemachine.executors.ExecutorError: ")
    assert 'if __name__ == "__main__":' in last
