"""Vietnamese by default, English on request: strings, dates, times and numbers.

Strings live in `locales/<lang>/*.yaml` (one file per area of the console, so pages
can be worked on independently); nested keys are flattened to dotted keys. Dates are
dd/mm/yyyy and times Asia/Ho_Chi_Minh in both languages: the city's documents use them.
"""

from __future__ import annotations

from datetime import date, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import streamlit as st
import yaml

from ihanoi_core.config import HANOI_TZ
from ihanoi_ui import state_keys

LANGS: tuple[str, ...] = ("vi", "en")
DEFAULT_LANG = "vi"
LOCALES_DIR = Path(__file__).resolve().parent / "locales"


def _flatten(prefix: str, value: Any, out: dict[str, str]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    else:
        out[prefix] = str(value)


@lru_cache(maxsize=len(LANGS))
def catalog(lang: str) -> dict[str, str]:
    """All strings of one language (every yaml file of its folder, merged)."""
    out: dict[str, str] = {}
    for path in sorted((LOCALES_DIR / lang).glob("*.yaml")):
        with path.open(encoding="utf-8") as fh:
            _flatten("", yaml.safe_load(fh) or {}, out)
    return out


def current_lang() -> str:
    lang = st.session_state.get(state_keys.LANG, DEFAULT_LANG)
    return lang if lang in LANGS else DEFAULT_LANG


def t(key: str, lang: str | None = None, **values: Any) -> str:
    """The text of `key` in the user's language (Vietnamese if missing, else the key)."""
    lang = lang or current_lang()
    text = catalog(lang).get(key) or catalog(DEFAULT_LANG).get(key) or key
    return text.format(**values) if values else text


def label(group: str, value: str | None, lang: str | None = None) -> str:
    """Label of a vocabulary value, e.g. label("status", "waiting") → "Chờ phân công"."""
    if value is None:
        return "—"
    return t(f"{group}.{value}", lang)


def fmt_int(n: int | float | None, lang: str | None = None) -> str:
    """1654 → "1.654" in Vietnamese, "1,654" in English."""
    if n is None:
        return "—"
    text = f"{round(n):,}"
    return text.replace(",", ".") if (lang or current_lang()) == "vi" else text


def fmt_float(x: float | None, digits: int = 1, lang: str | None = None) -> str:
    if x is None:
        return "—"
    text = f"{x:,.{digits}f}"
    if (lang or current_lang()) == "vi":
        text = text.replace(",", "\0").replace(".", ",").replace("\0", ".")
    return text


def fmt_pct(x: float | None, digits: int = 1, lang: str | None = None) -> str:
    """A share (0.656) as a percentage: "65,6%" in Vietnamese."""
    return "—" if x is None else fmt_float(100 * x, digits, lang) + "%"


def fmt_date(d: date | datetime | None) -> str:
    if d is None:
        return "—"
    if isinstance(d, datetime):
        d = d.astimezone(HANOI_TZ).date()
    return f"{d:%d/%m/%Y}"


def fmt_datetime(dt: datetime | None) -> str:
    """Aware UTC in, Hanoi wall-clock out: "08/08/2024 10:00"."""
    return "—" if dt is None else f"{dt.astimezone(HANOI_TZ):%d/%m/%Y %H:%M}"
