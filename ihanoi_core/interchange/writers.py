"""One streaming writer per export format: records go out as they come from the query.

A record is a dict keyed by the canonical field names (`fields.ALL_FIELDS`) whose values
are already typed: `str`, `int`, `float`, `bool`, aware `datetime` or None. Each writer
decides how its format spells them:

* Open311 JSON: one array; numbers and booleans as JSON types, date-times as ISO 8601
  with the Hanoi offset (+07:00), missing values as null.
* Open311 XML: `<service_requests><request>...`; every value as element text, a missing
  value as an empty element (what GeoReport v2 servers emit).
* CSV: UTF-8 with a BOM (Excel then shows diacritics), `,` delimiter, one header row.
* XLSX: openpyxl in write-only mode (rows are flushed to a temporary file, not kept),
  numbers and booleans as typed cells, date-times as Excel dates in Hanoi time.

Spreadsheets evaluate a text cell starting with `=`, `+`, `-`, `@` (or tab/CR) as a
formula, so a citizen's description could run `=HYPERLINK(...)` on an analyst's desk.
CSV and XLSX text cells are neutralised with a leading `'` (OWASP's advice); numbers are
written as numbers and never prefixed, so a negative longitude stays a number.

XML 1.0 and XLSX cannot carry most C0 control characters at all; those (and only those)
are replaced by U+FFFD rather than producing a file no tool can open.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import IO, Any, BinaryIO, Final, Protocol
from xml.sax.saxutils import escape

from ihanoi_core.config import HANOI_TZ
from ihanoi_core.interchange import fields as F

Record = dict[str, Any]

NEUTRALISER: Final = "'"
# Characters XML 1.0 forbids (and openpyxl refuses): C0 controls except tab, LF, CR,
# lone surrogates and the two non-characters U+FFFE/U+FFFF.
_ILLEGAL_XML: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_XML_ENTITIES: Final = {"\r": "&#13;", '"': "&quot;"}  # keep CR through XML's normalisation
XLSX_DATETIME_FORMAT: Final = "dd/mm/yyyy hh:mm:ss"
XLSX_SHEET: Final = "phan_anh"


def iso_local(value: datetime) -> str:
    """ISO 8601 in Hanoi time with its offset: 2024-08-08T10:00:00+07:00."""
    return value.astimezone(HANOI_TZ).isoformat()


def legal_xml_text(text: str) -> str:
    return _ILLEGAL_XML.sub("\ufffd", text)


def neutralise(text: str, prefixes: Sequence[str]) -> str:
    """`'=1+1` for `=1+1`: a spreadsheet shows the text instead of evaluating it."""
    return NEUTRALISER + text if text and text[0] in prefixes else text


def text_of(value: Any) -> str:
    """The text form every text-only format shares (XML, CSV)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_local(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


class RecordWriter(Protocol):
    def write(self, record: Record) -> None: ...

    def flush(self) -> None:
        """Push what was written so far to the output (after each chunk of the query)."""

    def close(self) -> None: ...


# ------------------------------------------------------------------ Open311 JSON


class JsonWriter:
    """A JSON array written record by record (never the whole list in memory)."""

    def __init__(self, out: BinaryIO, columns: Sequence[str]) -> None:
        self._out = out
        self._columns = tuple(columns)
        self._first = True
        out.write(b"[")

    def write(self, record: Record) -> None:
        item = {
            c: iso_local(v) if isinstance(v, datetime) else v
            for c in self._columns
            for v in (record.get(c),)
        }
        sep = b"\n" if self._first else b",\n"
        self._first = False
        self._out.write(sep + json.dumps(item, ensure_ascii=False).encode("utf-8"))

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self._out.write(b"\n]\n" if not self._first else b"]\n")


# ------------------------------------------------------------------- Open311 XML


class XmlWriter:
    """A GeoReport v2 `service_requests` document, escaped element by element."""

    def __init__(self, out: BinaryIO, columns: Sequence[str]) -> None:
        self._out = out
        self._columns = tuple(columns)
        out.write(f'<?xml version="1.0" encoding="utf-8"?>\n<{F.XML_ROOT}>\n'.encode())

    def write(self, record: Record) -> None:
        parts = [f"<{F.XML_RECORD}>"]
        for c in self._columns:
            text = legal_xml_text(text_of(record.get(c)))
            parts.append(f"<{c}>{escape(text, _XML_ENTITIES)}</{c}>" if text else f"<{c}/>")
        parts.append(f"</{F.XML_RECORD}>\n")
        self._out.write("".join(parts).encode("utf-8"))

    def flush(self) -> None:
        self._out.flush()

    def close(self) -> None:
        self._out.write(f"</{F.XML_ROOT}>\n".encode())


# --------------------------------------------------------------------------- CSV


class CsvWriter:
    """UTF-8 with BOM, `,`-delimited, header row first, formulas neutralised."""

    def __init__(
        self,
        out: BinaryIO,
        columns: Sequence[str],
        headers: Sequence[str],
        formula_prefixes: Sequence[str],
    ) -> None:
        out.write(codecs.BOM_UTF8)
        self._text: IO[str] = io.TextIOWrapper(out, encoding="utf-8", newline="")
        self._csv = csv.writer(self._text, delimiter=",", lineterminator="\r\n")
        self._columns = tuple(columns)
        self._prefixes = tuple(formula_prefixes)
        self._csv.writerow(list(headers))

    def write(self, record: Record) -> None:
        row = []
        for c in self._columns:
            value = record.get(c)
            if isinstance(value, str):
                row.append(neutralise(value, self._prefixes))
            else:
                row.append(text_of(value))
        self._csv.writerow(row)

    def flush(self) -> None:
        self._text.flush()

    def close(self) -> None:
        self._text.flush()
        if isinstance(self._text, io.TextIOWrapper):
            self._text.detach()  # the caller owns `out`: flush, never close it


# -------------------------------------------------------------------------- XLSX


class XlsxWriter:
    """openpyxl write-only workbook: typed cells, dates in Hanoi time, formulas neutralised."""

    def __init__(
        self,
        out: BinaryIO,
        columns: Sequence[str],
        headers: Sequence[str],
        formula_prefixes: Sequence[str],
    ) -> None:
        from openpyxl import Workbook
        from openpyxl.cell import WriteOnlyCell

        self._cell = WriteOnlyCell
        self._out = out
        self._workbook = Workbook(write_only=True)
        self._sheet = self._workbook.create_sheet(XLSX_SHEET)
        self._columns = tuple(columns)
        self._prefixes = tuple(formula_prefixes)
        self._sheet.append([legal_xml_text(h) for h in headers])

    def write(self, record: Record) -> None:
        row: list[Any] = []
        for c in self._columns:
            value = record.get(c)
            if isinstance(value, datetime):
                # Excel has no time zones: the wall-clock time in Hanoi, as people read it.
                cell = self._cell(
                    self._sheet, value=value.astimezone(HANOI_TZ).replace(tzinfo=None)
                )
                cell.number_format = XLSX_DATETIME_FORMAT
                row.append(cell)
            elif isinstance(value, str):
                row.append(neutralise(legal_xml_text(value), self._prefixes))
            else:
                row.append(value)  # int, float, bool, None: typed cells
        self._sheet.append(row)

    def flush(self) -> None:
        """Rows already sit in openpyxl's temporary file; the zip is built at close."""

    def close(self) -> None:
        self._workbook.save(self._out)


# ------------------------------------------------------------- small tables


def table_csv(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], formula_prefixes: Sequence[str]
) -> bytes:
    """A small table (e.g. an import's error report) as a CSV for Excel: UTF-8 with BOM,
    text cells neutralised, because an error report quotes the very values a hostile file
    carried (a rejected `=HYPERLINK(...)` would run on the reader's desk otherwise)."""
    out = io.BytesIO()
    writer = CsvWriter(out, [str(i) for i in range(len(headers))], headers, formula_prefixes)
    for row in rows:
        writer.write({str(i): v for i, v in enumerate(row)})
    writer.close()
    return out.getvalue()
