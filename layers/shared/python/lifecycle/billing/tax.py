"""VAT on invoices (R-PAY-14): which rate applies, and the note an invoice must carry.

Prices are net. The vendor (Quality Unit, s.r.o.; setting ``vendor_country``) charges:

- its own country's rate to customers in its own country, VAT ID or not;
- nothing to a business in another member state that gave a valid EU VAT ID: the
  customer accounts for the VAT (reverse charge, Article 196 of Directive 2006/112/EC);
- the customer's country's rate to customers in another member state without a VAT ID
  (the One-Stop-Shop rule for electronically supplied services);
- nothing outside the EU (outside the scope of EU VAT).

An invoice takes the billing details valid at its issue time, so a VAT ID given later
applies from the next invoice and never changes one already issued (R-PAY-14).
"""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle.billing.billing_details import BillingDetailsView
from lifecycle.core.money import div_round_half_up
from lifecycle.core.settings import Settings

REVERSE_CHARGE = (
    "Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive 2006/112/EC)."
)
OUTSIDE_EU = "Outside the scope of EU VAT: the service is supplied outside the European Union."


@dataclass(frozen=True)
class Treatment:
    rate_basis_points: int
    note: str | None

    def tax_on(self, subtotal_cents: int) -> int:
        """The tax in cents, rounded half-up (a credit note's negative subtotal mirrors it)."""
        return div_round_half_up(subtotal_cents * self.rate_basis_points, 10_000)


def treatment(details: BillingDetailsView | None, settings: Settings) -> Treatment:
    country = details.address.country if details is not None else settings.vendor_country
    rates = settings.vat_rates
    if country == settings.vendor_country:
        return Treatment(rates.get(country, 0), None)
    if country not in rates:
        return Treatment(0, OUTSIDE_EU)
    if details is not None and details.vat_id:
        return Treatment(0, REVERSE_CHARGE)
    return Treatment(rates[country], None)
