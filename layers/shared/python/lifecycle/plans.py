"""Plan and billing-period names of API.md. Prices and limits are data (billing issue)."""

from __future__ import annotations

from typing import Literal

Plan = Literal["free", "ticket", "ticket-chat", "all-inclusive"]
BillingPeriod = Literal["monthly", "annual"]
