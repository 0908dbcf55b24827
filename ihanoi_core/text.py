"""Text helpers: search that ignores Vietnamese diacritics ("hoan kiem" finds "Hoàn Kiếm")."""

from __future__ import annotations

import unicodedata


def fold(text: str) -> str:
    """Lower-case `text` and strip Vietnamese diacritics, đ included (NFD drops the rest)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.lower().split())


def search_text_of(*parts: str | None) -> str:
    """The folded text a report is searched by (code, title, description, address)."""
    return fold(" ".join(p for p in parts if p))
