"""Any name in lower-case Latin letters (R-VOUCH-1: the subdomain from the company name).

Bulgarian follows the Transliteration Act (Закон за транслитерацията, State Gazette No. 19
of 13 March 2009): the letters by its Art. 4 table, a word-final "ия" as "ia" (Art. 5(2)),
the country's name as "Bulgaria" (Art. 6). Latin letters lose their accents; every other
letter (other Cyrillic alphabets, Greek, Chinese, Arabic …) goes through ``anyascii``.
"""

from __future__ import annotations

import re
import unicodedata

# The Act's Art. 4, lower case (names are lowered first). Its Art. 5(1) combinations
# (дж → dzh, дз → dz, ьо → yo, йо → yo) are what these letters give one by one.
# The keys are Cyrillic on purpose, hence the look-alike warnings switched off per line.
_ACT_ART_4 = {
    "а": "a", "б": "b", "в": "v", "г": "g", "д": "d", "е": "e", "ж": "zh", "з": "z", "и": "i",  # noqa: RUF001
    "й": "y", "к": "k", "л": "l", "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s",  # noqa: RUF001
    "т": "t", "у": "u", "ф": "f", "х": "h", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "sht", "ъ": "a",  # noqa: RUF001
    "ь": "y", "ю": "yu", "я": "ya",
}  # fmt: skip
# "ѝ" (the pronoun "her") and "ѐ" are the letters I and Ie with a grave accent, not letters
# of the alphabet: the Act's table has no row for them, so they read as their plain letters.
_ACCENTED = {"ѝ": "i", "ѐ": "e"}
_BULGARIAN = {**_ACT_ART_4, **_ACCENTED}

# A word is a run of letters: digits, underscores, spaces and punctuation all end one.
_LETTER = r"[^\W\d_]"
_COUNTRY = re.compile(rf"(?<!{_LETTER})българия(?!{_LETTER})")  # Art. 6
_FINAL_IA = re.compile(rf"ия(?!{_LETTER})")  # Art. 5(2)
_NOT_WORD = re.compile(r"[^a-z0-9]+")
_CYRILLIC = range(0x0400, 0x0530)


def latin_words(text: str) -> list[str]:
    """The words of ``text`` in lower-case ASCII letters and digits, in order.

    Punctuation, symbols and emoji separate words and give none; so can an empty list.
    Canonically equivalent texts (NFC, NFD) give the same words.
    """
    lowered = _without_cyrillic_accents(unicodedata.normalize("NFC", text).lower())
    lowered = _FINAL_IA.sub("ia", _COUNTRY.sub("bulgaria", lowered))
    latin = "".join(_latin(char) for char in lowered)
    return _NOT_WORD.sub(" ", latin).split()


def _without_cyrillic_accents(text: str) -> str:
    """Stress marks and other accents left on Cyrillic letters after NFC (no precomposed
    letter has them) dropped, so that "Софи́я" ends in "ия" like "София"."""
    kept: list[str] = []
    after_cyrillic = False
    for char in text:
        if after_cyrillic and unicodedata.combining(char):
            continue
        after_cyrillic = ord(char) in _CYRILLIC
        kept.append(char)
    return "".join(kept)


def _latin(char: str) -> str:
    if char.isascii():
        return char
    if char in _BULGARIAN:
        return _BULGARIAN[char]
    # Symbols, punctuation and emoji break words (anyascii would spell emoji as ":smile:").
    if unicodedata.category(char)[0] not in "LMN":
        return " "
    base = "".join(part for part in unicodedata.normalize("NFKD", char) if not unicodedata.combining(part))
    if base.isascii():
        return base.lower()  # a Latin letter without its accents, or a lone mark: nothing
    return _other_script(char)


def _other_script(char: str) -> str:
    from anyascii import anyascii  # here: only names in other scripts need its tables (cold starts)

    return anyascii(char).lower()
