"""ETL example handlers: parse CSV text, clean the rows, load them (here: summarise them)."""

from __future__ import annotations

import csv
import io
from typing import Any


class WarehouseBusy(Exception):
    """A transient load failure; the ETL definition retries it with backoff."""


def extract(event: dict[str, Any]) -> list[dict[str, str]]:
    """The CSV text in ``event["csv"]`` as a list of rows (dicts keyed by the header)."""
    return list(csv.DictReader(io.StringIO(event["csv"])))


def transform(rows: list[dict[str, str]]) -> dict[str, Any]:
    """Rows with a numeric amount, names capitalised; the ids of rejected rows."""
    clean: list[dict[str, Any]] = []
    rejected: list[str] = []
    for row in rows:
        try:
            amount = round(float(row["amount"]), 2)
        except (KeyError, ValueError):
            rejected.append(row.get("id", "?"))
            continue
        clean.append({"id": row["id"], "customer": row["name"].strip().title(), "amount": amount})
    return {"rows": clean, "rejected": rejected, "count": len(clean)}


def load(event: dict[str, Any]) -> dict[str, Any]:
    """Load ``rows`` into ``table``; returns what a warehouse would report back."""
    rows = event["rows"]
    return {
        "table": event["table"],
        "rowsLoaded": len(rows),
        "total": round(sum(row["amount"] for row in rows), 2),
        "warehouse": "local",
    }
