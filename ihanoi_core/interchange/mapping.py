"""Which of our categories a foreign server's service becomes (`--mapping FILE`).

A city's Open311 server names its own services (`services.json`); the mapping file
says, per service code or name, which category of ours a request of that service is
filed under. Anything the file does not name goes to its `default_category` (else the
reference default) and is counted, so the user sees what still needs a mapping line.
Its `statuses:` section reads a server's own status words ("Completed", "In Progress")
as Open311's open/closed; a word it does not name stays a row error.

The file is read node by node (`yaml.compose`), not loaded: keys are taken as written,
so an unquoted `006:` is the code "006" (YAML 1.1 would load it as the octal number 6),
and every entry keeps its line, which a refusal names.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import yaml

from ihanoi_core.interchange import fields as F
from ihanoi_core.interchange.problems import BadFileError
from ihanoi_core.interchange.rules import header_key

SECTIONS: Final = ("services", "service_names", "statuses", "default_category")
_OPEN311_STATUSES: Final = (F.OPEN311_OPEN, F.OPEN311_CLOSED)


@dataclass(frozen=True)
class MappingEntry:
    """Where a category code was named, for a refusal the user can find in the file."""

    line: int
    section: str
    key: str | None
    category: str

    def where(self) -> str:
        entry = f"{self.section}.{self.key}" if self.key is not None else self.section
        return f"line {self.line}: {entry}"


@dataclass(frozen=True)
class ServiceMapping:
    by_code: dict[str, str]  # service_code (as written) -> category code
    by_name: dict[str, str]  # header_key(service_name) -> category code
    default_category: str | None
    statuses: dict[str, str] = field(default_factory=dict)  # header_key(word) -> open|closed
    entries: tuple[MappingEntry, ...] = ()

    def category_for(self, service_code: str | None, service_name: str | None) -> str | None:
        """The mapped category, or None (the caller uses the default and counts it)."""
        if service_code and service_code in self.by_code:
            return self.by_code[service_code]
        if service_name:
            return self.by_name.get(header_key(service_name))
        return None

    def status_for(self, value: str) -> str | None:
        """The Open311 status a server's own word stands for, or None (a row error)."""
        return self.statuses.get(header_key(value))

    def categories(self) -> set[str]:
        found = set(self.by_code.values()) | set(self.by_name.values())
        if self.default_category:
            found.add(self.default_category)
        return found

    def unknown_categories(self, known: set[str] | dict[str, object]) -> list[str]:
        """Each entry naming a category that does not exist, as `line N: section.key`."""
        return [
            f"{e.where()}: unknown category {e.category!r}"
            for e in self.entries
            if e.category not in known
        ]


EMPTY = ServiceMapping({}, {}, None)


def _bad(node: yaml.Node, what: str) -> BadFileError:
    return BadFileError("bad_mapping", f"line {node.start_mark.line + 1}: {what}")


def _is_null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _text_of(node: yaml.Node, where: str) -> str:
    if not isinstance(node, yaml.ScalarNode) or _is_null(node) or not str(node.value).strip():
        raise _bad(node, f"{where}: a text value is expected")
    return str(node.value).strip()


def load_mapping(path: Path | None) -> ServiceMapping:
    """Read a mapping file; a malformed one refuses the import (nothing is written)."""
    if path is None:
        return EMPTY
    try:
        with Path(path).open(encoding="utf-8") as fh:
            root = yaml.compose(fh, Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise BadFileError("bad_mapping", f"{path}: {exc}") from None
    if not isinstance(root, yaml.MappingNode):
        raise BadFileError("bad_mapping", "a mapping with `services:` is expected")
    by_code: dict[str, str] = {}
    by_name: dict[str, str] = {}
    statuses: dict[str, str] = {}
    default: str | None = None
    entries: list[MappingEntry] = []
    for key_node, value_node in root.value:
        section = str(key_node.value)
        if section not in SECTIONS:
            raise _bad(key_node, f"unknown section {section!r} (known: {', '.join(SECTIONS)})")
        if section == "default_category":
            if _is_null(value_node):
                continue
            default = _text_of(value_node, section)
            entries.append(MappingEntry(value_node.start_mark.line + 1, section, None, default))
            continue
        if _is_null(value_node):
            continue  # an empty section
        if not isinstance(value_node, yaml.MappingNode):
            raise _bad(value_node, f"{section}: a mapping is expected")
        for entry_key, entry_value in value_node.value:
            if not isinstance(entry_key, yaml.ScalarNode):
                raise _bad(entry_key, f"{section}: a text key is expected")
            key = str(entry_key.value).strip()
            where = f"{section}.{key}"
            if _is_null(entry_value) and section != "statuses":
                continue  # a skeleton line not filled in yet: unmapped, counted
            target = _text_of(entry_value, where)
            if section == "statuses":
                status = target.lower()
                if status not in _OPEN311_STATUSES:
                    raise _bad(entry_value, f"{where}: {target!r} is not open or closed")
                statuses[header_key(key)] = status
                continue
            line = entry_key.start_mark.line + 1
            entries.append(MappingEntry(line, section, key, target))
            if section == "services":
                by_code[key] = target
            else:
                by_name[header_key(key)] = target
    return ServiceMapping(by_code, by_name, default, statuses, tuple(entries))


def skeleton(
    services: Sequence[tuple[str, str | None, str | None]],
    *,
    source_name: str,
    default_category: str,
    categories: Sequence[tuple[str, str]],
) -> str:
    """A mapping file to fill in: one `services:` line per (code, name, group), each
    `null` until a category code replaces it, the name as a comment.

    Codes are written double-quoted (`"006"`, `"1"`), the spelling `load_mapping` and
    a server's requests agree on; a line left `null` is "not mapped yet": the import
    files such requests under `default_category` and counts them.
    """
    lines = [
        "# Service mapping for `python -m ihanoi_core import FILE --mapping THIS_FILE`,",
        f"# written by `import-mapping` from {source_name} ({len(services)} services).",
        "#",
        "# Replace each `null` with one of our category codes (listed below). A line left",
        "# null is not mapped yet: its requests go to default_category and the import",
        "# counts them per service.",
        "#",
        "# statuses: a server's own status words read as Open311's open or closed",
        '# (matched ignoring case, spaces, "_" and "-"); any other word is a row error.',
        "#   statuses:",
        "#     Completed: closed",
        "#     In Progress: open",
        "#",
        "# Category codes (db/reference/categories.yaml):",
        *(f"#   {code:<28} {name}" for code, name in categories),
        "",
        "services:",
    ]
    for code, name, group in services:
        key = json.dumps(code, ensure_ascii=False)
        label = " ".join(f"{name or ''}{f' ({group})' if group else ''}".split())
        comment = f"  # {label}" if label else ""
        lines.append(f"  {key}: null{comment}")
    lines += ["statuses: {}", f"default_category: {json.dumps(default_category)}", ""]
    return "\n".join(lines)
