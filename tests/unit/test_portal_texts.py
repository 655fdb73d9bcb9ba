"""The portal's texts (web/i18n/en.js, bg.js): the same keys in both languages, each once, every
key the pages use defined, a plain message for every error ``code`` the API answers with; and
the countries and their required billing fields (web/lib/countries.js) as the API has them."""

from __future__ import annotations

import re
from collections import Counter

from lifecycle.core import errors
from local_runtime.template import ROOT

WEB = ROOT / "web"
KEY = re.compile(r'^\s*"([^"]+)":', re.MULTILINE)
USED = re.compile(r'\bt\(\s*"([^"]+)"')


def _keys(language: str) -> list[str]:
    return KEY.findall((WEB / "i18n" / f"{language}.js").read_text(encoding="utf-8"))


def _domain_codes() -> set[str]:
    found: set[str] = set()
    pending: list[type[errors.DomainError]] = [errors.DomainError]
    while pending:
        kind = pending.pop()
        pending.extend(kind.__subclasses__())
        code = getattr(kind, "code", None)
        if isinstance(code, str):
            found.add(code)
    return found


def test_each_language_defines_each_text_once() -> None:
    for language in ("en", "bg"):
        repeated = [key for key, count in Counter(_keys(language)).items() if count > 1]
        assert repeated == [], (language, repeated)


def test_both_languages_have_the_same_texts() -> None:
    assert set(_keys("en")) ^ set(_keys("bg")) == set()


def test_every_text_a_page_asks_for_is_defined() -> None:
    defined = set(_keys("en"))
    used = {key for path in WEB.rglob("*.js") for key in USED.findall(path.read_text(encoding="utf-8"))}
    assert used, 'no t("…") calls found: the pattern is stale'
    assert used - defined == set()


def test_every_error_code_of_the_api_has_a_plain_message() -> None:
    messages = {key.removeprefix("error.") for key in _keys("en") if key.startswith("error.")}
    codes = _domain_codes() | {"validation_error", "rate_limited", "unsupported_media_type"}
    assert codes - messages == set()


def _js_list(name: str) -> set[str]:
    text = (WEB / "lib" / "countries.js").read_text(encoding="utf-8")
    match = re.search(rf"export const {name} = \[(.*?)\];", text, re.DOTALL)
    assert match, name
    return set(re.findall(r'"([A-Z]{2})"', match.group(1)))


def test_r_vouch_8_the_portal_asks_for_what_each_countrys_law_requires_as_the_api_does() -> None:
    from lifecycle.billing import billing_details

    assert _js_list("COUNTRIES") == set(billing_details.COUNTRIES)
    assert _js_list("REGION_REQUIRED") == set(billing_details.REGION_REQUIRED)
    assert _js_list("REGISTRATION_REQUIRED") == set(billing_details.COMPANY_REGISTRATION)
