"""Order saga example handlers: each step has an undo step that the saga runs on failure."""

from __future__ import annotations

from typing import Any

#: Card numbers the fake payment gateway declines (the standard test card for "declined").
DECLINED_CARDS = frozenset({"4000-0000-0000-0002"})


class OutOfStock(Exception):
    """A line asks for more than the warehouse holds."""


class PaymentDeclined(Exception):
    """The card was declined."""


class AddressNotFound(Exception):
    """The carrier cannot deliver to the address."""


def reserve_inventory(order: dict[str, Any]) -> dict[str, Any]:
    """Reserve every line of the order; fails with OutOfStock for quantities over 100."""
    for line in order["lines"]:
        if line["quantity"] > 100:
            raise OutOfStock(f"only 100 of {line['sku']} in stock")
    return {"reservationId": f"res-{order['orderId']}", "lines": len(order["lines"])}


def charge_payment(order: dict[str, Any]) -> dict[str, Any]:
    """Charge the order total to the card; fails with PaymentDeclined for a declined card."""
    amount = sum(line["quantity"] * line["unitPrice"] for line in order["lines"])
    if order["card"] in DECLINED_CARDS:
        raise PaymentDeclined(f"card declined for order {order['orderId']}")
    return {"paymentId": f"pay-{order['orderId']}", "amount": round(amount, 2)}


def ship_order(order: dict[str, Any]) -> dict[str, Any]:
    """Book the shipment; fails with AddressNotFound when the address is empty."""
    if not order.get("address"):
        raise AddressNotFound(f"no delivery address for order {order['orderId']}")
    return {"trackingNumber": f"TRK-{order['orderId']}", "carrier": "local-post"}


def refund_payment(order: dict[str, Any]) -> dict[str, Any]:
    """Undo ``charge_payment``."""
    return {"refunded": order["payment"]["paymentId"]}


def release_inventory(order: dict[str, Any]) -> dict[str, Any]:
    """Undo ``reserve_inventory``."""
    return {"released": order["reservation"]["reservationId"]}
