"""Local stand-ins for the AWS resources of definitions/aws_signup.yaml."""

from __future__ import annotations

import hashlib
from typing import Any


class InvalidEmailError(Exception):
    """Raised like a Lambda function error: Step Functions sees errorType 'InvalidEmailError'."""


def validate_user(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda handler: reject addresses without an @."""
    email = event.get("email", "")
    if "@" not in email:
        raise InvalidEmailError(f"'{email}' is not an email address")
    return {"email": email.lower(), "valid": True}


def create_account(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Lambda handler: a stable account id derived from the address."""
    digest = hashlib.sha256(event["email"].lower().encode()).hexdigest()[:8]
    return {"accountId": f"acct-{digest}", "plan": event.get("plan", "free")}


def send_message(parameters: dict[str, Any]) -> dict[str, Any]:
    """SQS sendMessage stand-in: answers as the SQS integration does (MessageId, MD5)."""
    body = str(parameters["MessageBody"])
    return {"MessageId": hashlib.md5(body.encode()).hexdigest(), "MD5OfMessageBody": hashlib.md5(body.encode()).hexdigest()}
