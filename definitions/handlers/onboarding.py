"""Merchant-onboarding handlers (definitions/merchant_onboarding.yaml), written as AWS Lambda
functions (``handler(event, context)``): deployed as the Lambda functions the definition
names, and run locally through definitions/local/merchant_onboarding.resources.yaml.

- ``preprocess``: tidy the request (spaces, case, IBAN grouping) and give it a stable id;
- ``validate``: every problem at once, raised as ``InvalidMerchantRequest``;
- ``postprocess``: the risk tier and the summary the reviewer reads, as text and as HTML
  (escaped here: the merchant's own words never become markup in the reviewer's mail).
"""

from __future__ import annotations

import hashlib
import html
import re
from typing import Any

#: Countries this payment provider onboards merchants in (ISO 3166-1 alpha-2).
COUNTRIES = frozenset({"AT", "BE", "DE", "ES", "FR", "GB", "IE", "IT", "NL", "PT", "SE"})
#: IBAN length per country (ISO 13616).
IBAN_LENGTHS = {"AT": 20, "BE": 16, "DE": 22, "ES": 24, "FR": 27, "GB": 22, "IE": 22,
                "IT": 27, "NL": 18, "PT": 25, "SE": 24}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")


class InvalidMerchantRequest(Exception):
    """The request cannot be onboarded as it is; the message lists every problem."""


def preprocess(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The request with its fields tidied and a merchant id derived from the e-mail."""
    merchant = event.get("merchant") or {}
    email = str(merchant.get("email", "")).strip().lower()
    return {
        "merchantId": "m-" + hashlib.sha256(email.encode()).hexdigest()[:10],
        "legalName": " ".join(str(merchant.get("legalName", "")).split()),
        "email": email,
        "country": str(merchant.get("country", "")).strip().upper(),
        "website": str(merchant.get("website", "")).strip(),
        "iban": re.sub(r"\s+", "", str(merchant.get("iban", ""))).upper(),
        "monthlyVolume": merchant.get("monthlyVolume"),
    }


def iban_valid(iban: str) -> bool:
    """ISO 13616 check: move the first four characters to the end, letters to 10..35,
    and the number must leave 1 when divided by 97."""
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", iban):
        return False
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def validate(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The request unchanged, or InvalidMerchantRequest naming every problem."""
    problems = []
    if not event["legalName"]:
        problems.append("legalName is empty")
    if not _EMAIL.match(event["email"]):
        problems.append(f"email {event['email']!r} is not an e-mail address")
    country = event["country"]
    if country not in COUNTRIES:
        problems.append(f"country {country!r} is not one we onboard in")
    if not event["website"].startswith("https://"):
        problems.append("website must be an https:// address")
    iban = event["iban"]
    if len(iban) < 15 or not iban_valid(iban) or (country in IBAN_LENGTHS and len(iban) != IBAN_LENGTHS[country]):
        problems.append(f"iban {iban!r} is not a valid IBAN for {country or 'the country'}")
    volume = event["monthlyVolume"]
    if not isinstance(volume, (int, float)) or isinstance(volume, bool) or volume <= 0:
        problems.append("monthlyVolume must be a positive amount")
    if problems:
        raise InvalidMerchantRequest("; ".join(problems))
    return event


def postprocess(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The request plus its risk tier and the reviewer's summary (text and escaped HTML)."""
    volume = event["monthlyVolume"]
    tier = "high" if volume >= 100_000 else "medium" if volume >= 20_000 else "low"
    rows = [("Merchant", event["legalName"]), ("Contact", event["email"]),
            ("Country", event["country"]), ("Website", event["website"]),
            ("IBAN", event["iban"][:4] + " **** " + event["iban"][-4:]),
            ("Monthly volume", f"{volume:,} EUR"), ("Risk tier", tier)]
    text = "\n".join(f"{name}: {value}" for name, value in rows)
    cells = "".join(f"<tr><th align=\"left\">{html.escape(name)}</th>"
                    f"<td>{html.escape(str(value))}</td></tr>" for name, value in rows)
    return {**event, "riskTier": tier,
            "summary": {"text": text, "html": f"<table>{cells}</table>"}}
