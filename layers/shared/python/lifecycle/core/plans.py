"""Plan and billing-period names of API.md. Prices and limits are data (settings, ``billing.pricing``)."""

from __future__ import annotations

from typing import Literal

Plan = Literal["free", "ticket", "ticket-chat", "all-inclusive"]
BillingPeriod = Literal["monthly", "annual"]

# How a plan is named on invoices and notices.
PLAN_NAMES: dict[str, str] = {
    "free": "Free",
    "ticket": "Ticket",
    "ticket-chat": "Ticket+Chat",
    "all-inclusive": "All-inclusive",
}
