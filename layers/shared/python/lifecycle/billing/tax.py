"""VAT on invoices (R-PAY-14): which rate applies (the vendor's country's at home, none for an EU business
with a VAT ID elsewhere (reverse charge), the customer's country's for other EU customers, none outside
the EU) and the note an invoice must carry. Prices are net; the billing details valid at issue decide.
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
