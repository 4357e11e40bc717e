"""Stand-ins for the e-mail and the two downstream services of definitions/merchant_onboarding.yaml
under ``sm run`` (definitions/local/merchant_onboarding.resources.yaml): they print what they
receive on standard error and answer as SES v2 SendEmail and the HTTP Task do."""

from __future__ import annotations

import hashlib
import sys
from typing import Any


def print_email(parameters: dict[str, Any]) -> dict[str, Any]:
    """SES v2 SendEmail stand-in: print the text e-mail, answer {"MessageId"}."""
    simple = parameters["Content"]["Simple"]
    text = simple["Body"]["Text"]["Data"]
    to = ", ".join(parameters["Destination"]["ToAddresses"])
    print(f"--- e-mail to {to}: {simple['Subject']['Data']}\n{text}---", file=sys.stderr, flush=True)
    return {"MessageId": hashlib.sha256(text.encode()).hexdigest()[:32]}


def downstream_service(parameters: dict[str, Any]) -> dict[str, Any]:
    """HTTP Task stand-in for the payments and CRM services: 201 with a record id."""
    body = parameters.get("RequestBody") or {}
    url = parameters["ApiEndpoint"]
    print(f"--- {parameters['Method']} {url}", file=sys.stderr, flush=True)
    merchant = body.get("merchantId", "unknown")
    answer = {"accountId": f"pa-{merchant}"} if "payments" in url else {"id": f"crm-{merchant}"}
    return {"Headers": {"content-type": ["application/json"]}, "ResponseBody": answer,
            "StatusCode": 201, "StatusText": "Created"}
