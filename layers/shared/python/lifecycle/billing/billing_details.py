"""Billing details: who invoices are made out to (R-VOUCH-8) and their EU VAT ID (R-PAY-14).

R-VOUCH-8: a real first and last name, a valid email, the company, the full address (``region`` where
``REGION_REQUIRED``) and the company registration where local law wants it (``COMPANY_REGISTRATION``),
by its check digits. R-PAY-14: a VAT ID valid by its state's check digits (python-stdnum) with the
prefix of the address's VAT state (``vat_territory``); every version is kept with the instant it
applies from, so new details apply from the next invoice. An EU VAT ID outside the vendor's country is
checked with VIES on saving; its confirmation is kept on the version.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lifecycle.accounts import accounts, audit
from lifecycle.billing import vat_territory, vies
from lifecycle.core import clock
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.errors import Forbidden, InvalidField, InvalidVatId, NotFound
from lifecycle.core.settings import Settings, get_settings
from lifecycle.registration.registration import EmailAddress, NamePart
from lifecycle.storage import Account, BillingDetailsVersion
from lifecycle.storage import billing_details as versions

# ISO 3166-1 alpha-2, the officially assigned codes.
_ISO_3166_ALPHA_2 = """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
    BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
    DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
    GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
    KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
    MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
    PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
    SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
    VN VU WF WS YE YT ZA ZM ZW
"""
COUNTRIES = frozenset(_ISO_3166_ALPHA_2.split())

# Countries whose postal addresses carry a state, province or territory.
REGION_REQUIRED = frozenset({"AU", "BR", "CA", "CN", "IN", "MX", "US"})

# Where local law puts the company's registration number on every invoice: BG ЕИК/BULSTAT
# (Accountancy Act; 9 digits, 13 for a branch), CZ IČO (Civil Code §435, 8 digits),
# SK IČO (Commercial Code §3a, 8 digits). Each is checked by its check digits
# (``registration_error``); elsewhere the number is optional free text.
COMPANY_REGISTRATION: dict[str, str] = {
    "BG": "a UIC (ЕИК/BULSTAT) of 9 or 13 digits",
    "CZ": "an IČO of 8 digits (an older one with its leading zeros)",
    "SK": "an IČO of 8 digits (an older one with its leading zeros)",
}

# The VAT prefix of a state whose ISO code differs (Greece's is EL).
VAT_PREFIX = {"GR": "EL"}
# Northern Ireland's postcodes (Royal Mail's BT area), whose traders may also hold an XI VAT ID.
NORTHERN_IRELAND_POSTCODE = re.compile(r"BT\d", re.IGNORECASE)
CHECK_DIGIT_MISMATCH = "check digit does not match"
_SEPARATORS = re.compile(r"[\s.\-/:]+")
_TAX_ID = re.compile(r"[0-9A-Z+*]{2,32}")
_DIGITS = re.compile(r"[0-9]+")  # ASCII only: str.isdigit() also takes "²" and "٣"


def _text(value: str) -> str:
    return " ".join(value.split())


class Address(BaseModel):
    model_config = ConfigDict(extra="forbid")

    street: str = Field(min_length=1, max_length=200)
    city: str = Field(min_length=1, max_length=100)
    postal_code: str = Field(min_length=1, max_length=20)
    region: str | None = Field(default=None, max_length=100)
    country: str = Field(min_length=2, max_length=2, description="ISO 3166-1 alpha-2")

    @field_validator("street", "city", "postal_code", "region")
    @classmethod
    def _not_blank(cls, value: str | None) -> str | None:
        if value is None:
            return None
        cleaned = _text(value)
        if not cleaned:
            raise ValueError("must not be blank")
        return cleaned

    @field_validator("country")
    @classmethod
    def _iso_country(cls, value: str) -> str:
        code = value.strip().upper()
        if code not in COUNTRIES:
            raise ValueError("must be an ISO 3166-1 alpha-2 country code")
        return code


class BillingDetails(BaseModel):
    """``PUT /accounts/{id}/billing-details`` (API.md "Billing details")."""

    model_config = ConfigDict(extra="forbid")

    first_name: NamePart
    last_name: NamePart
    email: EmailAddress
    company: str = Field(min_length=1, max_length=200)
    address: Address
    vat_id: str | None = Field(default=None, max_length=40)
    company_registration: str | None = Field(default=None, max_length=64)

    @field_validator("company")
    @classmethod
    def _company(cls, value: str) -> str:
        cleaned = _text(value)
        if not cleaned:
            raise ValueError("must not be blank")
        return cleaned


class BillingDetailsView(BillingDetails):
    applies_from: str
    updated_at: str


def normalise_vat_id(vat_id: str) -> str:
    """Upper case, without the spaces, dots, dashes, slashes and colons people type."""
    return _SEPARATORS.sub("", vat_id).upper()


@cache
def eu_vat_prefixes() -> frozenset[str]:
    """The VAT prefixes of the 27 member states, from python-stdnum's list (EL for Greece; XI,
    Northern Ireland's, is not a member state's)."""
    # python-stdnum is imported where a number is checked: its import costs ~130 ms, too much
    # for every cold start (docs/PERFORMANCE.md), and most requests never check a number.
    from stdnum.eu import vat as eu_vat

    return frozenset("EL" if cc == "gr" else cc.upper() for cc in eu_vat.MEMBER_STATES if cc != "xi")


def vat_id_prefixes(address: Address) -> tuple[str, ...]:
    """The prefixes a VAT ID for ``address`` may have: its VAT state's (Monaco's is FR, the Isle of
    Man's GB), XI too in Northern Ireland; none outside the EU and the UK."""
    state = vat_territory.id_state(address.country)
    if state == "GB":
        northern_ireland = address.country == "GB" and NORTHERN_IRELAND_POSTCODE.match(address.postal_code)
        return ("GB", "XI") if northern_ireland else ("GB",)
    prefix = VAT_PREFIX.get(state, state)
    return (prefix,) if prefix in eu_vat_prefixes() else ()


def check_vat_id(vat_id: str, address: Address) -> str:
    """R-PAY-14: the VAT ID with its prefix, compact (e.g. ``EL094259216``), or ``InvalidVatId``.

    An address in a member state (or one treated as such) needs that state's VAT ID, with or
    without its prefix, valid by python-stdnum's national check; a UK address a GB VAT ID. An EU
    prefix with an address elsewhere is refused; other countries' tax ids are kept, normalised.
    """
    normalised = normalise_vat_id(vat_id)
    prefixes = vat_id_prefixes(address)
    given = normalised[:2]
    known = eu_vat_prefixes() | {"XI", "GB", "GR"}  # GR: Greece's ISO code, typed for its EL
    if not prefixes:
        if given in eu_vat_prefixes() | {"XI"}:
            raise InvalidVatId(
                "vat_id", f"{given} VAT IDs are for addresses in the EU or the UK, not {address.country}"
            )
        if not _TAX_ID.fullmatch(normalised):
            raise InvalidVatId("vat_id", "a tax id has 2 to 32 letters and digits")
        return normalised
    if given in known and given not in prefixes:
        raise InvalidVatId(
            "vat_id", f"a VAT ID for an address in {address.country} starts with {' or '.join(prefixes)}"
        )
    return _validated_vat_id(normalised if given in prefixes else prefixes[0] + normalised)


def _validated_vat_id(number: str) -> str:
    """``number`` (prefixed) by its state's check digits, compact with its prefix."""
    from stdnum import exceptions

    prefix = number[:2]
    try:
        if prefix == "GB":
            from stdnum.gb import vat as gb_vat

            return prefix + gb_vat.validate(number)
        from stdnum.eu import vat as eu_vat

        return eu_vat.validate(number)
    except exceptions.InvalidChecksum as wrong:
        raise InvalidVatId("vat_id", CHECK_DIGIT_MISMATCH) from wrong
    except exceptions.InvalidLength as wrong:
        raise InvalidVatId("vat_id", f"the wrong length for a VAT ID starting with {prefix}") from wrong
    except exceptions.InvalidComponent as wrong:
        raise InvalidVatId("vat_id", f"a part of it is not valid in a VAT ID starting with {prefix}") from wrong
    except exceptions.ValidationError as wrong:
        raise InvalidVatId("vat_id", f"not the format of a VAT ID starting with {prefix}") from wrong


def registration_error(number: str, country: str) -> str | None:
    """Why ``number`` (digits, no separators) is not a company registration number of
    ``country`` (one of ``COMPANY_REGISTRATION``), or None when its check digits match."""
    if country == "BG":
        if not _DIGITS.fullmatch(number) or len(number) not in (9, 13):
            return f"must be {COMPANY_REGISTRATION[country]}"
        # A company's ЕИК is its VAT number without the BG prefix (VAT Act art. 94(2)), so
        # python-stdnum's bg.vat checks the 9-digit form (its legal-entity check digit);
        # bg.egn is a person's number and python-stdnum has no 13-digit BULSTAT module.
        from stdnum.bg import vat as bg_vat

        if not bg_vat.is_valid(number[:9]) or (len(number) == 13 and number[12] != bulstat_branch_digit(number[8:12])):
            return CHECK_DIGIT_MISMATCH
        return None
    if not _DIGITS.fullmatch(number) or len(number) != 8:
        return f"must be {COMPANY_REGISTRATION[country]}"
    # The IČO's weighted mod-11 check digit is the one of a Czech legal entity's DIČ (CZ + IČO),
    # python-stdnum's cz.dic.calc_check_digit_legal. The Slovak IČO kept the Czechoslovak form,
    # seven digits and a check digit, which the Statistical Office sets and assigns (Act
    # 272/2015 Coll. on the Register of Legal Entities): the same check. python-stdnum 2.2 has no
    # IČO module; its next release's cz.ico and sk.ico compute this same digit.
    from stdnum.cz import dic

    return None if dic.calc_check_digit_legal(number[:7]) == number[7] else CHECK_DIGIT_MISMATCH


def bulstat_branch_digit(digits: str) -> str:
    """The 13th digit of a branch's BULSTAT code from its 9th to 12th: weights 2, 7, 3, 5 mod 11;
    a remainder of 10 is weighed again with 4, 9, 5, 7, and 10 once more gives 0 (the structure
    of the code the Registry Agency publishes for the BULSTAT register)."""
    for weights in ((2, 7, 3, 5), (4, 9, 5, 7)):
        remainder = sum(weight * int(digit) for weight, digit in zip(weights, digits, strict=True)) % 11
        if remainder != 10:
            return str(remainder)
    return "0"


def check_company_registration(number: str | None, country: str) -> str | None:
    """R-VOUCH-8: required, with matching check digits, where local law puts it on invoices."""
    described = COMPANY_REGISTRATION.get(country)
    if described is None:
        return _text(number) if number and number.strip() else None
    cleaned = _SEPARATORS.sub("", number).upper() if number else ""
    if not cleaned:
        raise InvalidField("company_registration", f"required in {country}: {described}")
    reason = registration_error(cleaned, country)
    if reason is not None:
        raise InvalidField("company_registration", reason)
    return cleaned


def validated(details: BillingDetails) -> BillingDetails:
    """The country-dependent rules the schema cannot know (R-VOUCH-8, R-PAY-14)."""
    country = details.address.country
    if country in REGION_REQUIRED and not details.address.region:
        raise InvalidField("address.region", f"required for an address in {country}")
    registration = check_company_registration(details.company_registration, country)
    vat_id = check_vat_id(details.vat_id, details.address) if details.vat_id and details.vat_id.strip() else None
    return details.model_copy(update={"vat_id": vat_id, "company_registration": registration})


def _view(item: BillingDetailsVersion) -> BillingDetailsView:
    applies_from = clock.to_iso(item.valid_from)
    return BillingDetailsView.model_construct(
        first_name=item.first_name,
        last_name=item.last_name,
        email=item.email,
        company=item.company,
        address=Address.model_construct(
            street=item.street,
            city=item.city,
            postal_code=item.postal_code,
            region=item.region,
            country=item.country,
        ),
        vat_id=item.vat_id,
        company_registration=item.company_registration,
        applies_from=applies_from,
        updated_at=applies_from,
    )


def require_owner(principal: Principal, account_id: str) -> None:
    require_member(principal, account_id, roles=("owner",))
    if principal.is_staff:
        raise Forbidden("Only the account's owner gives its billing details")


def put_for(
    principal: Principal, account: Account, form: BillingDetails, now: datetime, settings: Settings | None = None
) -> BillingDetailsView:
    """R-VOUCH-8, R-PAY-14: a new version applying from ``now``; earlier ones are kept, so
    an invoice issued before now keeps the details it was issued with. An EU VAT ID outside
    the vendor's country is checked with VIES first; a VIES that says no or does not answer
    never stops the saving (the version is saved unconfirmed)."""
    require_owner(principal, account.id)
    details = validated(form)
    confirmation = _checked_on_saving(account.id, details, now, settings or get_settings())
    version = version_of(account.id, details, principal.user_id, now, confirmation)
    version.save()
    # Ids and outcome only: the details themselves are personal data.
    audit.event(
        account.id,
        "billing_details_updated",
        principal.user_id,
        now,
        vat_id_given=bool(details.vat_id),
        vat_id_confirmed=confirmation is not None,
    ).save()
    return _view(version)


def _checked_on_saving(
    account_id: str, details: BillingDetails, now: datetime, settings: Settings
) -> vies.Confirmation | None:
    """R-PAY-14: VIES's confirmation of an EU VAT ID outside the vendor's country (a customer at
    home pays its VAT whatever the ID, and an ID elsewhere is no EU VAT ID); None otherwise."""
    country = details.address.country
    if not details.vat_id or country == settings.vendor_country or country not in settings.vat_rates:
        return None
    return vies.ask(details.vat_id, now, settings, account_id)


def version_of(
    account_id: str,
    details: BillingDetails,
    actor: str,
    now: datetime,
    confirmation: vies.Confirmation | None = None,
) -> BillingDetailsVersion:
    """Validated ``details`` as a new version applying from ``now`` (unsaved), with VIES's
    ``confirmation`` of their VAT ID if there is one."""
    kept = confirmation if confirmation is not None and confirmation.vat_id == details.vat_id else None
    return BillingDetailsVersion(
        account_id,
        now,
        first_name=details.first_name,
        last_name=details.last_name,
        email=details.email,
        company=details.company,
        street=details.address.street,
        city=details.address.city,
        postal_code=details.address.postal_code,
        region=details.address.region,
        country=details.address.country,
        vat_id=details.vat_id,
        company_registration=details.company_registration,
        updated_by=actor,
        vat_checked_at=kept.checked_at if kept is not None else None,
        vat_check_reference=kept.reference if kept is not None else None,
    )


@dataclass(frozen=True)
class InForce:
    """The details in force at an instant, the instant they apply from (their version's key) and
    VIES's last confirmation of their VAT ID, if any (R-PAY-14)."""

    details: BillingDetailsView
    valid_from: datetime
    confirmation: vies.Confirmation | None


def in_force_at(account_id: str, instant: datetime) -> InForce | None:
    """The details an invoice issued at ``instant`` is made out to, with their VAT ID's confirmation."""
    item = versions.valid_at(account_id, instant)
    if item is None:
        return None
    confirmation = None
    if item.vat_id and item.vat_checked_at is not None:
        confirmation = vies.Confirmation(item.vat_id, item.vat_checked_at, item.vat_check_reference)
    return InForce(_view(item), item.valid_from, confirmation)


def keep_confirmation(account_id: str, in_force: InForce, confirmation: vies.Confirmation) -> bool:
    """R-PAY-14: keep a newer VIES confirmation on the version ``in_force`` came from (one write);
    False when that version holds another VAT ID."""
    return versions.keep_vat_check(
        account_id, in_force.valid_from, confirmation.vat_id, confirmation.checked_at, confirmation.reference
    )


def valid_at(account_id: str, instant: datetime) -> BillingDetailsView | None:
    """The details an invoice issued at ``instant`` is made out to (R-PAY-14), if any."""
    found = in_force_at(account_id, instant)
    return None if found is None else found.details


def get_for(principal: Principal, account_id: str, now: datetime) -> BillingDetailsView:
    """The details that apply now; the owner's, or staff's (audited, R-USE-4)."""
    require_member(principal, account_id, roles=("owner",))
    accounts.load(account_id)
    current = valid_at(account_id, now)
    audit.record_staff_access(principal, account_id, "billing_details", now)
    if current is None:
        raise NotFound("No billing details have been given")
    return current
