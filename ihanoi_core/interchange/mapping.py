"""Which of our categories a foreign server's service becomes (`--mapping FILE`).

A city's Open311 server names its own services (`services.json`); the mapping file
says, per service code or name, which category of ours a request of that service is
filed under. Anything the file does not name goes to its `default_category` (else the
reference default) and is counted, so the user sees what still needs a mapping line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ihanoi_core.interchange.problems import BadFileError
from ihanoi_core.interchange.rules import header_key
from ihanoi_core.reference import read_yaml


@dataclass(frozen=True)
class ServiceMapping:
    by_code: dict[str, str]  # service_code (as written) -> category code
    by_name: dict[str, str]  # header_key(service_name) -> category code
    default_category: str | None

    def category_for(self, service_code: str | None, service_name: str | None) -> str | None:
        """The mapped category, or None (the caller uses the default and counts it)."""
        if service_code and service_code in self.by_code:
            return self.by_code[service_code]
        if service_name:
            return self.by_name.get(header_key(service_name))
        return None

    def categories(self) -> set[str]:
        found = set(self.by_code.values()) | set(self.by_name.values())
        if self.default_category:
            found.add(self.default_category)
        return found


EMPTY = ServiceMapping({}, {}, None)


def load_mapping(path: Path | None) -> ServiceMapping:
    """Read a mapping file; a malformed one refuses the import (nothing is written)."""
    if path is None:
        return EMPTY
    try:
        raw = read_yaml(path)
    except Exception as exc:  # read_yaml raises ValidationError naming the file
        raise BadFileError("bad_mapping", str(exc)) from None
    if not isinstance(raw, dict):
        raise BadFileError("bad_mapping", "a mapping with `services:` is expected")
    by_code: dict[str, str] = {}
    by_name: dict[str, str] = {}
    for section, target in (("services", by_code), ("service_names", by_name)):
        entries = raw.get(section) or {}
        if not isinstance(entries, dict):
            raise BadFileError("bad_mapping", f"{section}: a mapping is expected")
        for key, category in entries.items():
            if not isinstance(category, str) or not category.strip():
                raise BadFileError("bad_mapping", f"{section}.{key}: a category code is expected")
            if section == "services":
                target[str(key).strip()] = category.strip()
            else:
                target[header_key(str(key))] = category.strip()
    default = raw.get("default_category")
    if default is not None and not isinstance(default, str):
        raise BadFileError("bad_mapping", "default_category: a category code is expected")
    return ServiceMapping(by_code, by_name, default)
