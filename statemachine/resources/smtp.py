"""Resources stage: e-mail over SMTP, with the parameters and result of Amazon SES v2
SendEmail, so a definition written for AWS (``arn:aws:states:::aws-sdk:sesv2:sendEmail``,
also ``.waitForTaskToken``) sends real mail locally through any SMTP server.

In: SendEmail's parameters (``FromEmailAddress``, ``Destination.ToAddresses`` /
``CcAddresses`` / ``BccAddresses``, ``ReplyToAddresses``, ``FeedbackForwardingEmailAddress``
(the envelope sender), ``Content.Simple`` (``Subject``, ``Body.Text`` / ``Body.Html`` with
``Data`` and ``Charset``, ``Headers``) or ``Content.Raw.Data`` (a base64 MIME message),
``ConfigurationSetName`` and ``EmailTags`` (sent as SES's SMTP headers
``X-SES-CONFIGURATION-SET`` / ``X-SES-MESSAGE-TAGS``)). Out: ``{"MessageId": "..."}``, as SES
answers; the id is also the message's ``Message-ID``. ``Content.Template`` needs templates
stored in SES and is refused.

Configured by a resource map's ``smtp`` section (local_map.py)::

    smtp:
      host: 127.0.0.1           # default 127.0.0.1
      port: 1025                # default 25, 465 with tls: ssl, 587 with tls: starttls
      tls: none                 # none | starttls | ssl (certificates verified; ca_file: PEM)
      username: onboarding      # optional: AUTH LOGIN/PLAIN
      password_env: SMTP_PASSWORD   # the password's environment variable (or password: ...)
      timeout: 30               # seconds for connecting and each SMTP reply

Errors, named as Step Functions names AWS SDK errors (``SesV2.<Name>Exception``), with the
SDK's cause text (``<message> (Service: SesV2, Status Code: N, Request ID: ...)``):

- ``SesV2.BadRequestException``        malformed parameters (what and where in the cause);
- ``SesV2.MessageRejectedException``   the server refused the sender, every recipient or the
  message (a permanent 5xx reply);
- ``SesV2.TooManyRequestsException``   a temporary 4xx reply (greylisting, rate limits): retry;
- ``SesV2.AccessDeniedException``      the server refused the username/password;
- ``SesV2.SdkClientException``         no SMTP conversation: connection refused, timeout, TLS.

The username and password never appear in a cause (nor so in a history), whatever the
server echoes. With a resource map's ``callbacks`` section, Approve/Reject links to the
server that carry the task's token are signed before sending (callback_links.py).
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
import smtplib
import ssl
import time
import uuid
from collections.abc import Mapping
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import SMTP as SMTP_POLICY
from email.utils import getaddresses
from pathlib import Path
from typing import Any, Final, Literal

from statemachine.errors import StatesError
from statemachine.resources.base import TaskRequest
from statemachine.resources.callback_links import CallbackLinks
from statemachine.resources.connections import redact
from statemachine.values import JSON

SEND_EMAIL_RESOURCE: Final = "arn:aws:states:::aws-sdk:sesv2:sendEmail"
SERVICE: Final = "SesV2"
BAD_REQUEST: Final = "SesV2.BadRequestException"
MESSAGE_REJECTED: Final = "SesV2.MessageRejectedException"
TOO_MANY_REQUESTS: Final = "SesV2.TooManyRequestsException"
ACCESS_DENIED: Final = "SesV2.AccessDeniedException"
CLIENT_ERROR: Final = "SesV2.SdkClientException"

TlsMode = Literal["none", "starttls", "ssl"]
_DEFAULT_PORTS: Final = {"none": 25, "starttls": 587, "ssl": 465}
_SETTINGS_KEYS: Final = frozenset({"host", "port", "tls", "username", "password",
                                   "password_env", "timeout", "ca_file"})
_PARAMETERS: Final = frozenset({
    "FromEmailAddress", "FromEmailAddressIdentityArn", "Destination", "ReplyToAddresses",
    "FeedbackForwardingEmailAddress", "FeedbackForwardingEmailAddressIdentityArn", "Content",
    "EmailTags", "ConfigurationSetName", "EndpointId", "ListManagementOptions"})


class SmtpConfigError(ValueError):
    """The ``smtp`` section of a resource map is malformed."""


@dataclasses.dataclass(frozen=True)
class SmtpSettings:
    """Where and how to send: see the module docstring. ``password`` is read from
    ``password_env`` when the mail is sent, so a changed variable takes effect."""

    host: str = "127.0.0.1"
    port: int = 25
    tls: TlsMode = "none"
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    password_env: str | None = None
    timeout: float = 30.0
    ca_file: str | None = None

    @classmethod
    def from_config(cls, section: Mapping[str, Any], base: Path) -> SmtpSettings:
        """From a resource map's ``smtp`` section (``ca_file`` relative to ``base``)."""
        if not isinstance(section, Mapping):
            raise SmtpConfigError("smtp must be an object (host, port, tls, username, ...)")
        unknown = sorted(set(section) - _SETTINGS_KEYS)
        if unknown:
            raise SmtpConfigError(f"smtp: unknown keys {unknown}; allowed: {sorted(_SETTINGS_KEYS)}")
        tls = section.get("tls", "none")
        if tls not in _DEFAULT_PORTS:
            raise SmtpConfigError(f"smtp.tls must be none, starttls or ssl, got {tls!r}")
        port = section.get("port", _DEFAULT_PORTS[tls])
        timeout = section.get("timeout", 30)
        if not isinstance(port, int) or isinstance(port, bool) or not 0 < port < 65536:
            raise SmtpConfigError(f"smtp.port must be a port number, got {port!r}")
        if not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0:
            raise SmtpConfigError(f"smtp.timeout must be a positive number of seconds, got {timeout!r}")
        text = {key: section.get(key) for key in ("host", "username", "password", "password_env",
                                                   "ca_file")}
        for key, value in text.items():
            if value is not None and not isinstance(value, str):
                raise SmtpConfigError(f"smtp.{key} must be text")
        ca_file = str(base / text["ca_file"]) if text["ca_file"] else None
        return cls(host=text["host"] or "127.0.0.1", port=port, tls=tls,
                   username=text["username"], password=text["password"],
                   password_env=text["password_env"], timeout=float(timeout), ca_file=ca_file)

    def credentials(self) -> tuple[str, str] | None:
        """(username, password), or None without a username. Raises SdkClientException when
        the password's environment variable is not set (named, never its value)."""
        if self.username is None:
            return None
        if self.password_env is not None:
            if self.password_env not in os.environ:
                raise StatesError(CLIENT_ERROR, f"Unable to send the e-mail: the SMTP password's "
                                                f"environment variable {self.password_env} is not set")
            return self.username, os.environ[self.password_env]
        return self.username, self.password or ""


# -- the message -----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Outgoing:
    """One message ready for SMTP: envelope sender, envelope recipients, the message."""

    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage
    message_id: str


def _bad(message: str) -> StatesError:
    return StatesError(BAD_REQUEST, _sdk_cause(message, 400))


def _sdk_cause(message: str, status: int) -> str:
    return f"{message} (Service: {SERVICE}, Status Code: {status}, Request ID: {uuid.uuid4()})"


def _text(params: Mapping[str, JSON], key: str, where: str) -> str | None:
    value = params.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _bad(f"{where}{key} must be a string, got {type(value).__name__}")
    if any(c in value for c in "\r\n\0"):
        raise _bad(f"{where}{key} holds CR, LF or NUL")
    return value


def _addresses(value: JSON, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(f"{where} must be a list of e-mail addresses")
    for address in value:
        if "@" not in address or any(c in address for c in "\r\n\0"):
            raise _bad(f"{where}: {address!r} is not an e-mail address")
    return list(value)


def _content_part(section: JSON, where: str) -> tuple[str, str] | None:
    """(Data, Charset) of a Subject/Text/Html object."""
    if section is None:
        return None
    if not isinstance(section, dict) or not isinstance(section.get("Data"), str):
        raise _bad(f"{where} must be an object with a string Data")
    charset = section.get("Charset", "utf-8")
    if not isinstance(charset, str):
        raise _bad(f"{where}.Charset must be a string")
    return section["Data"], charset


def _new_message_id() -> str:
    """A message id shaped like SES's (hex time, a UUID, a counter)."""
    return f"{int(time.time() * 1000):016x}-{uuid.uuid4()}-000000"


def build_message(params: JSON) -> Outgoing:
    """The SMTP message for SendEmail ``params``; raises SesV2.BadRequestException."""
    if not isinstance(params, dict):
        raise _bad("SendEmail parameters must be an object")
    unknown = sorted(set(params) - _PARAMETERS)
    if unknown:
        raise _bad(f"Unknown SendEmail parameters: {', '.join(unknown)}")
    content = params.get("Content")
    if not isinstance(content, dict) or len(content) != 1:
        raise _bad("Content must be an object with exactly one of Simple, Raw or Template")
    sender = _text(params, "FromEmailAddress", "")
    destination = params.get("Destination") or {}
    if not isinstance(destination, dict):
        raise _bad("Destination must be an object")
    to = _addresses(destination.get("ToAddresses"), "Destination.ToAddresses")
    cc = _addresses(destination.get("CcAddresses"), "Destination.CcAddresses")
    bcc = _addresses(destination.get("BccAddresses"), "Destination.BccAddresses")
    if "Template" in content:
        raise _bad("Content.Template needs templates stored in Amazon SES; the local SMTP "
                   "resource sends Simple and Raw content")
    if "Raw" in content:
        message = _raw_message(content["Raw"])
        sender = sender or _header_address(message, "From")
        if not (to or cc or bcc):
            to = [a for h in ("To", "Cc", "Bcc") for a in _header_addresses(message, h)]
        del message["Bcc"]
    elif "Simple" in content:
        if sender is None:
            raise _bad("FromEmailAddress is required with Content.Simple")
        message = _simple_message(content["Simple"])
        message["From"] = sender
        if to:
            message["To"] = ", ".join(to)
        if cc:
            message["Cc"] = ", ".join(cc)
    else:
        raise _bad(f"Content must hold Simple, Raw or Template, not {next(iter(content))}")
    if not sender:
        raise _bad("No sender: give FromEmailAddress or a From header")
    recipients = tuple(dict.fromkeys(to + cc + bcc))
    if not recipients:
        raise _bad("Destination names no recipient")
    _ses_headers(message, params)
    message_id = _new_message_id()
    if "Message-ID" not in message:
        message["Message-ID"] = f"<{message_id}@{sender.rpartition('@')[2] or 'localhost'}>"
    bounce = _text(params, "FeedbackForwardingEmailAddress", "") or sender
    return Outgoing(bounce, recipients, message, message_id)


def _simple_message(simple: JSON) -> EmailMessage:
    if not isinstance(simple, dict):
        raise _bad("Content.Simple must be an object")
    subject = _content_part(simple.get("Subject"), "Content.Simple.Subject")
    body = simple.get("Body")
    if subject is None or not isinstance(body, dict):
        raise _bad("Content.Simple needs Subject and Body")
    text = _content_part(body.get("Text"), "Content.Simple.Body.Text")
    html = _content_part(body.get("Html"), "Content.Simple.Body.Html")
    if text is None and html is None:
        raise _bad("Content.Simple.Body needs Text or Html")
    message = EmailMessage()
    if any(c in subject[0] for c in "\r\n"):
        raise _bad("Content.Simple.Subject.Data holds CR or LF")
    message["Subject"] = subject[0]
    if text is not None:
        message.set_content(text[0], charset=text[1])
    if html is not None:
        if text is None:
            message.set_content(html[0], subtype="html", charset=html[1])
        else:
            message.add_alternative(html[0], subtype="html", charset=html[1])
    for header in simple.get("Headers") or []:
        if not isinstance(header, dict):
            raise _bad("Content.Simple.Headers must be a list of {Name, Value}")
        name = _text(header, "Name", "Content.Simple.Headers: ")
        value = _text(header, "Value", "Content.Simple.Headers: ")
        if not name or value is None:
            raise _bad("Content.Simple.Headers entries need Name and Value")
        message[name] = value
    return message


def _raw_message(raw: JSON) -> EmailMessage:
    data = raw.get("Data") if isinstance(raw, dict) else None
    if not isinstance(data, str):
        raise _bad("Content.Raw.Data must be the base64 text of a MIME message")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise _bad("Content.Raw.Data is not valid base64") from None
    parsed = BytesParser(_class=EmailMessage, policy=SMTP_POLICY).parsebytes(blob)
    assert isinstance(parsed, EmailMessage)
    return parsed


def _header_addresses(message: EmailMessage, header: str) -> list[str]:
    return [address for _, address in getaddresses(message.get_all(header) or []) if address]


def _header_address(message: EmailMessage, header: str) -> str | None:
    found = _header_addresses(message, header)
    return found[0] if found else None


def _ses_headers(message: EmailMessage, params: Mapping[str, JSON]) -> None:
    """Reply-To, and what SES's own SMTP interface reads from headers."""
    reply_to = _addresses(params.get("ReplyToAddresses"), "ReplyToAddresses")
    if reply_to:
        del message["Reply-To"]
        message["Reply-To"] = ", ".join(reply_to)
    configuration_set = _text(params, "ConfigurationSetName", "")
    if configuration_set:
        message["X-SES-CONFIGURATION-SET"] = configuration_set
    tags = params.get("EmailTags") or []
    if not isinstance(tags, list):
        raise _bad("EmailTags must be a list of {Name, Value}")
    pairs = []
    for tag in tags:
        if not isinstance(tag, dict):
            raise _bad("EmailTags must be a list of {Name, Value}")
        pairs.append(f"{_text(tag, 'Name', 'EmailTags: ')}={_text(tag, 'Value', 'EmailTags: ')}")
    if pairs:
        message["X-SES-MESSAGE-TAGS"] = ", ".join(pairs)


def sign_message(message: EmailMessage, links: CallbackLinks, token: str) -> None:
    """Sign, in every text/plain and text/html part, the callback links that carry ``token``."""
    for part in message.walk():
        if part.get_content_maintype() != "text" or part.is_multipart():
            continue
        subtype = part.get_content_subtype()
        if subtype not in ("plain", "html"):
            continue
        assert isinstance(part, EmailMessage)
        text = part.get_content()
        signed = links.sign_links(text, token, html=subtype == "html")
        if signed != text:
            part.set_content(signed, subtype=subtype, charset=part.get_content_charset() or "utf-8")


# -- sending ---------------------------------------------------------------------------------
class SendEmailHandler:
    """``arn:aws:states:::aws-sdk:sesv2:sendEmail`` over SMTP (a blocking handler: it runs on
    the task thread pool). See the module docstring for parameters, result and errors."""

    def __init__(self, settings: SmtpSettings, links: CallbackLinks | None = None) -> None:
        self.settings = settings
        self.links = links

    def __repr__(self) -> str:
        return f"SendEmailHandler({self.settings.host}:{self.settings.port}, tls={self.settings.tls})"

    def __call__(self, request: TaskRequest) -> JSON:
        outgoing = build_message(request.input)
        if self.links is not None and request.task_token:
            sign_message(outgoing.message, self.links, request.task_token)
        credentials = self.settings.credentials()
        try:
            self._send(outgoing, credentials)
        except StatesError as exc:
            secrets = list(credentials or ())
            raise StatesError(exc.name, redact(exc.cause or "", secrets)) from None
        return {"MessageId": outgoing.message_id}

    def _send(self, outgoing: Outgoing, credentials: tuple[str, str] | None) -> None:
        settings = self.settings
        where = f"{settings.host}:{settings.port}"
        try:
            with self._connect() as smtp:
                if settings.tls == "starttls":
                    smtp.starttls(context=self._context())
                if credentials is not None:
                    smtp.login(*credentials)
                smtp.send_message(outgoing.message, outgoing.sender, list(outgoing.recipients))
        except smtplib.SMTPAuthenticationError as exc:
            raise StatesError(ACCESS_DENIED, _sdk_cause(
                f"The SMTP server {where} refused the credentials: {_reply(exc)}", 403)) from None
        except smtplib.SMTPRecipientsRefused as exc:
            refused = "; ".join(f"{address}: {_reply_of(code, text)}"
                                for address, (code, text) in exc.recipients.items())
            codes = [code for code, _ in exc.recipients.values()]
            raise _rejected(min(codes, default=550), f"Every recipient was refused: {refused}") from None
        except smtplib.SMTPSenderRefused as exc:
            raise _rejected(exc.smtp_code, f"The sender {exc.sender} was refused: {_reply(exc)}") from None
        except smtplib.SMTPResponseException as exc:
            raise _rejected(exc.smtp_code, f"The SMTP server {where} answered {_reply(exc)}") from None
        except (smtplib.SMTPException, OSError) as exc:  # connect, TLS, timeouts, hang-ups
            detail = str(exc) or type(exc).__name__
            raise StatesError(CLIENT_ERROR, f"Unable to send the e-mail through the SMTP server "
                                            f"{where}: {type(exc).__name__}: {detail}") from None

    def _connect(self) -> smtplib.SMTP:
        settings = self.settings
        if settings.tls == "ssl":
            return smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout,
                                    context=self._context())
        return smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout)

    def _context(self) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=self.settings.ca_file)


def _reply_of(code: int, text: bytes | str) -> str:
    message = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
    return f"{code} {message}".strip()


def _reply(exc: smtplib.SMTPResponseException) -> str:
    return _reply_of(exc.smtp_code, exc.smtp_error)


def _rejected(code: int, message: str) -> StatesError:
    """A 4xx reply is temporary (retry later), a 5xx one final."""
    if 400 <= code < 500:
        return StatesError(TOO_MANY_REQUESTS, _sdk_cause(message, 429))
    return StatesError(MESSAGE_REJECTED, _sdk_cause(message, 400))


def handler_from_config(smtp: Mapping[str, Any], callbacks: Mapping[str, Any] | None,
                        base: Path) -> SendEmailHandler:
    """The handler a resource map's ``smtp`` (and ``callbacks``) sections describe. Raises
    SmtpConfigError / callback_links.CallbackConfigError."""
    links = CallbackLinks.from_config(callbacks, base) if callbacks is not None else None
    return SendEmailHandler(SmtpSettings.from_config(smtp, base), links)


__all__ = ["SEND_EMAIL_RESOURCE", "SendEmailHandler", "SmtpConfigError", "SmtpSettings",
           "build_message", "handler_from_config", "sign_message"]
