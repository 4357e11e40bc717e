"""The SES v2 SendEmail resource over SMTP (statemachine/resources/smtp.py), against a real
SMTP server on 127.0.0.1 (aiosmtpd): what arrives, SES's result shape, AWS-like error names,
no credential in any cause, and signed Approve/Reject links."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

import statemachine
from statemachine.resources.callback_links import CallbackLinks
from statemachine.resources.static import checking_registry
from tests.fixtures.smtp_sink import Sink, free_port, self_signed_certificate, smtp_sink

SEND = "arn:aws:states:::aws-sdk:sesv2:sendEmail"


def _machine(parameters: dict[str, Any], resource_map: dict[str, Any], *,
             resource: str = SEND, timeout: int | None = None) -> statemachine.StateMachine:
    state: dict[str, Any] = {"Type": "Task", "Resource": resource, "Parameters": parameters,
                             "End": True}
    if timeout is not None:
        state["TimeoutSeconds"] = timeout
    return statemachine.load({"StartAt": "Send", "States": {"Send": state}},
                             resource_map=resource_map)


def _simple(**content: Any) -> dict[str, Any]:
    return {
        "FromEmailAddress": "onboarding@example.com",
        "Destination": {"ToAddresses": ["kim@example.com"], "CcAddresses": ["lee@example.com"],
                        "BccAddresses": ["audit@example.com"]},
        "Content": {"Simple": {"Subject": {"Data": "Welcome, Ünal"},
                               "Body": {"Text": {"Data": "Plain text"},
                                        "Html": {"Data": "<p>HTML</p>"}}, **content}},
    }


def _map(sink: Sink, **smtp: Any) -> dict[str, Any]:
    return {"smtp": {"host": sink.host, "port": sink.port, **smtp}}


@pytest.fixture
def sink() -> Any:
    with smtp_sink() as server:
        yield server


def test_a_simple_message_arrives_with_sess_result_shape(sink: Sink) -> None:
    execution = _machine(_simple(), _map(sink)).run({})
    assert execution.status == "SUCCEEDED", execution.cause
    (mail,) = sink.wait_for(1)
    assert mail.mail_from == "onboarding@example.com"
    assert mail.rcpt_tos == ["kim@example.com", "lee@example.com", "audit@example.com"]
    message = mail.message
    assert (message["From"], message["To"], message["Cc"]) == (
        "onboarding@example.com", "kim@example.com", "lee@example.com")
    assert message["Bcc"] is None  # Bcc recipients get the mail without being shown
    assert message["Subject"] == "Welcome, Ünal"
    assert (mail.body("plain").strip(), mail.body("html").strip()) == ("Plain text", "<p>HTML</p>")
    assert set(execution.output) == {"MessageId"}
    assert message["Message-ID"].strip() == f"<{execution.output['MessageId']}@example.com>"


def test_reply_to_bounce_address_configuration_set_and_tags(sink: Sink) -> None:
    parameters = {**_simple(), "ReplyToAddresses": ["help@example.com"],
                  "FeedbackForwardingEmailAddress": "bounces@example.com",
                  "ConfigurationSetName": "onboarding",
                  "EmailTags": [{"Name": "flow", "Value": "merchant"}]}
    assert _machine(parameters, _map(sink)).run({}).status == "SUCCEEDED"
    (mail,) = sink.wait_for(1)
    assert mail.mail_from == "bounces@example.com"
    assert mail.message["Reply-To"] == "help@example.com"
    # the headers Amazon SES's own SMTP interface reads
    assert mail.message["X-SES-CONFIGURATION-SET"] == "onboarding"
    assert mail.message["X-SES-MESSAGE-TAGS"] == "flow=merchant"


def test_raw_content_is_sent_as_given(sink: Sink) -> None:
    raw = (b"From: a@example.com\r\nTo: b@example.com\r\nBcc: c@example.com\r\n"
           b"Subject: raw\r\n\r\nhello\r\n")
    parameters = {"Content": {"Raw": {"Data": base64.b64encode(raw).decode()}}}
    execution = _machine(parameters, _map(sink)).run({})
    assert execution.status == "SUCCEEDED", execution.cause
    (mail,) = sink.wait_for(1)
    assert (mail.mail_from, mail.rcpt_tos) == ("a@example.com", ["b@example.com", "c@example.com"])
    assert mail.message["Subject"] == "raw" and mail.message["Bcc"] is None


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"Content": {"Template": {"TemplateName": "t"}}}, "Content.Template"),
        ({"Content": {}}, "exactly one of Simple, Raw or Template"),
        ({"Destination": {}}, "no recipient"),
        ({"Destination": {"ToAddresses": ["not-an-address"]}}, "'not-an-address' is not an e-mail address"),
        ({"FromEmailAddress": None}, "FromEmailAddress is required"),
        ({"Subjekt": "x"}, "Unknown SendEmail parameters: Subjekt"),
        ({"Content": {"Raw": {"Data": "@@@"}}}, "not valid base64"),
    ],
)
def test_malformed_parameters_are_bad_requests(sink: Sink, change: dict[str, Any], words: str) -> None:
    parameters = {k: v for k, v in {**_simple(), **change}.items() if v is not None}
    execution = _machine(parameters, _map(sink)).run({})
    assert (execution.status, execution.error) == ("FAILED", "SesV2.BadRequestException")
    assert words in execution.cause
    assert "(Service: SesV2, Status Code: 400, Request ID: " in execution.cause
    assert sink.mails == []


def test_a_header_injection_is_refused(sink: Sink) -> None:
    parameters = _simple(Headers=[{"Name": "X-Ok", "Value": "a\r\nBcc: evil@example.com"}])
    execution = _machine(parameters, _map(sink)).run({})
    assert (execution.status, execution.error) == ("FAILED", "SesV2.BadRequestException")
    assert sink.mails == []


@pytest.mark.parametrize(
    ("setup", "error"),
    [
        ({"refuse_rcpt": {"kim@example.com": "550 5.1.1 unknown", "lee@example.com": "550 5.1.1 unknown",
                          "audit@example.com": "550 5.1.1 unknown"}}, "SesV2.MessageRejectedException"),
        ({"refuse_mail_from": {"onboarding@example.com": "553 5.7.1 not allowed"}}, "SesV2.MessageRejectedException"),
        ({"data_reply": "554 5.6.0 looks like spam"}, "SesV2.MessageRejectedException"),
        ({"data_reply": "451 4.7.1 greylisted, try again"}, "SesV2.TooManyRequestsException"),
    ],
)
def test_smtp_refusals_map_to_ses_errors(sink: Sink, setup: dict[str, Any], error: str) -> None:
    for key, value in setup.items():
        setattr(sink, key, value)
    execution = _machine(_simple(), _map(sink)).run({})
    assert (execution.status, execution.error) == ("FAILED", error)
    reply = next(iter(setup.values()))
    reply_text = next(iter(reply.values())) if isinstance(reply, dict) else reply
    assert reply_text.split(" ", 1)[1] in execution.cause  # the server's own words


def test_one_refused_recipient_does_not_stop_the_others(sink: Sink) -> None:
    sink.refuse_rcpt = {"lee@example.com": "550 5.1.1 unknown"}
    assert _machine(_simple(), _map(sink)).run({}).status == "SUCCEEDED"
    (mail,) = sink.wait_for(1)
    assert mail.rcpt_tos == ["kim@example.com", "audit@example.com"]


def test_no_server_is_an_sdk_client_exception() -> None:
    port = free_port()  # nothing listens there
    execution = _machine(_simple(), {"smtp": {"port": port, "timeout": 5}}).run({})
    assert (execution.status, execution.error) == ("FAILED", "SesV2.SdkClientException")
    assert f"127.0.0.1:{port}" in execution.cause


def test_a_retry_policy_catches_the_temporary_error(sink: Sink) -> None:
    sink.data_reply = "451 4.7.1 greylisted"
    definition = {"StartAt": "Send", "States": {"Send": {
        "Type": "Task", "Resource": SEND, "Parameters": _simple(), "End": True,
        "Catch": [{"ErrorEquals": ["SesV2.TooManyRequestsException"], "Next": "Later"}]},
        "Later": {"Type": "Pass", "Result": "queued", "End": True}}}
    execution = statemachine.load(definition, resource_map=_map(sink)).run({})
    assert (execution.status, execution.output) == ("SUCCEEDED", "queued")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def test_starttls_and_login_with_the_password_from_the_environment(
        monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "s3cret-pass")
    with smtp_sink(credentials=("mailer", "s3cret-pass"), tls=certificate) as sink:
        resource_map = _map(sink, username="mailer", password_env="TEST_SMTP_PASSWORD",
                            tls="starttls", ca_file=str(certificate[0]))
        assert _machine(_simple(), resource_map).run({}).status == "SUCCEEDED"
        assert sink.logins == [("mailer", "s3cret-pass")]
        assert len(sink.wait_for(1)) == 1


def test_an_unverified_certificate_is_an_sdk_client_exception(
        certificate: tuple[Path, Path]) -> None:
    with smtp_sink(tls=certificate) as sink:
        execution = _machine(_simple(), _map(sink, tls="starttls")).run({})  # no ca_file
    assert (execution.status, execution.error) == ("FAILED", "SesV2.SdkClientException")
    assert "CERTIFICATE_VERIFY_FAILED" in execution.cause
    assert sink.mails == []


def test_without_starttls_the_server_refuses_the_mail(certificate: tuple[Path, Path]) -> None:
    with smtp_sink(tls=certificate) as sink:
        execution = _machine(_simple(), _map(sink)).run({})
    assert (execution.status, execution.error) == ("FAILED", "SesV2.MessageRejectedException")
    assert "STARTTLS" in execution.cause


def test_refused_credentials_never_reach_the_cause(
        monkeypatch: pytest.MonkeyPatch, certificate: tuple[Path, Path]) -> None:
    monkeypatch.setenv("TEST_SMTP_PASSWORD", "wrong-password")
    with smtp_sink(credentials=("mailer", "right-password"), tls=certificate) as sink:
        resource_map = _map(sink, username="mailer-account", password_env="TEST_SMTP_PASSWORD",
                            tls="starttls", ca_file=str(certificate[0]))
        execution = _machine(_simple(), resource_map).run({})
    assert (execution.status, execution.error) == ("FAILED", "SesV2.AccessDeniedException")
    history = json.dumps(execution.history, default=str)
    assert "wrong-password" not in history and "mailer-account" not in history
    assert "*****" in execution.cause or "refused the credentials" in execution.cause


def test_a_missing_password_variable_is_named(sink: Sink, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_SUCH_SMTP_PASSWORD", raising=False)
    resource_map = _map(sink, username="mailer", password_env="NO_SUCH_SMTP_PASSWORD")
    execution = _machine(_simple(), resource_map).run({})
    assert execution.error == "SesV2.SdkClientException"
    assert "NO_SUCH_SMTP_PASSWORD is not set" in execution.cause


@pytest.mark.parametrize(
    ("smtp", "words"),
    [({"tls": "yes"}, "smtp.tls must be none, starttls or ssl"),
     ({"port": "25"}, "smtp.port must be a port number"),
     ({"hots": "x"}, "unknown keys ['hots']")],
)
def test_a_malformed_smtp_section_is_refused_when_loading(smtp: dict[str, Any], words: str) -> None:
    with pytest.raises(statemachine.ResourceNotFoundError, match=words.replace("[", r"\[")):
        _machine(_simple(), {"smtp": smtp})


def test_without_an_smtp_section_the_resource_is_unknown() -> None:
    with pytest.raises(statemachine.ResourceNotFoundError, match="sesv2:sendEmail"):
        _machine(_simple(), {})


def test_validation_with_the_map_resolves_it_and_creates_no_secret(tmp_path: Path) -> None:
    resource_map = {"smtp": {"port": 2525}, "base_dir": str(tmp_path),
                    "callbacks": {"url": "http://127.0.0.1:8083", "secret_file": "secret"}}
    registry = checking_registry(tmp_path, resource_map)
    assert SEND + ".waitForTaskToken" in registry
    assert not (tmp_path / "secret").exists()


# -- callback links -------------------------------------------------------------------------------
def _approval(base: str) -> dict[str, Any]:
    """Links written the way a definition deployable to AWS writes them."""
    text = (f"Approve: {base}/callbacks/approve?taskToken={{}}\n"
            f"Reject: {base}/callbacks/reject?taskToken={{}}\n"
            f"Elsewhere: https://example.com/callbacks/approve?taskToken={{}}\n")
    html = (f'<a href="{base}/callbacks/approve?taskToken={{}}">Approve</a> '
            f'<a href="{base}/callbacks/reject?taskToken={{}}">Reject</a>')
    return {"FromEmailAddress": "onboarding@example.com",
            "Destination": {"ToAddresses": ["kim@example.com"]},
            "Content": {"Simple": {"Subject": {"Data": "Approve?"}, "Body": {
                "Text": {"Data.$": f"States.Format('{text}', $$.Task.Token, $$.Task.Token, $$.Task.Token)"},
                "Html": {"Data.$": f"States.Format('{html}', $$.Task.Token, $$.Task.Token)"}}}}}


def _query(link: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(link.replace("&amp;", "&")).query)


def test_callback_links_to_the_server_are_signed_for_their_decision(sink: Sink, tmp_path: Path) -> None:
    base = "http://127.0.0.1:8083"
    resource_map = {**_map(sink), "base_dir": str(tmp_path),
                    "callbacks": {"url": base, "secret_file": "callback-secret"}}
    machine = _machine(_approval(base), resource_map, resource=SEND + ".waitForTaskToken",
                       timeout=60)
    execution = machine.start({})
    (mail,) = sink.wait_for(1)
    (token,) = execution.task_tokens
    links = CallbackLinks.from_config({"url": base, "secret_file": "callback-secret"}, tmp_path)
    lines = dict(line.split(": ", 1) for line in mail.body("plain").strip().splitlines())
    assert lines["Approve"] == links.url(token, "approve")
    assert lines["Reject"] == links.url(token, "reject")
    assert "signature" not in _query(lines["Elsewhere"])  # not this server's: left alone
    approve_signature = _query(lines["Approve"])["signature"][0]
    assert links.verify(token, "approve", approve_signature)
    assert not links.verify(token, "reject", approve_signature)  # a decision cannot be swapped
    html = mail.body("html")
    assert f"&amp;signature={approve_signature}" in html
    assert (tmp_path / "callback-secret").stat().st_mode & 0o777 == 0o600
    execution.send_task_success(token, {"approved": True})
    assert execution.wait(30).status == "SUCCEEDED"
    # the history holds the links as the definition wrote them, never a signature
    assert approve_signature not in json.dumps(execution.history, default=str)


def test_the_secret_survives_a_restart_and_differs_between_servers(tmp_path: Path) -> None:
    section = {"url": "http://127.0.0.1:8083", "secret_file": "s"}
    first = CallbackLinks.from_config(section, tmp_path)
    again = CallbackLinks.from_config(section, tmp_path)
    other = CallbackLinks.from_config(section, tmp_path / "other")
    assert first.signature("t", "approve") == again.signature("t", "approve")
    assert first.signature("t", "approve") != other.signature("t", "approve")
    assert "secret" not in repr(first).lower().replace("secret_file", "")
