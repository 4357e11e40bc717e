"""API poller example handlers: a report job that is ready after a number of polls, behind an
API that answers "service unavailable" a few times before each real answer."""

from __future__ import annotations

from typing import Any


class ServiceUnavailable(Exception):
    """HTTP 503 from the reporting API; the poller definition retries it with backoff."""


def start_job(event: dict[str, Any]) -> dict[str, Any]:
    """Start a report job; the job remembers how many polls it needs before it is DONE."""
    return {
        "jobId": f"job-{event['report']}",
        "pollsUntilReady": event["pollsUntilReady"],
        "flakyAnswers": event.get("flakyAnswers", 0),
        "polls": 0,
    }


def check_status(event: dict[str, Any]) -> dict[str, Any]:
    """Poll the job once. The first ``flakyAnswers`` attempts of every poll fail with
    ServiceUnavailable (``retryCount`` is ``$$.State.RetryCount``)."""
    job = event["job"]
    if event["retryCount"] < job["flakyAnswers"]:
        raise ServiceUnavailable("503 Service Unavailable: try again later")
    polls = job["polls"] + 1
    done = polls >= job["pollsUntilReady"]
    status = {**job, "polls": polls, "state": "DONE" if done else "RUNNING"}
    if done:
        status["url"] = f"https://reports.example.com/{job['jobId']}.csv"
    return status
