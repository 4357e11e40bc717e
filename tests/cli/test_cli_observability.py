"""``sm run`` on a terminal with its log lines on the same terminal (stderr): they reach it
whole, not cut or overdrawn by the live view's redraws."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

FLOW = {"StartAt": "W", "States": {
    "W": {"Type": "Wait", "Seconds": 1, "Next": "P"},  # the live view redraws while it waits
    "P": {"Type": "Pass", "Result": {"ok": True}, "End": True}}}


def test_log_lines_on_the_terminal_arrive_whole(sm_tty: Callable[..., tuple[int, str, str]],
                                                tmp_path: Path) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(json.dumps(FLOW))
    code, screen, stdout = sm_tty("run", flow, "--input", "{}", "--log-level", "ALL")
    assert code == 0 and json.loads(stdout) == {"ok": True}
    lines = [line.strip("\r") for line in screen.split("\n") if '"type":' in line]
    types = [json.loads(line)["type"] for line in lines]  # each one whole: no escape codes around
    assert types == ["ExecutionStarted", "WaitStateEntered", "WaitStateExited", "PassStateEntered",
                     "PassStateExited", "ExecutionSucceeded"]

