"""Parallel report example handlers: three independent sections and the final rendering."""

from __future__ import annotations

from collections import defaultdict
from typing import Any


def sales_totals(data: dict[str, Any]) -> dict[str, Any]:
    """Order count and revenue of the period."""
    orders = data["orders"]
    return {"orders": len(orders), "revenue": round(sum(o["amount"] for o in orders), 2)}


def top_customers(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The three customers with the highest spend, highest first (ties by name)."""
    spend: dict[str, float] = defaultdict(float)
    for order in data["orders"]:
        spend[order["customer"]] += order["amount"]
    ranked = sorted(spend.items(), key=lambda item: (-item[1], item[0]))[:3]
    return [{"customer": name, "spent": round(total, 2)} for name, total in ranked]


def stock_alerts(data: dict[str, Any]) -> list[str]:
    """SKUs whose stock fell below their reorder level, sorted."""
    return sorted(item["sku"] for item in data["stock"] if item["onHand"] < item["reorderAt"])


def render(data: dict[str, Any]) -> dict[str, Any]:
    """The report document: a title and the sections in a fixed order."""
    sections = data["sections"]
    return {
        "title": f"Monthly report {data['period']}",
        "sales": sections["sales"],
        "topCustomers": sections["topCustomers"],
        "stockAlerts": sections["stockAlerts"],
    }
