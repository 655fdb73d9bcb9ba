"""R-VOUCH-1: the subdomain's words from the company name in Latin letters, checked against
the Transliteration Act's own table and examples (tests/data/bg_transliteration_act.json,
copied from the Act with its articles named) and against names in other scripts.

The Cyrillic, Greek and Chinese letters below are the point of the tests, so ruff's
look-alike check (RUF001) is silenced on those lines.
"""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from lifecycle.registration.registration import InvalidSubdomain, subdomain_for, validate_subdomain
from lifecycle.registration.transliteration import latin_words

ACT: dict[str, Any] = json.loads((Path(__file__).parent.parent / "data" / "bg_transliteration_act.json").read_text())


def _words(latin: str) -> list[str]:
    """The Act's Latin spelling as the lower-case words a subdomain is made of."""
    return re.sub(r"[^a-z0-9]+", " ", latin.lower()).split()


# --- the Act ------------------------------------------------------------------------------


@pytest.mark.parametrize(("upper", "lower", "latin_upper", "latin_lower"), ACT["art_4"])
def test_r_vouch_1_each_letter_as_the_acts_art_4_table_gives_it(
    upper: str, lower: str, latin_upper: str, latin_lower: str
) -> None:
    assert latin_words(lower) == [latin_lower]
    assert latin_words(upper) == [latin_upper.lower()]


@pytest.mark.parametrize(("cyrillic", "latin"), ACT["art_5_1"])
def test_r_vouch_1_the_acts_art_5_letter_combinations(cyrillic: str, latin: str) -> None:
    assert latin_words(cyrillic) == [latin]


@pytest.mark.parametrize(("cyrillic", "latin"), ACT["art_6"] + ACT["art_7"])
def test_r_vouch_1_the_acts_own_examples(cyrillic: str, latin: str) -> None:
    assert latin_words(cyrillic) == _words(latin)


def test_r_vouch_1_the_country_is_bulgaria_by_art_6_only_as_its_own_word() -> None:
    assert subdomain_for("България") == "bulgaria"
    assert subdomain_for("БЪЛГАРИЯ ЕООД") == "bulgaria-eood"
    assert subdomain_for("Република България") == "republika-bulgaria"
    # Another word merely containing it keeps the table's letters.
    assert subdomain_for("Българиянски") == "balgariyanski"


@pytest.mark.parametrize(
    ("company", "slug"),
    [
        ("София", "sofia"),
        ("Мария", "maria"),
        ("ТРАКИЯ", "trakia"),
        ("София Софтуер", "sofia-softuer"),
        # Only at the end of a word: inside one it is the table's "iya".
        ("Сияна", "siyana"),
        ("Илиян", "iliyan"),
        # Underscores, digits and punctuation end a word too.
        ("Мария_Груп", "maria-grup"),
        ("Мизия2024", "mizia2024"),  # noqa: RUF001
        ("Тракия, Ltd.", "trakia-ltd"),
        ("Софи́я", "sofia"),  # a stress mark does not hide the ending
    ],
)
def test_r_vouch_1_a_word_final_iya_is_ia_by_art_5(company: str, slug: str) -> None:
    assert subdomain_for(company) == slug


def test_r_vouch_1_i_with_grave_is_the_acts_i() -> None:
    # "ѝ" is и with a grave accent (the pronoun), not a letter of its own: the Act's и → "i".
    assert latin_words("ѝ") == ["i"]
    assert latin_words("Ѝ") == ["i"]
    assert latin_words(unicodedata.normalize("NFD", "ѝ")) == ["i"]
    assert latin_words("ѐ") == ["e"]  # likewise Ie with a grave accent
    assert subdomain_for("Аз ѝ казах") == "az-i-kazah"


# --- normalisation ------------------------------------------------------------------------

_BULGARIAN = "".join(row[0] + row[1] for row in ACT["art_4"]) + "ѝЍѐЀ"
_MARKS = "\u0300\u0301\u0306\u0308\u030c"  # grave, acute, breve (й), diaeresis, caron
_PIECES = [*_BULGARIAN, *_MARKS, *" -_.,'1", "ия", "ИЯ", "България"]
_NAME = st.lists(st.sampled_from(_PIECES), max_size=30).map("".join)


@given(st.one_of(_NAME, st.text()))
@example("Йордан Йовков")
@example("Щастие ЕООД България")
@example("Crème Brûlée Ελληνικά 株式会社")
def test_r_vouch_1_nfd_and_nfc_give_the_same_words(name: str) -> None:
    assert latin_words(unicodedata.normalize("NFD", name)) == latin_words(name)
    assert latin_words(unicodedata.normalize("NFC", name)) == latin_words(name)


def test_r_vouch_1_a_decomposed_short_i_is_still_y() -> None:
    decomposed = unicodedata.normalize("NFD", "Йордан")
    assert decomposed != "Йордан"  # и + combining breve
    assert subdomain_for(decomposed) == subdomain_for("Йордан") == "yordan"


@given(st.text())
def test_r_vouch_1_words_are_lower_case_ascii_letters_and_digits(name: str) -> None:
    assert all(re.fullmatch(r"[a-z0-9]+", word) for word in latin_words(name))


# --- other scripts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("company", "slug"),
    [
        # Greek: ELOT 743 / UN romanisation of the words (Ελληνικά → Ellinika, Τρόφιμα → Trofima).
        ("Ελληνικά Τρόφιμα ΑΕ", "ellinika-trofima-ae"),  # noqa: RUF001
        ("Σωκράτης", "sokratis"),
        # Chinese: Hanyu Pinyin without tone marks (北京 Běijīng, 科技 kējì, 有限公司 yǒuxiàn gōngsī).
        ("北京科技有限公司", "beijingkejiyouxiangongsi"),
        ("株式会社 Tokyo", "zhushihuishe-tokyo"),
    ],
)
def test_r_vouch_1_a_name_in_another_script_gives_a_usable_subdomain(company: str, slug: str) -> None:
    assert subdomain_for(company) == slug
    assert validate_subdomain(slug) == slug


@pytest.mark.parametrize("company", ["شركة الأمل", "Ёлка Київ Ґанок", "한국 회사", "Đoković Ltd"])
def test_r_vouch_1_any_script_with_letters_gives_a_valid_subdomain(company: str) -> None:
    slug = subdomain_for(company)
    assert validate_subdomain(slug) == slug


def test_r_vouch_1_a_long_name_in_another_script_is_cut_to_40_characters() -> None:
    slug = subdomain_for("北京字节跳动科技有限公司上海分公司")
    assert len(slug) == 40
    assert validate_subdomain(slug) == slug


@pytest.mark.parametrize("company", ["😀😀😀", "☕ ♥ ★ ™", "€€€", "🇧🇬🇧🇬", "😀 ab 😀"])
def test_r_vouch_1_emoji_and_symbols_alone_leave_no_subdomain(company: str) -> None:
    with pytest.raises(InvalidSubdomain, match="at least 3 letters or digits"):
        subdomain_for(company)


def test_r_vouch_1_emoji_between_words_only_separate_them() -> None:
    assert subdomain_for("Café ☕ Sofia 😀") == "cafe-sofia"
