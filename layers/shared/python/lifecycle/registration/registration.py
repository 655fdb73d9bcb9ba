"""Who may register and under which names (RULES.md §6 and R-VOUCH-1): plain functions the signup and
redemption validators call, refusing with a ``ValueError`` fit to show (``errors[].message``). R-VOUCH-1:
the subdomain from the company name; R-REG-1: the minimum age (UTC); R-REG-3: a legal full name and a
valid email (no DNS; disposable domains per setting); R-VOUCH-11: ``canonical_email`` sees through ``+tag``.
"""

from __future__ import annotations

import itertools
import re
import secrets
import string
import unicodedata
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from lifecycle.core.settings import Settings, get_settings
from lifecycle.registration import transliteration

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


_ATEXT = re.compile(r"^[a-z0-9!#$%&'*+/=?^_`{|}~-]+$")
_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_EMAIL_MAX = 254
_LOCAL_MAX = 64

# Space, hyphen, ASCII apostrophe, typographic apostrophe (U+2019), period.
_NAME_PUNCTUATION = frozenset(" -'\u2019.")
_NAME_MIN = 2
_NAME_MAX = 200


class InvalidSubdomain(ValueError):
    """A subdomain that cannot be an account's (R-VOUCH-1)."""


class InvalidEmail(ValueError):
    """An address that fails the syntax or domain-form check (R-REG-3)."""


class DisposableEmail(InvalidEmail):
    """An address at a domain the ``disposable_email_domains`` setting refuses (R-REG-3)."""


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


def _split_address(address: str) -> tuple[str, str]:
    if address.count("@") != 1:
        raise InvalidEmail("an email address has exactly one '@'")
    local, domain = address.split("@")
    return local, domain


def _check_local_part(local: str) -> None:
    """RFC 5322 dot-atom: quoted local parts are legal but nobody's real mailbox."""
    if not 1 <= len(local) <= _LOCAL_MAX:
        raise InvalidEmail("the part before '@' must be 1 to 64 characters")
    if any(not _ATEXT.fullmatch(atom) for atom in local.split(".")):
        raise InvalidEmail("the part before '@' has a character or a dot that is not allowed there")


def _ascii_domain(domain: str) -> str:
    """The domain in its IDNA (ASCII) form, checked label by label; no DNS look-up."""
    try:
        encoded = domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidEmail("the domain after '@' is not a valid domain name") from exc
    labels = encoded.split(".")
    if len(labels) < 2 or any(not _LABEL.fullmatch(label) for label in labels):
        raise InvalidEmail("the domain after '@' is not a valid domain name")
    tld = labels[-1]
    if not (tld.startswith("xn--") or (len(tld) >= 2 and tld.isalpha())):
        raise InvalidEmail("the domain after '@' does not end in a top-level domain")
    return encoded


def _is_disposable(domain: str, disposable_domains: frozenset[str]) -> bool:
    """The domain or any parent of it (``x.mailinator.com`` is ``mailinator.com``'s)."""
    labels = domain.split(".")
    return any(".".join(labels[start:]) in disposable_domains for start in range(len(labels) - 1))


def normalise_email(address: str, disposable_domains: frozenset[str] = frozenset()) -> str:
    """R-REG-3: the address lower-cased, its domain in ASCII (IDNA) form, or ``InvalidEmail``.

    Syntax and domain form only: no DNS, so the documentation domains (example.com,
    .net, .org) are valid. The ASCII domain makes ``bücher.de`` and ``xn--bcher-kva.de``
    one address, as uniqueness per person needs. ``DisposableEmail`` when the domain or
    a parent is in ``disposable_domains`` (lower-case ASCII, see ``disposable_domains``).
    """
    local, domain = _split_address(address.strip().lower())
    _check_local_part(local)
    normalised = f"{local}@{_ascii_domain(domain)}"
    if len(normalised) > _EMAIL_MAX:
        raise InvalidEmail("an email address is at most 254 characters")
    if _is_disposable(normalised.rpartition("@")[2], disposable_domains):
        raise DisposableEmail("addresses at disposable email providers are not accepted; use a permanent address")
    return normalised


def canonical_email(address: str) -> str:
    """R-VOUCH-11: the owner behind an address: normalised, ``+tag`` dropped from the local part.

    ``ana+deal2@example.com`` and ``ana@example.com`` are one owner's; dots are kept,
    as only some providers ignore them.
    """
    local, _, domain = normalise_email(address).rpartition("@")
    untagged = local.split("+", 1)[0]
    # A local part that is all tag ("+x") has no name to fall back on; keep it whole.
    return f"{untagged or local}@{domain}"


def disposable_domains(settings: Settings) -> frozenset[str]:
    """R-REG-3: the ``disposable_email_domains`` setting (comma-separated) as a set of ASCII domains."""
    names = (name.strip().lower().strip(".") for name in settings.disposable_email_domains.split(","))
    return frozenset(name.encode("idna").decode("ascii") for name in names if name)


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
    return normalise_email(address, disposable_domains(get_settings()))


# Request fields that carry a person's legal name or email (R-REG-3), validated the same
# way wherever a person is registered or added.
LegalName = Annotated[
    str, Field(min_length=1, max_length=200, description="legal full name"), AfterValidator(validate_legal_name)
]
NamePart = Annotated[
    str, Field(min_length=1, max_length=200, description="a given or family name"), AfterValidator(validate_name_part)
]
EmailAddress = Annotated[str, Field(min_length=3, max_length=254), AfterValidator(_configured_email)]
