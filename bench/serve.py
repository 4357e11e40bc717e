"""Load benchmark of ``sm serve`` (issue 13), side by side with moto's server.

    .venv/bin/python -m bench.serve                          # 1,000 executions, 200 callbacks, both
    .venv/bin/python -m bench.serve --executions 200 --callbacks 40 --peer none
    .venv/bin/python -m bench.serve --json bench/results/serve.json

Not part of ``python -m bench``. For each server, on a fresh database / a fresh process:

1. start the server (``sm serve --db TMP/bench.db`` on a free port of 127.0.0.1; moto:
   ``moto_server`` with ``{"stepfunctions": {"execute_state_machine": true}}`` posted to
   ``/moto-api/config``, the way moto runs definitions);
2. create two machines through boto3: ``plain`` (Pass, Choice, Pass, Succeed) and
   ``callback`` (an ``sqs:sendMessage.waitForTaskToken`` Task, then a Pass);
3. start ``--executions`` executions from ``--threads`` client threads, every Nth on
   ``callback`` so that ``--callbacks`` of them wait for a token; starts/s is the number of
   StartExecution calls over the wall time of that phase;
4. another process answers the callbacks (SendTaskSuccess) as their tokens arrive: from the
   files our resource map's stand-in writes, or from moto's SQS queue;
5. wait (bounded by ``--timeout``) until no execution runs; list them all and check that
   each one ended SUCCEEDED (lost = started but not listed, or not SUCCEEDED);
6. report starts/s, executions finished per second (first start to last stop), and the p50
   and p99 of stopDate - startDate as each server stamps them (moto: ms resolution).

A server that cannot be started (moto not installed) is reported as missing, with why.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROLE = "arn:aws:iam::123456789012:role/bench"
PLAIN = {"StartAt": "Prepare", "States": {
    "Prepare": {"Type": "Pass", "Parameters": {"order.$": "$.order", "kind": "bench"},
                "Next": "Route"},
    "Route": {"Type": "Choice", "Choices": [
        {"Variable": "$.order", "NumericGreaterThanEquals": 0, "Next": "Shape"}],
        "Default": "Shape"},
    "Shape": {"Type": "Pass", "ResultPath": "$.shaped", "Result": {"ok": True}, "Next": "Done"},
    "Done": {"Type": "Succeed"}}}
TOKENS_MODULE = '''
import os, uuid
def send(event, context):
    folder = os.environ["SM_BENCH_TOKENS"]
    name = os.path.join(folder, uuid.uuid4().hex)
    with open(name + ".part", "w") as out:
        out.write(context.task_token)
    os.rename(name + ".part", name + ".tok")
    return {"sent": True}
'''


def callback_definition(queue_url: str) -> dict[str, Any]:
    return {"StartAt": "Ask", "States": {
        "Ask": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue_url,
                               "MessageBody": {"token.$": "$$.Task.Token", "order.$": "$.order"}},
                "Next": "Done"},
        "Done": {"Type": "Pass", "End": True}}}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def client(url: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client("stepfunctions", endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench",
                        config=Config(retries={"max_attempts": 3}, max_pool_connections=16))


def wait_for(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            client(url).list_state_machines()
            return
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server at {url} did not start") from None
            time.sleep(0.1)


@contextmanager
def ours(folder: Path) -> Iterator[dict[str, Any]]:
    tokens = folder / "tokens"
    tokens.mkdir()
    (folder / "bench_tokens.py").write_text(TOKENS_MODULE)
    (folder / "resources.yaml").write_text(
        "resources:\n  arn:aws:states:::sqs:sendMessage.waitForTaskToken: "
        "python:bench_tokens:send\n")
    port = free_port()
    env = {**os.environ, "SM_BENCH_TOKENS": str(tokens)}
    process = subprocess.Popen(
        [sys.executable, "-m", "statemachine.cli", "serve", "--db", str(folder / "bench.db"),
         "--resources", str(folder / "resources.yaml"), "--port", str(port)],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url, process)
        yield {"url": url, "queue": "https://sqs.us-east-1.amazonaws.com/123456789012/bench",
               "answer": ["files", str(tokens)]}
    finally:
        process.terminate()
        process.wait(60)


def moto_program() -> str | None:
    for candidate in (Path(sys.executable).with_name("moto_server"),
                      Path("bench/.peers/moto/bin/moto_server")):
        if candidate.exists():
            return str(candidate)
    return None


@contextmanager
def moto(folder: Path) -> Iterator[dict[str, Any]]:
    program = moto_program()
    if program is None:
        raise RuntimeError("moto_server not found: pip install 'moto[server]==5.2.5'")
    port = free_port()
    process = subprocess.Popen([program, "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(url, process)
        request = urllib.request.Request(
            url + "/moto-api/config", method="POST",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"content-type": "application/json"})
        urllib.request.urlopen(request, timeout=30).read()
        import boto3

        sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        queue = sqs.create_queue(QueueName="bench")["QueueUrl"]
        yield {"url": url, "queue": queue, "answer": ["sqs", queue]}
    finally:
        process.terminate()
        process.wait(60)


def answer(url: str, mode: str, source: str, count: int, timeout: float) -> int:
    """The other process: SendTaskSuccess for ``count`` tokens as they arrive."""
    sfn = client(url)
    done = 0
    deadline = time.monotonic() + timeout
    sqs = None
    if mode == "sqs":
        import boto3

        sqs = boto3.client("sqs", endpoint_url=url, region_name="us-east-1",
                           aws_access_key_id="bench", aws_secret_access_key="bench")
    while done < count and time.monotonic() < deadline:
        tokens: list[str] = []
        if sqs is not None:
            got = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in got.get("Messages", []):
                tokens.append(json.loads(message["Body"])["token"])
                sqs.delete_message(QueueUrl=source, ReceiptHandle=message["ReceiptHandle"])
        else:
            for path in sorted(Path(source).glob("*.tok")):
                tokens.append(path.read_text())
                path.unlink()
            if not tokens:
                time.sleep(0.02)
        for token in tokens:
            try:
                sfn.send_task_success(taskToken=token, output='{"approved": true}')
                done += 1
            except Exception as error:  # the server failed the answer: that execution is lost
                print(f"bench.serve: SendTaskSuccess failed: {str(error)[:200]}",
                      file=sys.stderr)
                count -= 1
    return done


def measure(name: str, server: Any, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="sm-bench-serve-") as folder:
        try:
            context = server(Path(folder))
            info = context.__enter__()
        except Exception as error:
            return {"server": name, "missing": str(error)}
        try:
            return run(name, info, args)
        finally:
            context.__exit__(None, None, None)


def run(name: str, info: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    sfn = client(info["url"])
    plain = sfn.create_state_machine(name="plain", definition=json.dumps(PLAIN),
                                     roleArn=ROLE)["stateMachineArn"]
    callback = sfn.create_state_machine(name="callback", roleArn=ROLE, definition=json.dumps(
        callback_definition(info["queue"])))["stateMachineArn"]
    every = max(1, args.executions // args.callbacks) if args.callbacks else 0
    answerer = subprocess.Popen(
        [sys.executable, "-m", "bench.serve", "--answer", info["url"], *info["answer"],
         str(args.callbacks), str(args.timeout)])
    local = threading.local()

    def start(index: int) -> str:
        if not hasattr(local, "sfn"):
            local.sfn = client(info["url"])
        machine = callback if every and index % every == 0 and index // every < args.callbacks else plain
        arn: str = local.sfn.start_execution(stateMachineArn=machine, name=f"e{index}",
                                             input=json.dumps({"order": index}))["executionArn"]
        return arn

    began = time.perf_counter()
    with ThreadPoolExecutor(args.threads) as pool:
        started = list(pool.map(start, range(args.executions)))
    start_seconds = time.perf_counter() - began
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        running = sum(len(sfn.list_executions(stateMachineArn=m, statusFilter="RUNNING",
                                              maxResults=1000)["executions"])
                      for m in (plain, callback))
        if running == 0:
            break
        time.sleep(0.5)
    answerer.wait(max(1.0, deadline - time.monotonic()))
    finished: dict[str, dict[str, Any]] = {}
    for machine in (plain, callback):
        for page in sfn.get_paginator("list_executions").paginate(stateMachineArn=machine):
            for item in page["executions"]:
                finished[item["executionArn"]] = item
    succeeded = [finished[a] for a in started if finished.get(a, {}).get("status") == "SUCCEEDED"]
    latencies = sorted((e["stopDate"] - e["startDate"]).total_seconds() for e in succeeded)
    first = min(e["startDate"] for e in succeeded) if succeeded else None
    last = max(e["stopDate"] for e in succeeded) if succeeded else None
    span = (last - first).total_seconds() if first and last else 0.0
    return {
        "server": name, "executions": len(started), "callbacks": args.callbacks,
        "threads": args.threads, "succeeded": len(succeeded),
        "lost": len(started) - len(succeeded),
        "starts_per_s": round(len(started) / start_seconds, 1),
        "finished_per_s": round(len(succeeded) / span, 1) if span else None,
        "p50_s": round(statistics.median(latencies), 4) if latencies else None,
        "p99_s": round(latencies[max(0, int(len(latencies) * 0.99) - 1)], 4) if latencies else None,
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = ["| server | executions | succeeded | lost | starts/s | finished/s | p50 s | p99 s |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        if "missing" in r:
            lines.append(f"| {r['server']} | missing: {r['missing']} | | | | | | |")
            continue
        lines.append(f"| {r['server']} | {r['executions']} ({r['callbacks']} callbacks) | "
                     f"{r['succeeded']} | {r['lost']} | {r['starts_per_s']} | "
                     f"{r['finished_per_s']} | {r['p50_s']} | {r['p99_s']} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.serve", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=1000)
    parser.add_argument("--callbacks", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--timeout", type=float, default=600.0)
    parser.add_argument("--peer", choices=("moto", "none"), default="moto")
    parser.add_argument("--json", metavar="FILE")
    parser.add_argument("--answer", nargs=5, metavar=("URL", "MODE", "SOURCE", "N", "TIMEOUT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.answer:
        url, mode, source, count, timeout = args.answer
        answer(url, mode, source, int(count), float(timeout))
        return 0
    results = [measure("sm serve", ours, args)]
    if args.peer == "moto":
        results.append(measure("moto_server 5.2.5", moto, args))
    print(table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r.get("lost", 1) == 0 for r in results[:1]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
