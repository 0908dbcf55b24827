"""Text helpers: search that ignores Vietnamese diacritics ("hoan kiem" finds "Hoàn Kiếm")."""

from __future__ import annotations

import unicodedata
from typing import Final


def _fold_slow(text: str) -> str:
    """The rule itself: đ → d, then NFD and every combining mark dropped, lower case,
    runs of blanks as one space."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.lower().split())


def _fold_char(cp: int) -> str:
    ch = chr(cp)
    if ch in "đĐ":
        return "d" if ch == "đ" else "D"
    return "".join(c for c in unicodedata.normalize("NFD", ch) if not unicodedata.combining(c))


# Every character of Vietnamese text, already folded: ASCII, Latin-1 to Latin
# Extended-B, the combining marks (U+0300-U+036F, for decomposed input) and Latin
# Extended Additional, where the precomposed vowels with tone marks (ạ, ế, ữ...) live.
_TABLE: Final[dict[int, str]] = {
    cp: _fold_char(cp)
    for block in (range(0x250), range(0x300, 0x370), range(0x1E00, 0x1F00))
    for cp in block
}


def fold(text: str) -> str:
    """Lower-case `text` and strip Vietnamese diacritics, đ included (NFD drops the rest).

    Imports fold every record, so one `str.translate` through a table of characters
    folded one by one does the work (folding is per character: marks are dropped, so
    NFD's reordering of them never matters). Text that still holds a non-ASCII
    character afterwards (another script, or a character outside the table) goes
    through the rule itself, so the result is the same in every case.
    """
    if not text.isascii():
        folded = text.translate(_TABLE)
        if not folded.isascii():
            return _fold_slow(text)
        text = folded
    return " ".join(text.lower().split())


def search_text_of(*parts: str | None) -> str:
    """The folded text a report is searched by (code, title, description, address)."""
    return fold(" ".join(p for p in parts if p))
