"""The interchange rules of `db/reference/interchange.yaml`, validated once.

Both directions read them: the importer for header aliases, date formats and limits,
the exporter for the Vietnamese headers and the formula prefixes to neutralise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from ihanoi_core.config import reference_path
from ihanoi_core.errors import ValidationError
from ihanoi_core.interchange.fields import KNOWN_FIELDS
from ihanoi_core.reference import read_yaml
from ihanoi_core.text import fold

RULES_FILE: Final = "interchange.yaml"
_SEPARATORS = re.compile(r"[\s_\-./]+")


def header_key(text: str) -> str:
    """The form headers are compared in: case, diacritics and separators ignored."""
    return _SEPARATORS.sub(" ", fold(text.strip().lstrip("\ufeff"))).strip()


@dataclass(frozen=True)
class Limits:
    max_file_bytes: int
    max_line_chars: int
    max_field_chars: int
    max_fields_per_record: int
    max_records: int
    max_xml_depth: int
    sniff_bytes: int
    preview_rows: int
    max_services_bytes: int


@dataclass(frozen=True)
class InterchangeRules:
    headers: dict[str, tuple[str, ...]]  # field -> aliases as written in the file
    header_index: dict[str, str]  # header_key(alias or field) -> field
    date_formats: tuple[str, ...]
    naive_timezone: ZoneInfo
    open311_status: dict[str, str]  # lower-cased value -> "open" | "closed"
    booleans: dict[str, bool]  # lower-cased value -> bool
    formula_prefixes: tuple[str, ...]
    default_category: str
    limits: Limits

    def field_for(self, header: str) -> str | None:
        """The canonical field a column header names, or None (kept as an extra)."""
        if header in self.header_index:  # exact canonical names: the common case
            return self.header_index[header]
        return self.header_index.get(header_key(header))

    def vi_header(self, field: str) -> str:
        """The header our Vietnamese export writes for `field` (its first alias)."""
        aliases = self.headers.get(field, ())
        return aliases[0] if aliases else field


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValidationError(RULES_FILE, f"{where}: a list of texts is expected")
    return tuple(value)


def parse_rules(raw: Any) -> InterchangeRules:
    """Validate the file's contents; an alias shared by two fields is refused."""
    if not isinstance(raw, dict):
        raise ValidationError(RULES_FILE, "a mapping is expected")
    headers_raw = raw.get("headers") or {}
    headers: dict[str, tuple[str, ...]] = {}
    index: dict[str, str] = {}
    for name in sorted(KNOWN_FIELDS):
        index[header_key(name)] = name
        index[name] = name
    for name, aliases in headers_raw.items():
        if name not in KNOWN_FIELDS:
            raise ValidationError(RULES_FILE, f"headers: unknown field {name!r}")
        headers[name] = _str_list(aliases, f"headers.{name}")
        for alias in headers[name]:
            key = header_key(alias)
            if index.get(key, name) != name:
                raise ValidationError(
                    RULES_FILE, f"headers: {alias!r} names both {index[key]} and {name}"
                )
            index[key] = name
    status: dict[str, str] = {}
    for canonical, values in (raw.get("open311_status") or {}).items():
        for v in _str_list(values, f"open311_status.{canonical}"):
            status[v.strip().lower()] = str(canonical)
    booleans: dict[str, bool] = {}
    for canonical, values in (raw.get("booleans") or {}).items():
        for v in _str_list(values, f"booleans.{canonical}"):
            booleans[v.strip().lower()] = str(canonical).lower() == "true"
    limits_raw = raw.get("limits") or {}
    try:
        limits = Limits(**{k: int(v) for k, v in limits_raw.items()})
    except TypeError as exc:
        raise ValidationError(RULES_FILE, f"limits: {exc}") from None
    return InterchangeRules(
        headers=headers,
        header_index=index,
        date_formats=_str_list(raw.get("date_formats") or [], "date_formats"),
        naive_timezone=ZoneInfo(str(raw.get("naive_timezone", "Asia/Ho_Chi_Minh"))),
        open311_status=status,
        booleans=booleans,
        formula_prefixes=_str_list(raw.get("formula_prefixes") or [], "formula_prefixes"),
        default_category=str(raw.get("default_category", "khac")),
        limits=limits,
    )


def load_rules(path: Path | None = None) -> InterchangeRules:
    return parse_rules(read_yaml(path or reference_path(RULES_FILE)))


@lru_cache(maxsize=1)
def default_rules() -> InterchangeRules:
    """The shipped rules (cached per process)."""
    return load_rules()
