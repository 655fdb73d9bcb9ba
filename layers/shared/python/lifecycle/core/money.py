"""Money in integer cents, never floats (RULES.md conventions)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt

Currency = Annotated[str, Field(pattern="^[A-Z]{3}$", description="ISO 4217 code")]


class Money(BaseModel):
    """``{"amount": 3900, "currency": "USD"}``: an amount in the currency's minor unit."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    amount: StrictInt = Field(description="integer cents; 59.0 is refused, as is any float")
    currency: Currency = "USD"

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount + other.amount, currency=self.currency)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(amount=self.amount - other.amount, currency=self.currency)

    def _same_currency(self, other: Money) -> None:
        if other.currency != self.currency:
            raise ValueError(f"cannot mix {self.currency} and {other.currency}")


def div_round_half_up(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` rounded half away from zero, in integers only.

    Used wherever a rule says "rounded half-up to the cent" (R-VOUCH-6, R-PAY-5), so
    proration never passes through a float.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    quotient, remainder = divmod(abs(numerator), denominator)
    if remainder * 2 >= denominator:
        quotient += 1
    return sign * quotient
