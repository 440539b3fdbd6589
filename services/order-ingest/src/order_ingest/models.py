"""What order-ingest stores, in code: TikTok's order statuses and the hold rule's constants.

The tables (migrations/versions/0002_orders.py) are written with SQL of their own
(`store`, `imports`, `poller`, `webhooks`): every write is a set-based statement whose
locking is stated where it runs, so an ORM mapping would add nothing but a second truth.
"""

from __future__ import annotations

# "Get Order List 202309": the order statuses since 202309, in flow order.
STATUSES = (
    "UNPAID",
    "ON_HOLD",
    "AWAITING_SHIPMENT",
    "PARTIALLY_SHIPPING",
    "AWAITING_COLLECTION",
    "IN_TRANSIT",
    "DELIVERED",
    "COMPLETED",
    "CANCELLED",
)
# The buyer may cancel freely, the seller may not ship ("Get Order Detail 202309": ON_HOLD;
# an UNPAID order has not started its hour yet).
HELD_STATUSES = frozenset({"UNPAID", "ON_HOLD"})
# A held order becomes shippable in these (the OMS may ship once the hold is over).
SHIPPABLE_STATUSES = frozenset({"AWAITING_SHIPMENT", "PARTIALLY_SHIPPING"})
# TikTok's remorse period: one hour after payment (docs/orders.md, "The hold").
HOLD_SECONDS = 3600
# Buyer personal data, kept apart from the order document (`orders.personal`): never
# logged, erased alone by the retention purge.
PERSONAL_FIELDS = ("recipient_address", "buyer_email", "buyer_message", "cpf", "cpf_name")
