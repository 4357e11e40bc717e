"""Benchmark peer driver: moto's Step Functions backend with execution switched on.

Runs inside the peer's own venv (bench/.peers/moto), so it imports only the standard library,
boto3 and moto. In: a job file (JSON: definition, input, runs). Out: one JSON object on stdout
with the per-run execution times (stopDate - startDate as moto records them, excluding process
start and state machine creation), the last run's status/output/error, and moto's version.
Usage: python moto_driver.py JOB.json
"""

from __future__ import annotations

import json
import os
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

import boto3  # type: ignore[import-untyped, unused-ignore]
from moto import mock_aws  # type: ignore[import-not-found, unused-ignore]

ROLE = "arn:aws:iam::123456789012:role/bench"
# Polling runs in the same process (and GIL) as moto's execution thread: back off so that
# it does not slow the execution down; the time taken comes from moto's own stamps anyway.
POLL_SECONDS = 0.005
MAX_POLL_SECONDS = 0.25


def run_once(
    client: Any, machine_arn: str, payload: str, name: str, deadline: float
) -> dict[str, Any]:
    start = time.perf_counter()
    pause = POLL_SECONDS
    arn = client.start_execution(stateMachineArn=machine_arn, name=name, input=payload)[
        "executionArn"
    ]
    while True:
        described = client.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            break
        if time.perf_counter() > deadline:
            return {"status": "TIMEOUT", "wall": time.perf_counter() - start}
        time.sleep(pause)
        pause = min(pause * 1.5, MAX_POLL_SECONDS)
    wall = time.perf_counter() - start
    stop = described.get("stopDate")
    recorded = (stop - described["startDate"]).total_seconds() if stop else 0.0
    return {
        "status": described["status"],
        "output": json.loads(described["output"]) if "output" in described else None,
        "error": described.get("error"),
        "cause": described.get("cause"),
        "wall": wall,
        # moto stamps whole executions; fall back to polled wall when the stamps are coarse
        "time": recorded if recorded > 0 else wall,
    }


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    result: dict[str, Any] = {"engine": "moto", "version": version("moto"), "times": []}
    deadline = time.perf_counter() + float(job.get("timeout", 600))
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="us-east-1")
        t0 = time.perf_counter()
        try:
            machine_arn = client.create_state_machine(
                name="bench", definition=json.dumps(job["definition"]), roleArn=ROLE
            )["stateMachineArn"]
        except Exception as exc:  # report, do not crash: the runner prints it in the table
            result.update(status="CREATE_FAILED", error=type(exc).__name__, cause=str(exc)[:500])
            print(json.dumps(result))
            return
        result["setup"] = time.perf_counter() - t0
        payload = json.dumps(job["input"])
        for i in range(int(job.get("warmup", 0))):
            run_once(client, machine_arn, payload, f"warmup-{i}", deadline)
        budget_end = time.perf_counter() + float(job.get("budget", 1e9))
        for i in range(int(job["runs"])):
            if i and time.perf_counter() > budget_end:
                break  # at least one run; more only while the time budget lasts
            run = run_once(client, machine_arn, payload, f"run-{i}", deadline)
            result["times"].append(run["time"] if "time" in run else run["wall"])
            result.update({k: v for k, v in run.items() if k not in ("time", "wall")})
            if run["status"] != "SUCCEEDED":
                break
    print(json.dumps(result))


if __name__ == "__main__":
    main(sys.argv[1])
