"""bench/serve.py runs end to end on a tiny load (figures are not checked: they belong in
the report, not in the suite)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_serve_smoke(tmp_path: Path) -> None:
    out = tmp_path / "serve.json"
    done = subprocess.run([sys.executable, "-m", "bench.serve", "--executions", "12",
                           "--callbacks", "3", "--threads", "2", "--peer", "none",
                           "--timeout", "120", "--json", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    (result,) = json.loads(out.read_text())
    assert (result["executions"], result["succeeded"], result["lost"]) == (12, 12, 0)
    assert result["starts_per_s"] > 0 and result["p50_s"] is not None
    assert "| sm serve | 12 (3 callbacks) | 12 | 0 |" in done.stdout
