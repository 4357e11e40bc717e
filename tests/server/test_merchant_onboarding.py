"""The merchant-onboarding flow end to end (issue 13): ``sm serve`` in a subprocess, a real SMTP
sink (aiosmtpd), the two downstream HTTP services on 127.0.0.1, boto3 to start executions,
the Approve/Reject links of the e-mail opened in headless chromium (playwright driving
Debian's /usr/bin/chromium), and a server restart while the execution waits.

Golden values: the flow's error names and causes are the ones definitions/merchant_onboarding.yaml
declares; the callback routes' statuses are documented in statemachine/server/callbacks.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip("starlette", reason="the server extra (starlette) is not installed")
pytest.importorskip("uvicorn", reason="the server extra (uvicorn) is not installed")

from tests.fixtures.smtp_sink import Mail, Sink, free_port, smtp_sink

REPO = Path(__file__).resolve().parents[2]
DEFINITION = REPO / "definitions" / "merchant_onboarding.yaml"
HANDLERS = REPO / "definitions" / "handlers"
ROLE = "arn:aws:iam::123456789012:role/onboarding"
CHROMIUM = "/usr/bin/chromium"
MERCHANT = {"legalName": "Blue Fern Coffee Ltd", "email": "owner@bluefern.example",
            "country": "GB", "website": "https://bluefern.example",
            "iban": "GB82WEST12345698765432", "monthlyVolume": 25000}
KEYS = {"PAYMENTS_API_KEY": "pay-key-0123456789", "CRM_API_KEY": "crm-key-9876543210"}


# -- the two downstream services ----------------------------------------------------------------
@dataclass
class Service:
    """A JSON API on 127.0.0.1 that records each POST and answers 201 with an id."""

    name: str
    key_header: str
    key: str
    answer_field: str
    calls: list[dict[str, Any]] = field(default_factory=list)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/{self.name}"

    def start(self) -> None:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                return None

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                authorised = self.headers.get(service.key_header) == service.key
                service.calls.append({"path": self.path, "body": body, "authorised": authorised})
                status = 201 if authorised else 401
                answer = json.dumps({service.answer_field: f"{service.name}-{len(service.calls)}"}
                                    if authorised else {"message": "bad key"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()


# -- sm serve in a subprocess -------------------------------------------------------------------
class ServeProcess:
    """``sm serve`` on a fixed free port (links in sent e-mails name it, so a restart keeps it)."""

    def __init__(self, folder: Path, resource_map: Path, port: int, env: dict[str, str]) -> None:
        self.folder, self.resource_map, self.port, self.env = folder, resource_map, port, env
        self.url = f"http://127.0.0.1:{port}"
        self.process: subprocess.Popen[str] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        with (self.folder / f"serve-{self.starts}.log").open("w") as log:
            self.process = self._popen(log)
        self._wait_listening()

    def _popen(self, log: Any) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "statemachine.cli", "serve", "--db", str(self.folder / "sm.db"),
             "--port", str(self.port), "--resources", str(self.resource_map)],
            cwd=self.folder, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            text=True)

    def _wait_listening(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise AssertionError(f"sm serve exited {self.process.returncode}: {self.log()}")
            with contextlib.suppress(OSError):
                import socket

                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            if time.monotonic() > deadline:
                raise AssertionError(f"sm serve did not listen within 60 s: {self.log()}")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            raise AssertionError(f"sm serve did not stop on SIGTERM: {self.log()}") from None

    def restart(self) -> None:
        self.stop()
        self.start()

    def log(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.folder.glob("serve-*.log")))

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client("stepfunctions", endpoint_url=self.url, region_name="us-east-1",
                            aws_access_key_id="sm", aws_secret_access_key="sm",
                            config=Config(retries={"max_attempts": 1}))


@dataclass
class Flow:
    serve: ServeProcess
    sink: Sink
    payments: Service
    crm: Service
    machine_arn: str

    def start(self, name: str, **extra: Any) -> str:
        data = {"merchant": MERCHANT, "reviewer": "risk-team@example.com",
                "callbackUrl": f"{self.serve.url}/callbacks",
                "services": {"payments": self.payments.url, "crm": self.crm.url}, **extra}
        started = self.serve.client().start_execution(
            stateMachineArn=self.machine_arn, name=name, input=json.dumps(data))
        return str(started["executionArn"])

    def wait(self, arn: str, timeout: float = 60) -> dict[str, Any]:
        sfn = self.serve.client()
        deadline = time.monotonic() + timeout
        while True:
            found: dict[str, Any] = sfn.describe_execution(executionArn=arn)
            if found["status"] != "RUNNING":
                return found
            if time.monotonic() > deadline:
                raise AssertionError(f"{arn} still RUNNING after {timeout} s: {self.serve.log()}")
            time.sleep(0.1)

    def mail_for(self, count: int) -> Mail:
        return self.sink.wait_for(count, timeout=60)[count - 1]


def links_of(mail: Mail) -> dict[str, str]:
    """{"Approve": url, "Reject": url} from the text part (the HTML part must agree)."""
    text = dict(line.split(": ", 1) for line in mail.body("plain").splitlines()
                if line.startswith(("Approve: ", "Reject: ")))
    hrefs = re.findall(r'href="([^"]+)">(Approve|Reject)<', mail.body("html"))
    assert {label: href.replace("&amp;", "&") for href, label in hrefs} == text
    return text


@pytest.fixture
def flow(tmp_path: Path) -> Iterator[Flow]:
    port = free_port()
    payments = Service("payments", "Authorization", KEYS["PAYMENTS_API_KEY"], "accountId")
    crm = Service("crm", "X-Api-Key", KEYS["CRM_API_KEY"], "id")
    with smtp_sink() as sink:
        payments.start()
        crm.start()
        functions = {f"arn:aws:lambda:us-east-1:123456789012:function:merchant-{step}":
                     {"handler": f"onboarding.{step}", "code": str(HANDLERS)}
                     for step in ("preprocess", "validate", "postprocess")}
        resource_map = tmp_path / "onboarding.resources.yaml"
        resource_map.write_text(yaml.safe_dump({
            "lambda_functions": functions,
            "smtp": {"host": sink.host, "port": sink.port, "timeout": 10},
            "callbacks": {"url": f"http://127.0.0.1:{port}", "secret_file": "callback-secret"}}))
        connections = REPO / "definitions" / "local" / "merchant_onboarding.connections.yaml"
        env = {**os.environ, **KEYS, "SM_CONNECTIONS_FILE": str(connections),
               "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}
        serve = ServeProcess(tmp_path, resource_map, port, env)
        serve.start()
        try:
            definition = json.dumps(yaml.safe_load(DEFINITION.read_text(encoding="utf-8")))
            created = serve.client().create_state_machine(
                name="merchant-onboarding", definition=definition, roleArn=ROLE)
            yield Flow(serve, sink, payments, crm, created["stateMachineArn"])
        finally:
            serve.stop()
            payments.stop()
            crm.stop()


# -- opening links: a real browser, or httpx when there is none ----------------------------------
def _browser_missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package (test extra) is not installed"
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        return f"no chromium at {CHROMIUM} (Debian package chromium; .ci/run installs it)"
    return None


@dataclass
class Page:
    status: int
    title: str
    message: str


class Opener:
    """Follows links the way the reviewer does."""

    def open(self, url: str) -> Page:
        raise NotImplementedError

    def close(self) -> None:
        return None


class BrowserOpener(Opener):
    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        self._playwright = sync_playwright().start()
        playwright = self._playwright
        executable = CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")
        self._browser = playwright.chromium.launch(executable_path=executable, headless=True,
                                                   args=["--no-sandbox"])
        self._page = self._browser.new_page()

    def open(self, url: str) -> Page:
        response = self._page.goto(url)
        assert response is not None
        return Page(response.status, self._page.text_content("#title") or "",
                    self._page.text_content("#message") or "")

    def close(self) -> None:
        self._browser.close()
        self._playwright.stop()


class HttpxOpener(Opener):
    def open(self, url: str) -> Page:
        import httpx

        response = httpx.get(url, timeout=30)
        assert response.headers["content-type"].startswith("text/html")
        title = re.search(r'<h1 id="title">(.*?)</h1>', response.text)
        message = re.search(r'<p id="message">(.*?)</p>', response.text)
        assert title and message, response.text
        import html

        return Page(response.status_code, html.unescape(title.group(1)), html.unescape(message.group(1)))


@pytest.fixture(params=["chromium", "httpx"])
def opener(request: pytest.FixtureRequest) -> Iterator[Opener]:
    missing = _browser_missing()
    if request.param == "chromium":
        if missing:
            pytest.skip(f"headless browser unavailable: {missing}; the httpx variant covers the links")
        found: Opener = BrowserOpener()
    else:
        if missing is None:
            pytest.skip("a headless browser is available: the chromium variant covers the links")
        found = HttpxOpener()
    try:
        yield found
    finally:
        found.close()


# -- the tests -----------------------------------------------------------------------------------
def test_approve_through_the_e_mail_link_after_a_server_restart(opener: Opener, flow: Flow) -> None:
    arn = flow.start("blue-fern")
    mail = flow.mail_for(1)
    assert mail.rcpt_tos == ["risk-team@example.com"]
    assert mail.message["Subject"] == "Approve merchant Blue Fern Coffee Ltd (m-a0637491ae)"
    assert "Risk tier: medium" in mail.body("plain")
    links = links_of(mail)
    assert flow.serve.client().describe_execution(executionArn=arn)["status"] == "RUNNING"

    flow.serve.restart()  # the execution waits in the database, not in the process
    assert flow.serve.client().describe_execution(executionArn=arn)["status"] == "RUNNING"

    page = opener.open(links["Approve"])
    assert (page.status, page.title) == (200, "Approved")
    assert "blue-fern" in page.message
    done = flow.wait(arn)
    assert done["status"] == "SUCCEEDED", (done.get("error"), done.get("cause"))
    assert json.loads(done["output"]) == {
        "merchantId": "m-a0637491ae", "status": "ACTIVE", "riskTier": "medium",
        "paymentAccountId": "payments-1", "crmRecordId": "crm-1"}
    assert [c["authorised"] for c in flow.payments.calls] == [True]  # called once, with its key
    assert [c["authorised"] for c in flow.crm.calls] == [True]
    assert flow.payments.calls[0]["body"]["iban"] == "GB82WEST12345698765432"
    assert flow.crm.calls[0]["body"]["paymentAccountId"] == "payments-1"

    again = opener.open(links["Approve"])  # a second click
    assert (again.status, again.title) == (409, "Already answered")
    assert "already approved" in again.message
    other = opener.open(links["Reject"])  # the other link of the same mail
    assert (other.status, other.title) == (409, "Already answered")
    assert len(flow.payments.calls) == 1 and len(flow.sink.mails) == 1


def test_reject_ends_in_a_clear_failure(flow: Flow) -> None:
    opener = HttpxOpener()
    arn = flow.start("rejected-one")
    links = links_of(flow.mail_for(1))
    page = opener.open(links["Reject"])
    assert (page.status, page.title) == (200, "Rejected")
    done = flow.wait(arn)
    assert (done["status"], done["error"]) == ("FAILED", "MerchantRejected")
    assert done["cause"].startswith("The reviewer rejected Blue Fern Coffee Ltd (m-a0637491ae): "
                                    "Rejected through the link in the approval e-mail at ")
    assert flow.payments.calls == [] and flow.crm.calls == []
    assert opener.open(links["Approve"]).title == "Already answered"


def test_forged_and_altered_links_are_refused(flow: Flow) -> None:
    opener = HttpxOpener()
    arn = flow.start("forged")
    links = links_of(flow.mail_for(1))
    token = re.search(r"taskToken=([^&]+)", links["Approve"])
    signature = re.search(r"signature=([^&]+)", links["Reject"])
    assert token and signature
    swapped = f"{flow.serve.url}/callbacks/approve?taskToken={token.group(1)}&signature={signature.group(1)}"
    unsigned = f"{flow.serve.url}/callbacks/approve?taskToken={token.group(1)}"
    for url in (swapped, unsigned, links["Approve"][:-2] + "xx"):
        page = opener.open(url)
        assert (page.status, page.title) == (403, "This link is not valid"), url
    assert opener.open(f"{flow.serve.url}/callbacks/delete?taskToken=x&signature=y").status == 404
    assert flow.serve.client().describe_execution(executionArn=arn)["status"] == "RUNNING"
    assert opener.open(links["Approve"]).status == 200  # the real link still works
    assert flow.wait(arn)["status"] == "SUCCEEDED"


def test_an_unanswered_approval_times_out_and_its_link_says_so(flow: Flow) -> None:
    opener = HttpxOpener()
    arn = flow.start("too-slow", approvalTimeoutSeconds=1)
    links = links_of(flow.mail_for(1))
    done = flow.wait(arn)
    assert (done["status"], done["error"]) == ("FAILED", "ApprovalTimedOut")
    assert done["cause"] == ("Nobody approved or rejected Blue Fern Coffee Ltd (m-a0637491ae) "
                             "within 1 seconds")
    page = opener.open(links["Approve"])
    assert page.status == 410 and page.title in ("This request has expired", "No longer waiting")
    assert flow.payments.calls == []


def test_two_clicks_at_once_answer_once_and_a_stopped_execution_link_says_so(flow: Flow) -> None:
    from concurrent.futures import ThreadPoolExecutor

    import httpx

    opener = HttpxOpener()
    arn = flow.start("double-click")
    links = links_of(flow.mail_for(1))
    with ThreadPoolExecutor(4) as pool:  # a reviewer clicking both links, twice, at once
        pages = list(pool.map(opener.open, [links["Approve"], links["Reject"]] * 2))
    assert sorted(page.status for page in pages) == [200, 409, 409, 409], [p.title for p in pages]
    winner = next(page for page in pages if page.status == 200).title
    done = flow.wait(arn)
    assert done["status"] == ("SUCCEEDED" if winner == "Approved" else "FAILED")
    assert len(flow.payments.calls) == (1 if winner == "Approved" else 0)

    stopped = flow.start("stopped-one")
    links = links_of(flow.mail_for(2))
    flow.serve.client().stop_execution(executionArn=stopped, error="Withdrawn", cause="the merchant withdrew")
    head = httpx.head(links["Approve"])  # a link checker: the status only
    page = opener.open(links["Approve"])
    assert (page.status, page.title) == (410, "No longer waiting"), page.message
    assert head.status_code in (200, 410) and head.text == ""
    assert flow.serve.client().describe_execution(executionArn=stopped)["status"] == "ABORTED"


def test_a_callbacks_url_that_is_not_this_server_is_said_at_start(tmp_path: Path) -> None:
    """Links are signed only for the map's callbacks.url: a server on another port (or
    --public-url) would send links that point elsewhere, so it says so when it starts."""
    port, other = free_port(), free_port()
    resource_map = tmp_path / "map.yaml"
    resource_map.write_text(yaml.safe_dump({"callbacks": {
        "url": f"http://127.0.0.1:{other}", "secret_file": "callback-secret"}}))
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path / "state"), "PYTHONPATH": str(REPO)}
    serve = ServeProcess(tmp_path, resource_map, port, env)
    serve.start()  # listening: the start-up lines are written
    serve.stop()
    assert (f"sm serve: warning: the callbacks.url of {resource_map} is http://127.0.0.1:{other}, "
            f"not this server's http://127.0.0.1:{port}") in serve.log()

    (tmp_path / "serve-1.log").unlink()
    resource_map.write_text(yaml.safe_dump({"callbacks": {"url": f"http://127.0.0.1:{port}/"}}))
    serve = ServeProcess(tmp_path, resource_map, port, env)
    serve.start()
    serve.stop()
    assert "warning" not in serve.log() and "AWS Step Functions API on" in serve.log()
