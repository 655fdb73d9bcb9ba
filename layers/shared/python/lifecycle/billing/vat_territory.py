"""The EU VAT area by address (R-PAY-14): which state's VAT rules an invoice address falls under,
and which state's VAT IDs it takes.

Legal source: Council Directive 2006/112/EC, Article 6 (territories of member states the
directive does not apply to) and Article 7 (Monaco, the Isle of Man and the UK Sovereign Base
Areas are not third territories: their supplies are treated as France's, the United Kingdom's and
Cyprus's), as amended by Council Directive (EU) 2019/475 (Campione d'Italia); Articles 349 and
355 TFEU for the French overseas places; the Commission's explanatory notes on the place of
supply of electronic services (2015, "territorial scope") and its page "Territorial status of EU
countries and certain territories" (taxation-customs.ec.europa.eu). No maintained package holds
these places by postal code, hence this table; where each postal code comes from is said beside it.

Since the United Kingdom left the EU, the Isle of Man is outside the EU VAT area with it. The
Sovereign Base Areas (Akrotiri and Dhekelia) have no postal codes of their own, so they are not
told apart from Cyprus here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Place:
    """A part of a member state outside the EU VAT area."""

    name: str
    country: str  # ISO 3166-1 code of the member state it belongs to
    postal_codes: re.Pattern[str]  # its postal codes in that state's system (digits, no prefix)
    own_codes: frozenset[str] = frozenset()  # ISO 3166-1 codes it has of its own


OUTSIDE_EU_VAT_AREA: tuple[Place, ...] = (
    # Art. 6(1)(b). Spanish postal codes begin with the province's number (Correos; stdnum.es.postal_code):
    # 35 Las Palmas and 38 Santa Cruz de Tenerife are the two Canary provinces.
    Place("Canary Islands", "ES", re.compile(r"3[58]\d{3}")),
    # Art. 6(2)(c) and (d): the autonomous cities have the numbers 51 and 52 (Correos).
    Place("Ceuta", "ES", re.compile(r"51\d{3}")),
    Place("Melilla", "ES", re.compile(r"52\d{3}")),
    # Art. 6(1)(d). Posti's codes beginning with 22 are Åland's (Mariehamn AX-22100); ISO 3166-1 AX.
    Place("Åland", "FI", re.compile(r"22\d{3}"), frozenset({"AX"})),
    # Art. 6(1)(a). 630 86 is Karyes, the peninsula's post office (ELTA); both 630 86 and 630 87 are
    # in La Poste Colissimo's list of Greek postal codes whose parcels need a customs form (CN23).
    Place("Mount Athos", "GR", re.compile(r"6308[67]")),
    # Art. 6(1)(c), the Art. 349 TFEU places. La Poste's codes begin with the department's number:
    # 971 Guadeloupe, 972 Martinique, 973 French Guiana, 974 Réunion, 976 Mayotte; Saint-Martin
    # (97150) and Saint-Barthélemy (97133) kept Guadeloupe's codes when they left it in 2007.
    Place(
        "French overseas departments",
        "FR",
        re.compile(r"97[1-46]\d{2}"),
        frozenset({"GP", "MQ", "GF", "RE", "YT"}),
    ),
    # Overseas countries and territories (Art. 355(2) TFEU, Annex II), not part of the EU at all:
    # 975 Saint-Pierre-et-Miquelon, 984 the Southern Lands, 986 Wallis and Futuna, 987 French
    # Polynesia, 988 New Caledonia. Their own ISO codes (PM, TF, WF, PF, NC) are outside by themselves.
    Place("French overseas collectivities", "FR", re.compile(r"975\d{2}|98[4678]\d{2}")),
    # Art. 6(2)(b). Deutsche Post 78266; Swiss Post also delivers under CH-8238.
    Place("Büsingen am Hochrhein", "DE", re.compile(r"78266|8238")),
    # Art. 6(2)(a). Deutsche Post 27498 (the island's delivery addresses).
    Place("Heligoland", "DE", re.compile(r"27498")),
    # Art. 6(2)(e). Poste Italiane 23041 (on Livigno's addresses today); the older 23030 is shared with
    # other municipalities of the Alta Valtellina, so it cannot tell Livigno apart.
    Place("Livigno", "IT", re.compile(r"23041")),
    # Art. 6(1)(f), since Directive (EU) 2019/475. Poste Italiane 22061; Swiss Post's CH-6911 was
    # withdrawn when Campione joined the EU customs territory in 2020 but is still seen on addresses.
    Place("Campione d'Italia", "IT", re.compile(r"22061|6911")),
)

# Art. 7: places outside the EU treated as a state's own territory for VAT.
TREATED_AS = {"MC": "FR", "IM": "GB"}

_OWN_CODES = {code: place for place in OUTSIDE_EU_VAT_AREA for code in place.own_codes}
# Letters before the digits (a country prefix such as "AX-", "D-", "I-" or "CH-"), spaces and dashes.
_POSTAL_NOISE = re.compile(r"^[A-Z]{1,3}(?=[-\s]*\d)|[-\s]")


def postal_digits(postal_code: str) -> str:
    """The postal code without a country prefix, spaces and dashes (``"AX-22 100"`` → ``"22100"``)."""
    return _POSTAL_NOISE.sub("", postal_code.strip().upper())


def place_of(country: str, postal_code: str) -> Place | None:
    """The place outside the EU VAT area an address lies in, if any."""
    if country in _OWN_CODES:
        return _OWN_CODES[country]
    digits = postal_digits(postal_code)
    return next((p for p in OUTSIDE_EU_VAT_AREA if p.country == country and p.postal_codes.fullmatch(digits)), None)


def vat_state(country: str, postal_code: str) -> str | None:
    """The ISO 3166-1 code of the state whose VAT rules apply to an address; None for a place of
    a member state outside the EU VAT area (no EU VAT is charged there)."""
    if place_of(country, postal_code) is not None:
        return None
    return TREATED_AS.get(country, country)


def id_state(country: str) -> str:
    """The state whose VAT IDs an address in ``country`` takes: Monaco's are French, the Isle of
    Man's British, Åland's Finnish, the French overseas departments' French."""
    place = _OWN_CODES.get(country)
    return place.country if place is not None else TREATED_AS.get(country, country)
