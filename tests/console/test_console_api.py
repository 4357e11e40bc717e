"""The console's own endpoints over real HTTP: the page and its files, the graph layout, and
the list of waiting task tokens (pending approvals) with each one's state and input."""

from __future__ import annotations

import json

import httpx

from tests.console.conftest import APPROVAL, Console


def test_page_and_files_are_served(console: Console) -> None:
    page = httpx.get(console.url + "/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "<script src=\"/console/static/console.js\">" in page.text
    for name, kind in (("console.js", "javascript"), ("graph.js", "javascript"), ("console.css", "text/css")):
        served = httpx.get(f"{console.url}/console/static/{name}")
        assert served.status_code == 200 and kind in served.headers["content-type"], name
    assert httpx.get(console.url + "/console/static/../app.py").status_code == 404


def test_layout_of_a_definition(console: Console) -> None:
    answer = httpx.post(console.url + "/console/api/layout", json={"definition": json.dumps(APPROVAL)})
    assert answer.status_code == 200
    drawn = answer.json()
    assert sorted(n["name"] for n in drawn["nodes"] if n["kind"] == "state") == sorted(APPROVAL["States"])
    labels = sorted(e["label"] for e in drawn["edges"] if e["label"])
    assert labels == ["$.amount NumericGreaterThan 100", "default"]
    # YAML text too (machines started from files keep the text they were written in)
    yaml_text = "StartAt: A\nStates:\n  A: {Type: Pass, End: true}\n"
    answer = httpx.post(console.url + "/console/api/layout", json={"definition": yaml_text})
    assert [n["name"] for n in answer.json()["nodes"] if n["kind"] == "state"] == ["A"]


def test_layout_refuses_what_is_not_a_definition(console: Console) -> None:
    for body in (b"not json", b'{"definition": 3}', b'{"definition": "[1, 2]"}', b"{}"):
        answer = httpx.post(console.url + "/console/api/layout", content=body)
        assert answer.status_code == 400, body
        assert answer.json()["__type"] == "ValidationException"


def test_approvals_list_waiting_tokens_with_state_and_input(console: Console) -> None:
    waiting = console.start("Approval", "big", {"order": "A-1", "amount": 500})
    done = console.start("Approval", "small", {"order": "A-2", "amount": 5})
    console.wait(done, "SUCCEEDED")
    console.wait_token(waiting)
    approvals = httpx.get(console.url + "/console/api/approvals").json()["approvals"]
    assert len(approvals) == 1
    item = approvals[0]
    assert (item["executionArn"], item["stateName"]) == (waiting, "AskManager")
    assert json.loads(item["input"]) == {"order": "A-1", "amount": 500}
    assert json.loads(item["parameters"]) == {"token": item["taskToken"], "order": "A-1"}
    assert isinstance(item["created"], float) and item["timeoutAt"] is None
    one = httpx.get(console.url + "/console/api/approvals", params={"executionArn": done})
    assert one.json() == {"approvals": []}
    missing = waiting.replace(":big", ":nope")
    unknown = httpx.get(console.url + "/console/api/approvals", params={"executionArn": missing})
    assert unknown.status_code == 400 and unknown.json()["__type"] == "ExecutionDoesNotExist"
