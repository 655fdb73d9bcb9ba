"""Billing details: who invoices are made out to (R-VOUCH-8) and their EU VAT ID (R-PAY-14).

R-VOUCH-8: a real first and last name, a valid email, the company, the full address (``region`` where
``REGION_REQUIRED``) and the company registration where local law wants it (``COMPANY_REGISTRATION``).
R-PAY-14: a VAT ID in its member state's format (``EU_VAT_FORMATS``) with the address country's prefix;
every version is kept with the instant it applies from, so new details apply from the next invoice.
"""

from __future__ import annotations

import re
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from lifecycle.accounts import accounts, audit
from lifecycle.core import clock
from lifecycle.core.auth import Principal, require_member
from lifecycle.core.errors import Forbidden, InvalidField, InvalidVatId, NotFound
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

# Where local law puts the company's registration number on every invoice, and its form:
# BG ЕИК/UIC (Accountancy Act; 9 digits, 13 for branches), CZ IČO (Civil Code §435,
# 8 digits), SK IČO (Commercial Code §3a, 8 digits). Elsewhere it is optional free text.
COMPANY_REGISTRATION: dict[str, tuple[str, re.Pattern[str]]] = {
    "BG": ("a UIC (ЕИК) of 9 or 13 digits", re.compile(r"\d{9}(?:\d{4})?")),
    "CZ": ("an IČO of 8 digits", re.compile(r"\d{8}")),
    "SK": ("an IČO of 8 digits", re.compile(r"\d{8}")),
}

# R-PAY-14: the 27 member states' VAT ID formats after the prefix (the Commission's VIES
# formats). Greece's prefix is EL, not its ISO code GR.
EU_VAT_FORMATS: dict[str, re.Pattern[str]] = {
    "AT": re.compile(r"U\d{8}"),
    "BE": re.compile(r"[01]\d{9}"),
    "BG": re.compile(r"\d{9,10}"),
    "CY": re.compile(r"\d{8}[A-Z]"),
    "CZ": re.compile(r"\d{8,10}"),
    "DE": re.compile(r"\d{9}"),
    "DK": re.compile(r"\d{8}"),
    "EE": re.compile(r"\d{9}"),
    "EL": re.compile(r"\d{9}"),
    "ES": re.compile(r"[0-9A-Z]\d{7}[0-9A-Z]"),
    "FI": re.compile(r"\d{8}"),
    "FR": re.compile(r"[0-9A-Z]{2}\d{9}"),
    "HR": re.compile(r"\d{11}"),
    "HU": re.compile(r"\d{8}"),
    "IE": re.compile(r"\d{7}[A-W][A-I]?|\d[A-Z+*]\d{5}[A-W]"),
    "IT": re.compile(r"\d{11}"),
    "LT": re.compile(r"\d{9}|\d{12}"),
    "LU": re.compile(r"\d{8}"),
    "LV": re.compile(r"\d{11}"),
    "MT": re.compile(r"\d{8}"),
    "NL": re.compile(r"\d{9}B\d{2}"),
    "PL": re.compile(r"\d{10}"),
    "PT": re.compile(r"\d{9}"),
    "RO": re.compile(r"[1-9]\d{1,9}"),
    "SE": re.compile(r"\d{10}01"),
    "SI": re.compile(r"\d{8}"),
    "SK": re.compile(r"\d{10}"),
}
# The VAT prefix of a member state whose ISO code differs.
VAT_PREFIX = {"GR": "EL"}
_SEPARATORS = re.compile(r"[\s.\-/]+")
_TAX_ID = re.compile(r"[0-9A-Z+*]{2,32}")


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
    """Upper case, without the spaces, dots, dashes and slashes people type."""
    return _SEPARATORS.sub("", vat_id).upper()


def check_vat_id(vat_id: str, country: str) -> str:
    """R-PAY-14: the normalised VAT ID, or ``InvalidVatId``.

    An address in a member state needs that state's prefix and format; an EU prefix
    with an address elsewhere is refused too. Other countries' tax ids are kept as given.
    """
    normalised = normalise_vat_id(vat_id)
    prefix = VAT_PREFIX.get(country, country)
    if prefix in EU_VAT_FORMATS or normalised[:2] in EU_VAT_FORMATS:
        if normalised[:2] != prefix:
            raise InvalidVatId("vat_id", f"a VAT ID for an address in {country} starts with {prefix}")
        if not EU_VAT_FORMATS[prefix].fullmatch(normalised[2:]):
            raise InvalidVatId("vat_id", f"not the format of a {prefix} VAT ID")
    elif not _TAX_ID.fullmatch(normalised):
        raise InvalidVatId("vat_id", "a tax id has 2 to 32 letters and digits")
    return normalised


def check_company_registration(number: str | None, country: str) -> str | None:
    """R-VOUCH-8: required, in its form, where local law puts it on invoices."""
    cleaned = _SEPARATORS.sub("", number).upper() if number else None
    required = COMPANY_REGISTRATION.get(country)
    if required is None:
        return _text(number) if number and number.strip() else None
    described, form = required
    if not cleaned:
        raise InvalidField("company_registration", f"required in {country}: {described}")
    if not form.fullmatch(cleaned):
        raise InvalidField("company_registration", f"must be {described}")
    return cleaned


def validated(details: BillingDetails) -> BillingDetails:
    """The country-dependent rules the schema cannot know (R-VOUCH-8, R-PAY-14)."""
    country = details.address.country
    if country in REGION_REQUIRED and not details.address.region:
        raise InvalidField("address.region", f"required for an address in {country}")
    registration = check_company_registration(details.company_registration, country)
    vat_id = check_vat_id(details.vat_id, country) if details.vat_id and details.vat_id.strip() else None
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


def put_for(principal: Principal, account: Account, form: BillingDetails, now: datetime) -> BillingDetailsView:
    """R-VOUCH-8, R-PAY-14: a new version applying from ``now``; earlier ones are kept, so
    an invoice issued before now keeps the details it was issued with."""
    require_owner(principal, account.id)
    details = validated(form)
    version = version_of(account.id, details, principal.user_id, now)
    version.save()
    # Ids and outcome only: the details themselves are personal data.
    audit.event(account.id, "billing_details_updated", principal.user_id, now, vat_id_given=bool(details.vat_id)).save()
    return _view(version)


def version_of(account_id: str, details: BillingDetails, actor: str, now: datetime) -> BillingDetailsVersion:
    """Validated ``details`` as a new version applying from ``now`` (unsaved)."""
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
    )


def valid_at(account_id: str, instant: datetime) -> BillingDetailsView | None:
    """The details an invoice issued at ``instant`` is made out to (R-PAY-14), if any."""
    item = versions.valid_at(account_id, instant)
    return None if item is None else _view(item)


def get_for(principal: Principal, account_id: str, now: datetime) -> BillingDetailsView:
    """The details that apply now; the owner's, or staff's (audited, R-USE-4)."""
    require_member(principal, account_id, roles=("owner",))
    accounts.load(account_id)
    current = valid_at(account_id, now)
    audit.record_staff_access(principal, account_id, "billing_details", now)
    if current is None:
        raise NotFound("No billing details have been given")
    return current
