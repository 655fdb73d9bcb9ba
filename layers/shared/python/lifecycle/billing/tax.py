"""VAT on invoices (R-PAY-14): which rate applies (the vendor's country's at home, none for an EU business
with a VAT ID elsewhere that VIES confirmed (reverse charge), the customer's country's for other EU
customers, none outside the EU VAT area) and the note an invoice must carry. The address's VAT state
decides (``vat_territory``: Monaco is France, the Canary Islands are outside); prices are net; the
billing details valid at issue decide.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lifecycle.billing import vat_territory, vies
from lifecycle.billing.billing_details import BillingDetailsView
from lifecycle.core.money import div_round_half_up
from lifecycle.core.settings import Settings

REVERSE_CHARGE = (
    "Reverse charge: VAT to be accounted for by the recipient (Article 196, Council Directive 2006/112/EC)."
)
OUTSIDE_EU = "Outside the scope of EU VAT: the service is supplied outside the EU VAT area."


@dataclass(frozen=True)
class Treatment:
    rate_basis_points: int
    note: str | None

    def tax_on(self, subtotal_cents: int) -> int:
        """The tax in cents, rounded half-up (a credit note's negative subtotal mirrors it)."""
        return div_round_half_up(subtotal_cents * self.rate_basis_points, 10_000)


def treatment(
    details: BillingDetailsView | None,
    settings: Settings,
    confirmation: vies.Confirmation | None = None,
    now: datetime | None = None,
) -> Treatment:
    country = vat_country(details, settings)
    if country is None:
        return Treatment(0, OUTSIDE_EU)
    rates = settings.vat_rates
    if country == settings.vendor_country:
        return Treatment(rates.get(country, 0), None)
    if country not in rates:
        return Treatment(0, OUTSIDE_EU)
    # Only a VAT ID VIES confirmed, recently enough at ``now``; unconfirmed it is a consumer's.
    if (
        details is not None
        and details.vat_id
        and now is not None
        and vies.confirms(confirmation, details.vat_id, now, settings)
    ):
        return Treatment(0, REVERSE_CHARGE)
    return Treatment(rates[country], None)


def vat_country(details: BillingDetailsView | None, settings: Settings) -> str | None:
    """The state whose VAT rules the invoice address falls under (Monaco France's, the Isle of
    Man the UK's), None for a place outside the EU VAT area (``vat_territory``)."""
    if details is None:
        return settings.vendor_country
    return vat_territory.vat_state(details.address.country, details.address.postal_code)


def reverse_charged_once_confirmed(details: BillingDetailsView | None, settings: Settings) -> bool:
    """R-PAY-14: whether a VIES confirmation of the details' VAT ID would reverse-charge them (a VAT
    ID, in a member state's VAT area other than the vendor's), i.e. whether VIES is worth asking."""
    if details is None or not details.vat_id:
        return False
    country = vat_country(details, settings)
    return country is not None and country != settings.vendor_country and country in settings.vat_rates
