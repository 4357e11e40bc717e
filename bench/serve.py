"""Benchmark of ``sm serve`` under load (issue 13), side by side with moto's server.

    .venv/bin/python -m bench.serve                       # 1,000 executions, both engines
    .venv/bin/python -m bench.serve --quick               # 100 executions, 20 callbacks
    .venv/bin/python -m bench.serve --engines ours --json bench/results/serve.json

Not part of ``python -m bench``. For each engine, the same steps through the AWS API:

1. start the server in a subprocess on a free port of 127.0.0.1: ``sm serve`` on a fresh
   SQLite database (``--resources`` maps the callback task's SQS integration to a local
   stand-in), or ``moto_server`` from ``moto[server]`` (installed at run time into
   ``bench/.peers/moto-server``, never vendored) with Step Functions execution switched on
   (``POST /moto-api/config {"stepfunctions": {"execute_state_machine": true}}``) and an
   SQS queue for the callback task;
2. CreateStateMachine: a Choice; most executions run five Pass states, every fifth one waits
   on ``arn:aws:states:::sqs:sendMessage.waitForTaskToken`` (the token in the message);
3. ``--threads`` (8) client threads share ``--executions`` (1,000) StartExecution calls, each
   thread with its own boto3 client; the ARNs of callback executions go to an answering
   process (``python -m bench.serve --answer``: 4 threads) that reads each one's
   GetExecutionHistory until its TaskScheduled event holds the token (looking again after
   50, 100, then every 200 ms), then calls SendTaskSuccess (again after a 5xx; an execution
   not answered within 120 s is reported as an error, never waited on forever);
4. ListExecutions (paginated) until none is RUNNING, or ``--deadline`` seconds pass.

Reported per engine: starts/s (executions / wall time of all StartExecution calls), the
final statuses (none lost: every execution must be SUCCEEDED), completions/s (executions /
time from the first start to the last stopDate), and p50/p99 start-to-finish latency
(stopDate - startDate as the server records them), for all executions and for the callback
ones (which include the answering process's round trips). The target: ``sm serve``'s
starts/s >= 10x moto's.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import json
import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
MOTO_VENV = ROOT / "bench" / ".peers" / "moto-server"
MOTO_REQUIREMENT = "moto[server,stepfunctions]==5.2.5"
ROLE = "arn:aws:iam::123456789012:role/bench"
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "bench",
               "aws_secret_access_key": "bench"}
SQS_STAND_IN = '''"""SQS sendMessage stand-in for bench/serve.py: answers as the SQS integration does."""
import hashlib, json


def send(parameters):
    body = json.dumps(parameters.get("MessageBody"))
    return {"MessageId": hashlib.md5(body.encode()).hexdigest(),
            "MD5OfMessageBody": hashlib.md5(body.encode()).hexdigest()}
'''


def definition() -> str:
    passes: dict[str, Any] = {
        f"Step{i}": {"Type": "Pass", "Result": {"step": i}, "ResultPath": f"$.step{i}",
                     "Next": f"Step{i + 1}" if i < 5 else "Done"} for i in range(1, 6)}
    return json.dumps({"StartAt": "Route", "States": {
        "Route": {"Type": "Choice", "Default": "Step1", "Choices": [
            {"Variable": "$.callback", "BooleanEquals": True, "Next": "WaitForCallback"}]},
        **passes,
        "WaitForCallback": {
            "Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Parameters": {"QueueUrl.$": "$.queueUrl",
                           "MessageBody": {"token.$": "$$.Task.Token", "id.$": "$.id"}},
            "TimeoutSeconds": 600, "ResultPath": "$.answer", "Next": "Done"},
        "Done": {"Type": "Succeed"}}})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def client(endpoint: str, service: str = "stepfunctions") -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(service, endpoint_url=endpoint, **CREDENTIALS,
                        config=Config(retries={"max_attempts": 1}, read_timeout=120,
                                      max_pool_connections=16))


def wait_listening(port: int, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on {port} within 120 s")


# -- the engines ------------------------------------------------------------------------------
@contextlib.contextmanager
def ours(folder: Path) -> Iterator[tuple[str, str, int]]:
    """``sm serve`` on a fresh database; yields (endpoint, queue URL for the input, pid)."""
    (folder / "bench_sqs.py").write_text(SQS_STAND_IN)
    resource_map = folder / "bench.resources.yaml"
    resource_map.write_text("resources:\n  arn:aws:states:::sqs:sendMessage: "
                            "python:bench_sqs:send\n")
    port = free_port()
    with (folder / "serve.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "statemachine.cli", "serve", "--db", str(folder / "bench.db"),
             "--port", str(port), "--resources", str(resource_map)],
            cwd=ROOT, stdout=log, stderr=log, stdin=subprocess.DEVNULL)
    try:
        wait_listening(port, process, "sm serve")
        yield (f"http://127.0.0.1:{port}", "https://sqs.us-east-1.amazonaws.com/123456789012/bench",
               process.pid)
    finally:
        process.terminate()
        process.wait(60)


def moto_python() -> Path:
    python = MOTO_VENV / "bin" / "python"
    if not (MOTO_VENV / "bin" / "moto_server").is_file():
        print(f"installing {MOTO_REQUIREMENT} into {MOTO_VENV.relative_to(ROOT)} ...",
              file=sys.stderr, flush=True)
        base = getattr(sys, "_base_executable", sys.executable)
        subprocess.run([base, "-m", "venv", str(MOTO_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", MOTO_REQUIREMENT], check=True)
    return python


@contextlib.contextmanager
def moto(folder: Path) -> Iterator[tuple[str, str, int]]:
    """``moto_server`` with Step Functions execution on; yields (endpoint, queue URL, pid)."""
    moto_python()
    port = free_port()
    env = {**os.environ, "AWS_DEFAULT_REGION": "us-east-1"}
    with (folder / "moto.log").open("wb") as log:
        process = subprocess.Popen([str(MOTO_VENV / "bin" / "moto_server"), "-H", "127.0.0.1",
                                    "-p", str(port)], stdout=log, stderr=log,
                                   stdin=subprocess.DEVNULL, env=env)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        wait_listening(port, process, "moto_server")
        request = urllib.request.Request(
            f"{endpoint}/moto-api/config", method="POST",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=30).read()
        queue_url = client(endpoint, "sqs").create_queue(QueueName="bench")["QueueUrl"]
        yield endpoint, queue_url, process.pid
    finally:
        process.terminate()
        process.wait(60)


ENGINES = {"ours": ours, "moto": moto}


# -- one run -----------------------------------------------------------------------------------
def run(engine: str, executions: int, threads: int, callbacks: int, deadline: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-serve-{engine}-") as tmp, \
            ENGINES[engine](Path(tmp)) as (endpoint, queue_url, pid):
        sfn = client(endpoint)
        machine = sfn.create_state_machine(name="bench-serve", definition=definition(),
                                           roleArn=ROLE)["stateMachineArn"]
        warm_up(sfn, machine, queue_url)
        answerer = subprocess.Popen([sys.executable, "-m", "bench.serve", "--answer", endpoint],
                                    cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True)
        assert answerer.stdout is not None
        if answerer.stdout.readline().strip() != "ready":
            raise RuntimeError("the answering process did not start (see above)")
        every = max(1, executions // callbacks) if callbacks else 0
        work: queue.Queue[int] = queue.Queue()
        for index in range(executions):
            work.put(index)
        lock = threading.Lock()
        errors: list[str] = []

        def starter() -> None:
            mine = client(endpoint)
            while True:
                try:
                    index = work.get_nowait()
                except queue.Empty:
                    return
                wants = bool(every) and index % every == 0 and index // every < callbacks
                payload = {"id": index, "callback": wants, "queueUrl": queue_url}
                try:
                    arn = mine.start_execution(stateMachineArn=machine, name=f"run-{index}",
                                               input=json.dumps(payload))["executionArn"]
                except Exception as error:  # counted, reported: a lost start
                    with lock:
                        errors.append(f"run-{index}: {error}")
                    continue
                if wants:
                    with lock:
                        assert answerer.stdin is not None
                        answerer.stdin.write(arn + "\n")
                        answerer.stdin.flush()

        cpu_before = cpu_seconds(pid)
        began = time.perf_counter()
        with ThreadPoolExecutor(threads) as pool:
            for _ in range(threads):
                pool.submit(starter)
        start_wall = time.perf_counter() - began
        assert answerer.stdin is not None
        answerer.stdin.close()
        listed = wait_all(sfn, machine, executions, deadline)
        server_cpu = cpu_seconds(pid) - cpu_before
        try:  # it gives up on an execution after ANSWER_GIVE_UP s: never waited on forever
            answerer.wait(ANSWER_GIVE_UP + 60)
        except subprocess.TimeoutExpired:
            answerer.kill()
            answerer.wait()
        answered = json.loads(answerer.stdout.read() or "{}")
        result = report(engine, executions, callbacks, threads, start_wall, listed, errors, answered)
        result["server_cpu_ms_per_execution"] = round(server_cpu * 1000 / executions, 2)
        return result


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc), in seconds; it counts the
    server's own work whatever else the machine runs (the wall-clock figures do not)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def warm_up(sfn: Any, machine: str, queue_url: str) -> None:
    """One execution down each path before the clock starts (imports, caches, first
    connections), answered here; not counted."""
    for wants in (False, True):
        arn = sfn.start_execution(stateMachineArn=machine, name=f"warm-up-{wants}".lower(),
                                  input=json.dumps({"id": -1, "callback": wants,
                                                    "queueUrl": queue_url}))["executionArn"]
        deadline = time.monotonic() + 120
        while (status := sfn.describe_execution(executionArn=arn)["status"]) == "RUNNING":
            if wants and (token := find_token(sfn, arn)) is not None:
                sfn.send_task_success(taskToken=token, output="{}")
                wants = False
            if time.monotonic() > deadline:
                raise RuntimeError(f"the warm-up execution {arn} did not finish in 120 s")
            time.sleep(0.05)
        if status != "SUCCEEDED":
            raise RuntimeError(f"the warm-up execution {arn} ended {status}")


def wait_all(sfn: Any, machine: str, expected: int, deadline: float) -> list[dict[str, Any]]:
    """Every execution of the machine (paginated ListExecutions) once none is RUNNING."""
    stop = time.monotonic() + deadline
    while True:
        listed: list[dict[str, Any]] = []
        for page in sfn.get_paginator("list_executions").paginate(
                stateMachineArn=machine, PaginationConfig={"PageSize": 1000}):
            listed.extend(e for e in page["executions"] if not e["name"].startswith("warm-up"))
        running = sum(1 for e in listed if e["status"] == "RUNNING")
        if (running == 0 and len(listed) >= expected) or time.monotonic() > stop:
            return listed
        time.sleep(1.0)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def report(engine: str, executions: int, callbacks: int, threads: int, start_wall: float,
           listed: list[dict[str, Any]], errors: list[str], answered: dict[str, Any]) -> dict[str, Any]:
    statuses: dict[str, int] = {}
    for item in listed:
        statuses[item["status"]] = statuses.get(item["status"], 0) + 1
    finished = [e for e in listed if isinstance(e.get("stopDate"), datetime)]
    latency = {e["name"]: (e["stopDate"] - e["startDate"]).total_seconds() for e in finished}
    callback_names = {f"run-{i}" for i in range(executions)
                      if callbacks and i % max(1, executions // callbacks) == 0
                      and i // max(1, executions // callbacks) < callbacks}
    span = ((max(e["stopDate"] for e in finished) - min(e["startDate"] for e in finished))
            .total_seconds() if finished else None)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value * 1000, 1)

    direct = [v for k, v in latency.items() if k not in callback_names]
    waited = [v for k, v in latency.items() if k in callback_names]
    return {
        "engine": engine, "executions": executions, "callbacks": callbacks, "threads": threads,
        "starts_per_second": round(executions / start_wall, 1), "start_seconds": round(start_wall, 2),
        "statuses": statuses, "lost": executions - statuses.get("SUCCEEDED", 0),
        "start_errors": errors[:5], "callbacks_answered": answered.get("answered"),
        "history_reads": answered.get("history_reads"), "answer_retries": answered.get("retries"),
        "answer_errors": answered.get("errors"),
        "completions_per_second": round(len(finished) / span, 1) if span else None,
        "latency_ms": {"p50": ms(_percentile(list(latency.values()), 0.5)),
                       "p99": ms(_percentile(list(latency.values()), 0.99)),
                       "p50_direct": ms(_percentile(direct, 0.5)),
                       "p99_direct": ms(_percentile(direct, 0.99)),
                       "p50_callback": ms(_percentile(waited, 0.5)),
                       "p99_callback": ms(_percentile(waited, 0.99))},
    }


# -- the answering process --------------------------------------------------------------------
#: Seconds between two looks at one execution's history while its token is not there yet:
#: the first look at once, then doubling up to the last (a client's usual backoff).
ANSWER_BACKOFF = (0.05, 0.1, 0.2)
#: Seconds after which the answering process gives up on an execution (no token in its
#: history, or SendTaskSuccess failing with 5xx all along): reported, never waited on forever.
ANSWER_GIVE_UP = 120.0


def _server_error(error: Exception) -> bool:
    """A 5xx answer (moto_server, for one, may answer 500 to a token answered right after
    its TaskScheduled event shows: its execution thread is not yet listening)."""
    response = getattr(error, "response", None) or {}
    return int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)) >= 500


def answer(endpoint: str, workers: int = 4) -> int:
    """Read execution ARNs from stdin; for each, find its task token in the history and send
    SendTaskSuccess. Prints {"answered": N, "history_reads": N, "retries": N, "errors":
    [...]} when stdin is closed and done.

    ``workers`` threads, each one request at a time, look at the ARN due first (oldest
    first among those due). An ARN whose TaskScheduled event is not there yet is looked at
    again after ``ANSWER_BACKOFF`` (each ARN at most 5 times a second once backed off), and
    meanwhile the workers take the others: the same for every engine, and never more than
    ``workers`` requests in flight. (A worker that slept 0.2 s after each miss, with the ARN
    at the end of the queue, answered ~100 callbacks/s at best: a server starting more than
    that per second waited on this process, not the other way round.) A SendTaskSuccess
    answered with 5xx is sent again 0.2 s later (as boto3's own retries would); after
    ``ANSWER_GIVE_UP`` seconds an execution is an error."""
    pending: list[tuple[float, int, str, int, float]] = []  # (due, arrival, ARN, misses, since)
    ready = threading.Condition()
    counts = {"answered": 0, "arrived": 0, "closed": 0, "history_reads": 0, "retries": 0}
    errors: list[str] = []

    def done() -> bool:
        return bool(counts["closed"]) and counts["answered"] + len(errors) >= counts["arrived"]

    def take() -> tuple[int, str, int, float] | None:
        with ready:
            while True:
                if pending and pending[0][0] <= time.monotonic():
                    return heapq.heappop(pending)[1:]
                if not pending and done():
                    return None
                ready.wait(pending[0][0] - time.monotonic() if pending else None)

    def settle(arn: str, failed: str | None) -> None:
        with ready:
            if failed is None:
                counts["answered"] += 1
            else:
                errors.append(f"{arn}: {failed}")
            ready.notify_all()

    def again(item: tuple[int, str, int, float], delay: float, retry: bool = False) -> None:
        order, arn, misses, since = item
        with ready:
            counts["retries"] += retry
            heapq.heappush(pending, (time.monotonic() + delay, order, arn, misses + 1, since))
            ready.notify()

    def fail_or_retry(item: tuple[int, str, int, float], error: Exception, late: bool) -> None:
        if _server_error(error) and not late:
            again(item, 0.2, retry=True)
        else:
            settle(item[1], str(error))

    def worker(sfn: Any) -> None:
        while (item := take()) is not None:
            _, arn, misses, since = item
            late = time.monotonic() - since > ANSWER_GIVE_UP
            try:
                token = find_token(sfn, arn)
            except Exception as error:  # reported on stdout, never hidden
                fail_or_retry(item, error, late)
                continue
            with ready:
                counts["history_reads"] += 1
            if token is None:  # not scheduled yet: look again after the backoff
                if late:
                    settle(arn, f"no TaskScheduled token in {ANSWER_GIVE_UP:.0f} s")
                else:
                    again(item, ANSWER_BACKOFF[min(misses, len(ANSWER_BACKOFF) - 1)])
                continue
            try:
                sfn.send_task_success(taskToken=token, output=json.dumps({"ok": True}))
            except Exception as error:  # reported on stdout, never hidden
                fail_or_retry(item, error, late)
                continue
            settle(arn, None)

    threads = [threading.Thread(target=worker, args=(client(endpoint),)) for _ in range(workers)]
    for thread in threads:
        thread.start()
    print("ready", flush=True)  # boto3 imported, clients made: the clock may start
    for line in sys.stdin:  # answered while the starts go on
        if line.strip():
            with ready:
                now = time.monotonic()
                heapq.heappush(pending, (now, counts["arrived"], line.strip(), 0, now))
                counts["arrived"] += 1
                ready.notify()
    with ready:
        counts["closed"] = 1
        ready.notify_all()
    for thread in threads:
        thread.join()
    print(json.dumps({"answered": counts["answered"], "history_reads": counts["history_reads"],
                      "retries": counts["retries"], "errors": errors[:5]}))
    return 0


def median_of(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-figure medians of several runs of one engine (lost: the worst run's)."""
    def med(values: list[Any]) -> Any:
        present = sorted(v for v in values if v is not None)
        return present[len(present) // 2] if present else None

    keys = ("starts_per_second", "completions_per_second", "server_cpu_ms_per_execution")
    out: dict[str, Any] = {key: med([r[key] for r in results]) for key in keys}
    out["latency_ms"] = {key: med([r["latency_ms"][key] for r in results])
                         for key in results[0]["latency_ms"]}
    out["lost"] = max(r["lost"] for r in results)
    out["runs"] = len(results)
    return out


def find_token(sfn: Any, arn: str) -> str | None:
    """The task token in the execution's TaskScheduled event (its SQS MessageBody), if any yet."""
    for event in sfn.get_execution_history(executionArn=arn, maxResults=100)["events"]:
        if event["type"] == "TaskScheduled":
            parameters = json.loads(event["taskScheduledEventDetails"]["parameters"])
            body = parameters["MessageBody"]
            body = json.loads(body) if isinstance(body, str) else body
            return str(body["token"])
    return None


# -- the command ------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--callbacks", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--engines", default="ours,moto", help="comma-separated: ours, moto")
    parser.add_argument("--deadline", type=float, default=900.0,
                        help="seconds to wait for every execution to finish (per engine)")
    parser.add_argument("--runs", type=int, default=1,
                        help="repeat, engines interleaved; the summary gives medians")
    parser.add_argument("--quick", action="store_true", help="100 executions, 20 callbacks")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    parser.add_argument("--answer", metavar="ENDPOINT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.answer:
        return answer(args.answer)
    if args.quick:
        args.executions, args.callbacks = 100, 20
    results = []
    engines = args.engines.split(",")
    for round_ in range(args.runs):
        for engine in engines:
            print(f"{engine} (run {round_ + 1}/{args.runs}): {args.executions} executions from "
                  f"{args.threads} threads, {args.callbacks} callbacks ...", file=sys.stderr,
                  flush=True)
            result = run(engine, args.executions, args.threads, args.callbacks, args.deadline)
            print(json.dumps(result), flush=True)
            results.append(result)
    medians = {engine: median_of([r for r in results if r["engine"] == engine])
               for engine in engines}
    summary: dict[str, Any] = {
        "command": "python -m bench.serve " + " ".join(argv if argv is not None else sys.argv[1:]),
        "when": datetime.now().astimezone().isoformat(timespec="seconds"),
        "cpus": os.cpu_count(), "load_average": os.getloadavg(), "medians": medians,
        "results": results}
    if "ours" in medians and "moto" in medians:
        for key in ("starts_per_second", "completions_per_second"):
            if medians["ours"][key] and medians["moto"][key]:
                summary[f"{key}_vs_moto"] = round(medians["ours"][key] / medians["moto"][key], 1)
        cpu = (medians["moto"]["server_cpu_ms_per_execution"],
               medians["ours"]["server_cpu_ms_per_execution"])
        if all(cpu):
            summary["server_cpu_per_execution_moto_over_ours"] = round(cpu[0] / cpu[1], 1)
        print(f"sm serve: {summary.get('starts_per_second_vs_moto')}x moto's starts/s, "
              f"{summary.get('completions_per_second_vs_moto')}x its completions/s, "
              f"{summary.get('server_cpu_per_execution_moto_over_ours')}x less server CPU per "
              "execution (target >= 10x)", file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps({k: v for k, v in summary.items() if k != "results"}, indent=2))
    lost = sum(r["lost"] for r in results)
    return 1 if lost else 0


if __name__ == "__main__":
    sys.exit(main())
