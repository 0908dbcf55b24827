"""What can be wrong with an imported file or one of its records, as data.

Codes are stable keys (the CLI and the console translate them through
`db/reference/import_messages.yaml`); `detail` carries the offending value or the
parser's own words, never a sentence in one language.
"""

from __future__ import annotations

from dataclasses import dataclass

from ihanoi_core.errors import IHanoiError


@dataclass(frozen=True)
class RowError:
    """One rejected record: `record` is the 1-based line (CSV: physical line of the
    record's start; XLSX: row; JSON: array index + 1; XML: element index + 1)."""

    record: int
    field: str | None
    code: str
    detail: str = ""


class BadFileError(IHanoiError):
    """The whole file is refused (not a readable interchange file); nothing is written."""

    def __init__(self, code: str, detail: str = "", record: int | None = None) -> None:
        where = f" (record {record})" if record is not None else ""
        super().__init__(f"{code}{where}: {detail}" if detail else f"{code}{where}")
        self.code = code
        self.detail = detail
        self.record = record
