"""Order-routing example handler (used by the JSONPath and the JSONata version alike)."""

from __future__ import annotations

from typing import Any


def price(lines: list[dict[str, Any]]) -> dict[str, Any]:
    """The subtotal in cents of ``lines`` (each with ``quantity`` and ``unitPriceCents``)."""
    subtotal = sum(line["quantity"] * line["unitPriceCents"] for line in lines)
    return {"subtotalCents": subtotal, "currency": "EUR"}
