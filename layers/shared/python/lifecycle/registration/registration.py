"""Who may register and under which names (RULES.md §6 and R-VOUCH-1): plain functions the signup and
redemption validators call, refusing with a ``ValueError`` fit to show (``errors[].message``). R-VOUCH-1:
the subdomain from the company name; R-REG-1: the minimum age (UTC); R-REG-3: a legal full name and a
valid email (email-validator: IDNA 2008, special-use names refused, DNS per setting; disposable domains
from the maintained list and the setting); R-VOUCH-11: ``canonical_email`` sees through ``+tag``.
"""

from __future__ import annotations

import itertools
import re
import secrets
import string
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import cache, lru_cache
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator, Field

from lifecycle.core.settings import Settings, get_settings
from lifecycle.registration import transliteration
from lifecycle.storage.claims import OWNER_EMAIL, USER_EMAIL

if TYPE_CHECKING:
    from email_validator import ValidatedEmail

SUBDOMAIN_MAX = 40
SUBDOMAIN_MIN = 3
# Names the vendor uses (or may use) for its own hosts, and names that mislead users.
RESERVED_SUBDOMAINS = frozenset(
    {
        "about", "abuse", "account", "accounts", "admin", "administrator", "api", "app", "apps",
        "assets", "auth", "autoconfig", "autodiscover", "beta", "billing", "blog", "cdn", "dashboard",
        "demo", "dev", "docs", "email", "files", "ftp", "help", "helpdesk", "hostmaster", "imap",
        "internal", "invoice", "invoices", "legal", "localhost", "login", "logout", "mail", "mx",
        "my", "news", "ns", "ns1", "ns2", "oauth", "pay", "payments", "pop", "pop3", "portal",
        "postmaster", "privacy", "prod", "root", "secure", "security", "signin", "signup", "smtp",
        "sso", "staff", "staging", "static", "status", "support", "sysadmin", "terms", "test",
        "webmail", "webmaster", "www",
    }
)  # fmt: skip
_EXPLICIT_SUBDOMAIN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")
_SUGGESTION_TRIES = 20


# Space, hyphen, ASCII apostrophe, typographic apostrophe (U+2019), period.
_NAME_PUNCTUATION = frozenset(" -'\u2019.")
_NAME_MIN = 2
_NAME_MAX = 200


class InvalidSubdomain(ValueError):
    """A subdomain that cannot be an account's (R-VOUCH-1)."""


class InvalidEmail(ValueError):
    """An address that fails the syntax or domain-form check (R-REG-3)."""


class DisposableEmail(InvalidEmail):
    """An address at a disposable email provider's domain (R-REG-3)."""


class UndeliverableEmail(InvalidEmail):
    """An address whose domain DNS says takes no mail (``email_check_deliverability``, R-REG-3)."""


class InvalidName(ValueError):
    """A full name that is not a legal full name (R-REG-3)."""


class InvalidBirthDate(ValueError):
    """A date of birth that cannot be someone's (R-REG-1)."""


# --- Subdomains (R-VOUCH-1) -------------------------------------------------------------


def _shorten(slug: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a dash so no word is left half."""
    if len(slug) <= limit:
        return slug
    head = slug[: limit + 1]
    cut = head.rfind("-")
    # A cut that would leave less than a valid slug keeps the hard cut instead.
    shortened = head[:cut] if cut >= SUBDOMAIN_MIN else slug[:limit]
    return shortened.strip("-")


def _refuse_reserved(slug: str) -> str:
    if slug in RESERVED_SUBDOMAINS:
        raise InvalidSubdomain(f"'{slug}' is reserved; choose another subdomain")
    # Punycode prefixes would let a slug pose as an internationalised (look-alike) name.
    if slug.startswith("xn--"):
        raise InvalidSubdomain("a subdomain cannot start with 'xn--'")
    return slug


def subdomain_for(company_name: str) -> str:
    """R-VOUCH-1: the account subdomain derived from the company name.

    The name's words in Latin letters (``transliteration``: Bulgarian by the Transliteration
    Act, any other script through anyascii, Latin accents dropped) joined by dashes; at most
    40 characters. Raises ``InvalidSubdomain`` when fewer than 3 letters or digits remain
    (a name of only emoji or symbols) or the slug is reserved.
    """
    slug = _shorten("-".join(transliteration.latin_words(company_name)), SUBDOMAIN_MAX)
    if len(slug) < SUBDOMAIN_MIN:
        raise InvalidSubdomain(
            "the company name needs at least 3 letters or digits (in any script; emoji and symbols"
            " do not count) to make a subdomain"
        )
    return _refuse_reserved(slug)


def validate_subdomain(text: str) -> str:
    """R-VOUCH-1: a subdomain the client chose: 3..40 of a-z, 0-9 and single inner dashes.

    Surrounding spaces and upper case are forgiven (host names are case-insensitive).
    """
    slug = text.strip().lower()
    if not _EXPLICIT_SUBDOMAIN.fullmatch(slug) or "--" in slug:
        raise InvalidSubdomain(
            "a subdomain is 3 to 40 letters a-z, digits and single dashes, starting and ending with a letter or digit"
        )
    return _refuse_reserved(slug)


def _with_suffix(slug: str, suffix: str) -> str:
    base = slug[: SUBDOMAIN_MAX - len(suffix) - 1].rstrip("-")
    return f"{base}-{suffix}"


def suggest_subdomain(slug: str, taken: Callable[[str], bool]) -> str:
    """R-VOUCH-1: a free alternative to a taken ``slug``: ``slug-2``, ``slug-3``, …

    ``taken`` is asked at most 20 times (each is a read); after that a random
    4-character suffix is returned unchecked: the claim's conditional write still
    decides, this is only a suggestion.
    """
    for number in range(2, 2 + _SUGGESTION_TRIES):
        candidate = _with_suffix(slug, str(number))
        if not taken(candidate):
            return candidate
    alphabet = string.ascii_lowercase + string.digits
    return _with_suffix(slug, "".join(secrets.choice(alphabet) for _ in range(4)))


# --- Email (R-REG-3, R-VOUCH-11) --------------------------------------------------------

# Amazon SES, the service's mail provider in AWS, does not support SMTPUTF8 (RFC 6531): a
# destination's local part must be 7-bit ASCII (its domain may be internationalised, sent as
# Punycode). An address the service cannot deliver to is refused when it is given.
_NOT_ASCII_LOCAL_PART = (
    "the part before '@' may only use ASCII letters, digits and .!#$%&'*+/=?^_`{{|}}~- (not {characters}): "
    "our mail provider cannot deliver to mailboxes with other characters (SMTPUTF8); "
    "the domain after '@' may be in any script"
)


def _checked(address: str, check_deliverability: bool = False) -> ValidatedEmail:
    """email-validator's verdict: RFC 5321/5322 syntax (no quoted local parts, no IP literals,
    local part at most 64 characters), the domain by IDNA 2008 / UTS 46 (non-transitional:
    ``faß.de`` stays ``faß.de``), special-use and reserved names refused (RFC 6761: ``.test``,
    ``.invalid``, ``.localhost``; ``.local``, ``.onion``, ``.arpa``), DNS only if asked."""
    if check_deliverability:  # DNS answers change: never remembered
        return _validated(address, True)
    return _syntax_checked(address)


# The syntax verdict depends on the address alone; a signup asks for it four times (the address,
# its key, its canonical form, its claim). A refusal is an exception, so it is never kept.
@lru_cache(maxsize=256)
def _syntax_checked(address: str) -> ValidatedEmail:
    return _validated(address, False)


def _validated(address: str, check_deliverability: bool) -> ValidatedEmail:
    # Imported here: ~50 ms on a cold start, and only registrations and privacy routes need it.
    from email_validator import EmailNotValidError, EmailUndeliverableError, validate_email

    try:
        return validate_email(
            address.strip(),
            allow_smtputf8=False,
            strict=True,
            check_deliverability=check_deliverability,
            # Never the test environment: it would accept "@x.test" and skip DNS silently.
            test_environment=False,
            globally_deliverable=True,
        )
    except EmailUndeliverableError as exc:
        raise UndeliverableEmail(f"the domain after '@' does not accept email: {exc}") from exc
    except EmailNotValidError as exc:
        reason = str(exc)
        if reason.startswith("Internationalized characters before the @-sign"):
            characters = reason.partition(": ")[2].rstrip(".")
            raise InvalidEmail(_NOT_ASCII_LOCAL_PART.format(characters=characters)) from exc
        raise InvalidEmail(reason) from exc


def _is_disposable(ascii_domain: str, disposable_domains: frozenset[str]) -> bool:
    """The domain or any parent of it (``x.mailinator.com`` is ``mailinator.com``'s), in ASCII form."""
    labels = ascii_domain.split(".")
    return any(".".join(labels[start:]) in disposable_domains for start in range(len(labels) - 1))


def normalise_email(
    address: str, disposable_domains: frozenset[str] = frozenset(), *, check_deliverability: bool = False
) -> str:
    """R-REG-3: the address as it is stored and shown, or ``InvalidEmail`` saying why.

    The local part lower-cased, the domain in its normalised Unicode form: an internationalised
    domain keeps its own letters (``anna@Straße.de`` is ``anna@straße.de``, never
    ``strasse.de``, another domain) and an ASCII (Punycode) domain is shown as the same
    domain's Unicode form. The documentation domains (example.com, .net, .org) are valid.
    ``DisposableEmail`` when the domain or a parent is in ``disposable_domains`` (ASCII, see
    ``disposable_domains``); ``UndeliverableEmail`` when ``check_deliverability`` and DNS says so.
    """
    checked = _checked(address, check_deliverability)
    if _is_disposable(checked.ascii_domain, disposable_domains):
        raise DisposableEmail("addresses at disposable email providers are not accepted; use a permanent address")
    return f"{checked.local_part.lower()}@{checked.domain}"


def email_key(address: str) -> str:
    """R-REG-3: the form addresses are compared and keyed by (the owner-email and user-email
    claims, the owner-email index, person keys): normalised, the domain in ASCII (IDNA 2008
    A-labels), as the mail provider gets it too.

    Addresses were stored with ASCII domains before they kept their Unicode form, so their keys
    are the same either way. One stored under earlier rules that today's refuse (an IDNA 2003
    rewrite such as ``strasse.de`` for ``straße.de`` is valid and simply another domain; a
    special-use name is not) is keyed as it was stored, so it still finds its records.
    """
    try:
        checked = _checked(address)
    except InvalidEmail:
        return address.strip().lower()
    return f"{checked.local_part.lower()}@{checked.ascii_domain}"


def stored_forms(address: str) -> tuple[str, ...]:
    """R-REG-3: the forms a normalised ``address`` may be stored in: as it is, and, for an
    internationalised domain, its ``email_key`` (the ASCII form addresses were stored in before)."""
    key = email_key(address)
    return (address,) if key == address else (address, key)


def canonical_email(address: str) -> str:
    """R-VOUCH-11: the owner behind an address: its ``email_key`` with ``+tag`` dropped from the local part.

    ``ana+deal2@example.com`` and ``ana@example.com`` are one owner's; dots are kept,
    as only some providers ignore them.
    """
    key = email_key(address)
    local, at, domain = key.rpartition("@")
    if not at:  # no address at all: counted (rate limits) as given
        return key
    untagged = local.split("+", 1)[0]
    # A local part that is all tag ("+x") has no name to fall back on; keep it whole.
    return f"{untagged or local}@{domain}"


def owner_email_claim(address: str) -> str:
    """R-REG-3: the claim that makes ``address`` one account's owner at most (its ``email_key``)."""
    return OWNER_EMAIL + email_key(address)


def user_email_claim(account_id: str, address: str) -> str:
    """The claim that makes ``address`` one user of ``account_id`` at most (its ``email_key``)."""
    return f"{USER_EMAIL}{account_id}#{email_key(address)}"


def _ascii_domain(name: str) -> str:
    """A domain from the settings in ASCII form by IDNA 2008 / UTS 46 (as ``email_key`` has it)."""
    import idna

    try:
        return idna.encode(name, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"disposable_email_domains: {name!r} is not a domain name ({exc})") from exc


def disposable_domains(settings: Settings) -> frozenset[str]:
    """R-REG-3: disposable email domains, in ASCII form: the maintained ``disposable-email-domains``
    list, extended by the ``disposable_email_domains`` setting (comma-separated)."""
    return _disposable_domains(settings.disposable_email_domains)


@cache
def _disposable_domains(setting: str) -> frozenset[str]:
    # The union of some thousands of names, made once per setting rather than per request.
    return _maintained_disposable_domains() | _setting_domains(setting)


@cache
def _maintained_disposable_domains() -> frozenset[str]:
    from disposable_email_domains import blocklist

    return frozenset(blocklist)


@cache
def _setting_domains(setting: str) -> frozenset[str]:
    names = (name.strip().lower().strip(".") for name in setting.split(","))
    return frozenset(_ascii_domain(name) for name in names if name)


def configured_email(address: str, settings: Settings) -> str:
    """R-REG-3: ``normalise_email`` as registrations, users and billing details check an address:
    disposable domains refused, DNS asked when ``email_check_deliverability`` is on."""
    return normalise_email(
        address, disposable_domains(settings), check_deliverability=settings.email_check_deliverability
    )


# --- Age (R-REG-1) ----------------------------------------------------------------------


def signup_date(now: datetime) -> date:
    """R-REG-1: the day age is computed on: the signup instant's date in UTC."""
    if now.tzinfo is None:
        raise ValueError("signup_date takes a timezone-aware instant")
    return now.astimezone(UTC).date()


def _birthday_in(year: int, birth_date: date) -> tuple[int, int]:
    """R-REG-1: (month, day) a year of age is completed on in ``year``: the same date, or the
    last day of that month when it has no such date (29 February: 28 February in common years)."""
    if (birth_date.month, birth_date.day) == (2, 29) and not _is_leap(year):
        return (2, 28)
    return (birth_date.month, birth_date.day)


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def age_on(birth_date: date, today: date) -> int:
    """R-REG-1: completed years on ``today``.

    A term in years ends on the same date of its last year, or on the last day of that
    month when it has no such date: someone born on 29 February turns 18 on 28 February
    of a common year. Raises ``InvalidBirthDate`` for a birth date after ``today``.
    """
    if birth_date > today:
        raise InvalidBirthDate("the date of birth cannot be in the future")
    before_birthday = (today.month, today.day) < _birthday_in(today.year, birth_date)
    return today.year - birth_date.year - int(before_birthday)


def is_adult(birth_date: date, today: date, minimum_age: int) -> bool:
    """R-REG-1: at least ``minimum_age`` (setting ``minimum_age_years``) completed years on ``today``.

    ``today`` is ``signup_date(now)``: the rule counts on the signup date in UTC.
    """
    return age_on(birth_date, today) >= minimum_age


# --- Legal full name (R-REG-3) ----------------------------------------------------------


def _name_char_allowed(char: str) -> bool:
    # Combining marks (category M) are part of letters in many scripts (Devanagari, Thai).
    return char.isalpha() or char in _NAME_PUNCTUATION or unicodedata.category(char).startswith("M")


def _looks_like_address(word: str) -> bool:
    """``example.com``, ``www.x``: a period between letters after more than one letter.

    Initials keep their periods (``J.R.R.``): there the period follows a single letter.
    """
    pieces = word.split(".")
    return any(len(piece) > 1 and after[:1].isalpha() for piece, after in itertools.pairwise(pieces))


def validate_legal_name(full_name: str) -> str:
    """R-REG-3: a legal full name: given and family name, letters of any script.

    Returns the name with outer spaces stripped and inner runs collapsed. Letters,
    spaces, hyphens, apostrophes (' and U+2019) and periods only; 2..200 characters; at
    least two words. Digits, '@' and web addresses are refused (``InvalidName``).
    """
    name = " ".join(unicodedata.normalize("NFC", full_name).split())
    if not _NAME_MIN <= len(name) <= _NAME_MAX:
        raise InvalidName("the full name must be 2 to 200 characters")
    if not all(_name_char_allowed(char) for char in name):
        raise InvalidName("the full name may contain only letters, spaces, hyphens, apostrophes and periods")
    words = name.split(" ")
    if len(words) < 2 or not all(any(char.isalpha() for char in word) for word in words):
        raise InvalidName("give your legal full name: given name and family name")
    if any(_looks_like_address(word) for word in words):
        raise InvalidName("the full name cannot be a web address")
    return name


def validate_name_part(part: str) -> str:
    """R-VOUCH-8: one part of a real name (a given or a family name), by the rules of
    ``validate_legal_name`` for its characters: "Mary Ann" and "de la Cruz" are one part."""
    name = " ".join(unicodedata.normalize("NFC", part).split())
    if not 1 <= len(name) <= _NAME_MAX:
        raise InvalidName("the name must be 1 to 200 characters")
    if not all(_name_char_allowed(char) for char in name):
        raise InvalidName("the name may contain only letters, spaces, hyphens, apostrophes and periods")
    if not any(char.isalpha() for char in name):
        raise InvalidName("the name must contain letters")
    if any(_looks_like_address(word) for word in name.split(" ")):
        raise InvalidName("the name cannot be a web address")
    return name


# ---------------------------------------------------------------- request field types


def _configured_email(address: str) -> str:
    return configured_email(address, get_settings())


# Request fields that carry a person's legal name or email (R-REG-3), validated the same
# way wherever a person is registered or added.
LegalName = Annotated[
    str, Field(min_length=1, max_length=200, description="legal full name"), AfterValidator(validate_legal_name)
]
NamePart = Annotated[
    str, Field(min_length=1, max_length=200, description="a given or family name"), AfterValidator(validate_name_part)
]
EmailAddress = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_configured_email)]
