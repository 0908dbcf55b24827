"""Streaming readers: one interchange file in, records (canonical field → raw value) out.

Memory stays bounded whatever the file: JSON is decoded one array element at a time
(`json.JSONDecoder.raw_decode` over a sliding text buffer: no third-party parser, and
an element larger than `max_line_chars` refuses the file instead of growing the
buffer); XML goes through defusedxml's `iterparse` (entity declarations refused, so
"billion laughs" and external entities cannot expand) with each record cleared once
read and a guard on runs of text between tags; CSV lines are cut by our own line
iterator (Python's `readline` would swallow a 200 MB line whole); XLSX is read by
openpyxl in read-only mode. Values stay raw (text, numbers, datetimes): typing and
validation belong to the importer, which reports each problem per record.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any, Final

from ihanoi_core.interchange import fields as F
from ihanoi_core.interchange.problems import BadFileError, RowError
from ihanoi_core.interchange.rules import InterchangeRules, default_rules
from ihanoi_core.interchange.writers import NEUTRALISER

CHUNK: Final = 1 << 16
ZIP_MAGIC: Final = b"PK\x03\x04"
UTF8_BOM: Final = codecs.BOM_UTF8
# Vietnamese in Windows-1258: Ă ă Đ đ Ơ ơ Ư ư and the five combining tone marks.
# In Windows-1252 these bytes are Ã ã Ð ð Õ õ Ý ý Ì ì Ò Þ ò: rare together in
# Western text, so their share decides between the two code pages.
_CP1258_MARKERS: Final = frozenset(b"\xc3\xe3\xd0\xf0\xd5\xf5\xdd\xfd\xcc\xec\xd2\xde\xf2")
_CP1258_TONES: Final = frozenset(b"\xcc\xec\xd2\xde\xf2")
_CP1252_HOLES: Final = frozenset(b"\x81\x8d\x8f\x90\x9d")  # undefined in Windows-1252
_HTTP_STATUS = re.compile(rb"HTTP/\d(?:\.\d)?\s+(\d{3})[^\r\n]*")
ENCODINGS: Final = ("utf-8", "utf-8-sig", "cp1258", "cp1252", "latin-1")
# A lone JSON object is a request only if it has one of these (a schema, a discovery
# document or a service definition has none).
_REQUEST_FIELDS: Final = frozenset(
    {F.SERVICE_REQUEST_ID, F.REQUESTED_DATETIME, F.DESCRIPTION, F.STATUS, F.IHANOI_STATUS}
)
_XML_REQUEST_ROOTS: Final = frozenset({F.XML_ROOT, "requests"})
_XML_NOT_REQUESTS: Final = {
    "services": "services_document",
    "service_definition": "services_document",
    "errors": "open311_error_response",
    "error": "open311_error_response",
    "discovery": "not_requests_document",
}


@dataclass
class RawRecord:
    """One record as read: canonical fields, unknown fields (kept), reader problems."""

    number: int
    values: dict[str, Any]
    extra: dict[str, Any] = field(default_factory=dict)
    errors: list[RowError] = field(default_factory=list)


@dataclass
class SourceInfo:
    """What was detected about the file (shown in the preview and the CLI summary)."""

    format: str
    encoding: str | None = None
    delimiter: str | None = None
    headers: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # codes, translated by the caller


# ------------------------------------------------------------------ the bytes


class _PrefixedStream(io.RawIOBase):
    """A binary stream that starts after an HTTP header block (status line + headers):
    some servers' saved responses begin with one before the XML or JSON."""

    def __init__(self, raw: IO[bytes], head: bytes) -> None:
        self._raw = raw
        self._head = head

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._head:
            n = min(len(buffer), len(self._head))
            buffer[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _skip_http_header(raw: IO[bytes], info: SourceInfo) -> IO[bytes]:
    """Skip a leading `HTTP/1.1 200 OK` block; refuse an error status (not data)."""
    head = raw.read(CHUNK)
    match = _HTTP_STATUS.match(head)
    if match is None:
        return io.BufferedReader(_PrefixedStream(raw, head))
    status = int(match.group(1))
    end = -1
    for sep in (b"\r\n\r\n", b"\n\n"):
        pos = head.find(sep)
        if pos >= 0 and (end < 0 or pos < end):
            end = pos + len(sep)
    if status >= 300:
        raise BadFileError("http_error_status", match.group(0).decode("latin-1").strip())
    info.warnings.append("http_header_skipped")
    rest = head[end:] if end >= 0 else b""
    return io.BufferedReader(_PrefixedStream(raw, rest))


def sniff_format(path: Path, head: bytes) -> str:
    """The format of a file, by its content first (a .json holding XML is XML)."""
    if head.startswith(ZIP_MAGIC):
        return F.FORMAT_XLSX
    body = head
    match = _HTTP_STATUS.match(body)
    if match:
        for sep in (b"\r\n\r\n", b"\n\n"):
            pos = body.find(sep)
            if pos >= 0:
                body = body[pos + len(sep) :]
                break
    body = body.lstrip(UTF8_BOM).lstrip()
    if body[:1] in (b"[", b"{"):
        return F.FORMAT_OPEN311_JSON
    if body[:1] == b"<":
        return F.FORMAT_OPEN311_XML
    suffix = path.suffix.lower()
    if suffix == ".json":
        return F.FORMAT_OPEN311_JSON
    if suffix == ".xml":
        return F.FORMAT_OPEN311_XML
    if suffix in (".xlsx", ".xlsm"):
        return F.FORMAT_XLSX
    if b"\x00" in head:
        raise BadFileError("binary_file", "NUL bytes in a text format")
    return F.FORMAT_CSV


def _check_text_head(head: bytes) -> None:
    """Binary garbage is refused at once, before any parser sees it."""
    if b"\x00" in head[:CHUNK]:
        raise BadFileError("binary_file", "NUL bytes in a text format")
    controls = sum(1 for b in head[:4096] if b < 9 or 13 < b < 32)
    if head and controls * 20 > min(len(head), 4096):
        raise BadFileError("binary_file", f"{controls} control bytes in the first 4 KiB")


def check_size(path: Path, rules: InterchangeRules) -> int:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise BadFileError("unreadable", str(exc)) from None
    if size == 0:
        raise BadFileError("empty_file")
    if size > rules.limits.max_file_bytes:
        raise BadFileError("file_too_large", f"{size} bytes > {rules.limits.max_file_bytes}")
    return size


def detect_encoding(path: Path, head: bytes) -> tuple[str, bool]:
    """(encoding, certain). UTF-8 is certain when the whole file decodes as UTF-8
    (checked in chunks, so a 200 MB file costs one fast pass, not memory); otherwise
    Windows-1258 when Vietnamese marker bytes dominate, Windows-1252 when its 0x80-0x9F
    letters appear, else Latin-1, reported as a guess."""
    candidate = "utf-8-sig" if head.startswith(UTF8_BOM) else "utf-8"
    decoder = codecs.getincrementaldecoder("utf-8")()
    counts = [0] * 256
    valid = True
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            if valid:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    valid = False
            if not valid:
                for b in set(chunk):
                    counts[b] += chunk.count(bytes([b]))
    if valid:
        try:
            decoder.decode(b"", final=True)
            return candidate, True
        except UnicodeDecodeError:
            pass
    high = sum(counts[128:])
    markers = sum(counts[b] for b in _CP1258_MARKERS)
    tones = sum(counts[b] for b in _CP1258_TONES)
    if high and tones and markers * 4 >= high:
        return "cp1258", False
    if any(counts[b] for b in range(0x80, 0xA0)) and not any(counts[b] for b in _CP1252_HOLES):
        return "cp1252", False
    return "latin-1", False


# ------------------------------------------------------------------ mapping names


def _split(
    raw: dict[str, Any], rules: InterchangeRules, number: int
) -> tuple[dict[str, Any], dict[str, Any], list[RowError]]:
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    errors: list[RowError] = []
    if len(raw) > rules.limits.max_fields_per_record:
        errors.append(RowError(number, None, "too_many_fields", str(len(raw))))
    for key, value in raw.items():
        name = rules.field_for(key)
        if name is None:
            extra[key] = value
        elif name in values:
            if values[name] != value:
                errors.append(RowError(number, name, "duplicate_field", str(key)))
        else:
            values[name] = value
    return values, extra, errors


# ------------------------------------------------------------------ JSON


class _DupKeys(dict[str, Any]):
    """An object whose source repeated a key with different values (kept as data)."""

    duplicates: list[str]


def _pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    duplicates: list[str] = []
    for key, value in pairs:
        if key in out and out[key] != value:
            duplicates.append(key)
        out[key] = value
    if duplicates:
        marked = _DupKeys(out)
        marked.duplicates = duplicates
        return marked
    return out


_NON_WS = re.compile(r"[^ \t\r\n]")


class _TextWindow:
    """A sliding window over decoded text; `need` grows it up to `limit` characters."""

    def __init__(self, stream: IO[bytes], encoding: str, limit: int) -> None:
        self._stream = stream
        self._decoder = codecs.getincrementaldecoder(encoding)()
        self.buf = ""
        self.pos = 0
        self.eof = False
        self.limit = limit
        self.consumed = 0
        self.leading_zeros: str | None = None  # the first `006` read as text, if any

    def more(self) -> bool:
        if self.eof:
            return False
        chunk = self._stream.read(CHUNK)
        try:
            text = self._decoder.decode(chunk, final=not chunk)
        except UnicodeDecodeError as exc:
            raise BadFileError(
                "bad_encoding", f"not {self._decoder_name()}: {exc.reason}"
            ) from None
        if not chunk:
            self.eof = True
        if self.pos:
            self.consumed += self.pos
            self.buf = self.buf[self.pos :]
            self.pos = 0
        self.buf += text
        return True

    def _decoder_name(self) -> str:
        return "UTF-8"

    def skip_ws(self) -> None:
        while True:
            found = _NON_WS.search(self.buf, self.pos)
            if found is not None:
                self.pos = found.start()
                return
            self.pos = len(self.buf)  # all blank: drop it, so blanks never accumulate
            if not self.more():
                return

    def peek(self) -> str:
        self.skip_ws()
        return self.buf[self.pos] if self.pos < len(self.buf) else ""


def _json_elements(window: _TextWindow, rules: InterchangeRules) -> Iterator[tuple[int, Any]]:
    """(index + 1, element) of the top-level array (or of the array under an object's
    "service_requests"/"requests" key; a lone object is one record)."""
    decoder = json.JSONDecoder(object_pairs_hook=_pairs_hook)
    first = window.peek()
    if first == "{":
        # A wrapper object or a single request: small enough to read whole, bounded.
        value = _decode_one(window, decoder, 1)
        window.skip_ws()
        if window.pos < len(window.buf):
            raise BadFileError("json_syntax", "extra data after the top-level value")
        if isinstance(value, dict):
            for key in (F.XML_ROOT, F.XML_RECORD, "requests", "data"):
                inner = value.get(key)
                if isinstance(inner, list):
                    yield from enumerate(inner, start=1)
                    return
            _refuse_open311_error([value])
            if not set(value) & _REQUEST_FIELDS:
                raise BadFileError("not_requests_document", ", ".join(sorted(value)[:6]))
            yield 1, value
            return
    if first != "[":
        raise BadFileError("json_syntax", "a JSON array of service requests is expected")
    window.pos += 1
    number = 0
    while True:
        c = window.peek()
        if c == "]":
            window.pos += 1
            window.skip_ws()
            if window.pos < len(window.buf):
                raise BadFileError("json_syntax", "extra data after the array", number)
            return
        if c == "":
            raise BadFileError("truncated_file", "the JSON array is not closed", number)
        if number:
            if c != ",":
                raise BadFileError("json_syntax", f"',' expected, found {c!r}", number + 1)
            window.pos += 1
            if window.peek() == "":
                raise BadFileError("truncated_file", "the JSON array is not closed", number)
        number += 1
        if number > rules.limits.max_records:
            raise BadFileError("too_many_records", str(rules.limits.max_records))
        element = _decode_one(window, decoder, number)
        if number == 1 and isinstance(element, dict):
            _refuse_open311_error([element])
        yield number, element


def _decode_one(window: _TextWindow, decoder: json.JSONDecoder, number: int) -> Any:
    window.skip_ws()
    while True:
        try:
            value, end = decoder.raw_decode(window.buf, window.pos)
        except json.JSONDecodeError as exc:
            repaired = _quote_leading_zeros(window, exc.pos)
            if repaired is True:
                continue
            if repaired is None:  # the number may go on in the next chunk
                window.more()
                continue
            _decode_failed(window, exc, number)
            window.more()
            continue
        if end >= len(window.buf) and not window.eof:
            # A number or literal may continue in the next chunk: read on, decode again.
            window.more()
            continue
        window.pos = end
        return value


# A number with leading zeros (`"service_code":006`, as in the GeoReport v2
# specification's own examples): invalid JSON, but plainly meant as the code "006".
_LEADING_ZEROS = re.compile(r"-?0\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_VALUE_OPENERS: Final = frozenset(":[,")
_VALUE_CLOSERS: Final = frozenset(" \t\r\n,}]")


def _quote_leading_zeros(window: _TextWindow, pos: int) -> bool | None:
    """After a strict parse failed at `pos`: if a value there is a number with leading
    zeros, put it in quotes (read as text) and say True; None when the number may go
    on in the next chunk; False for any other error (it stays a syntax error).

    The decoder stops at the second digit of `006` having read `0` as a number, so the
    spot is outside any string by construction: text inside strings is never touched.
    """
    buf = window.buf
    if not (0 < pos < len(buf) and buf[pos].isdigit() and buf[pos - 1] == "0"):
        return False
    start = pos - 2 if pos >= 2 and buf[pos - 2] == "-" else pos - 1
    before = buf[:start].rstrip(" \t\r\n")
    if not before or before[-1] not in _VALUE_OPENERS:
        return False
    match = _LEADING_ZEROS.match(buf, start)
    if match is None:
        return False
    end = match.end()
    if end >= len(buf) and not window.eof:
        return None
    if end < len(buf) and buf[end] not in _VALUE_CLOSERS:
        return False
    token = match.group(0)
    window.buf = f'{buf[:start]}"{token}"{buf[end:]}'
    if window.leading_zeros is None:
        window.leading_zeros = token
    return True


def _decode_failed(window: _TextWindow, exc: json.JSONDecodeError, number: int) -> None:
    """Raise unless more text may complete the element (then the caller reads on)."""
    if window.eof:
        where = f"character {window.consumed + exc.pos}"
        if exc.pos >= len(window.buf) - 1 or "Unterminated" in exc.msg:
            raise BadFileError("truncated_file", exc.msg, number)
        raise BadFileError("json_syntax", f"{exc.msg} ({where})", number)
    if len(window.buf) - window.pos > window.limit:
        raise BadFileError("record_too_large", f"> {window.limit} characters", number)


def _refuse_error_response(first: dict[str, Any]) -> None:
    """An Open311 error response (`[{"code":403,"description":...}]`) is not data."""
    if set(first) <= {"code", "description"} and "code" in first:
        raise BadFileError(
            "open311_error_response", f"{first.get('code')}: {first.get('description')}"
        )


def _refuse_open311_error(items: list[Any]) -> None:
    """An error response or a services list where requests are expected."""
    first = items[0] if items else None
    if not isinstance(first, dict):
        return
    _refuse_error_response(first)
    if F.SERVICE_REQUEST_ID not in first and (
        {"attributes", "metadata", "keywords", "group"} & set(first)
    ):
        raise BadFileError("services_document", ", ".join(sorted(first)[:6]))


def read_json(stream: IO[bytes], info: SourceInfo, rules: InterchangeRules) -> Iterator[RawRecord]:
    window = _TextWindow(stream, "utf-8-sig", rules.limits.max_line_chars)
    info.encoding = "utf-8"
    for number, element in _json_elements(window, rules):
        if window.leading_zeros is not None and not any(
            w.startswith("json_leading_zeros") for w in info.warnings
        ):
            info.warnings.append(f"json_leading_zeros:{window.leading_zeros}")
        if not isinstance(element, dict):
            yield RawRecord(number, {}, errors=[RowError(number, None, "not_a_record")])
            continue
        values, extra, errors = _split(element, rules, number)
        for key in getattr(element, "duplicates", ()):
            errors.append(RowError(number, rules.field_for(key) or key, "duplicate_key", key))
        for name, value in values.items():
            if isinstance(value, dict | list):
                errors.append(RowError(number, name, "not_a_value", type(value).__name__))
        yield RawRecord(number, values, extra, errors)


# ------------------------------------------------------------------ XML


class _TextRunGuard(io.RawIOBase):
    """Refuse a run of bytes without any tag longer than the field limit: expat would
    otherwise buffer a gigantic text node (or a 200 MB run of blanks) whole."""

    def __init__(self, raw: IO[bytes], limit_bytes: int) -> None:
        self._raw = raw
        self._limit = limit_bytes
        self._run = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        last = max(data.rfind(b"<"), data.rfind(b">"))
        if last < 0:
            self._run += len(data)
        else:
            first = min(p for p in (data.find(b"<"), data.find(b">")) if p >= 0)
            if self._run + first > self._limit:
                self._run += first
            else:
                self._run = len(data) - last - 1
        if self._run > self._limit:
            raise BadFileError("text_too_long", f"> {self._limit} bytes without a tag")
        buffer[: len(data)] = data
        return len(data)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _element_value(element: Any) -> Any:
    children = list(element)
    if not children:
        return (element.text or "").strip()
    out: dict[str, Any] = {}
    for child in children:
        out[_local(child.tag)] = _element_value(child)
    return out


def _xml_record(element: Any, number: int, rules: InterchangeRules) -> RawRecord:
    raw: dict[str, Any] = {}
    errors: list[RowError] = []
    for child in element:
        key = _local(child.tag)
        value = _element_value(child)
        if key in raw and raw[key] != value:
            errors.append(RowError(number, rules.field_for(key) or key, "duplicate_key", key))
        raw[key] = value
    values, extra, more = _split(raw, rules, number)
    errors.extend(more)
    for name, value in values.items():
        if isinstance(value, dict):
            errors.append(RowError(number, name, "not_a_value", "element"))
    return RawRecord(number, values, extra, errors)


def read_xml(stream: IO[bytes], info: SourceInfo, rules: InterchangeRules) -> Iterator[RawRecord]:
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import iterparse

    guarded = io.BufferedReader(_TextRunGuard(stream, rules.limits.max_field_chars * 4))
    depth = 0
    number = 0
    root_seen = False
    info.encoding = info.encoding or "utf-8"
    try:
        parser = iterparse(guarded, events=("start", "end"), forbid_dtd=False)
        root: Any = None
        for event, element in parser:
            if event == "start":
                depth += 1
                if depth > rules.limits.max_xml_depth:
                    raise BadFileError("xml_too_deep", str(depth), number or None)
                if depth == 1:
                    root = element
                    name = _local(element.tag)
                    if name in _XML_NOT_REQUESTS:
                        raise BadFileError(_XML_NOT_REQUESTS[name], name)
                    if name not in _XML_REQUEST_ROOTS and name != F.XML_RECORD:
                        raise BadFileError("not_requests_document", f"<{name}>")
                    root_seen = True
                continue
            depth -= 1
            single = depth == 0 and number == 0 and _local(element.tag) == F.XML_RECORD
            if depth != 1 and not single:
                continue
            number += 1
            if number > rules.limits.max_records:
                raise BadFileError("too_many_records", str(rules.limits.max_records))
            if _local(element.tag) != F.XML_RECORD:
                yield RawRecord(
                    number, {}, errors=[RowError(number, None, "not_a_record", _local(element.tag))]
                )
            else:
                yield _xml_record(element, number, rules)
            if depth == 1:
                root.remove(element)  # keep memory flat: the record is done with
    except DefusedXmlException as exc:
        raise BadFileError("xml_forbidden", type(exc).__name__, number or None) from None
    except ParseError as exc:
        message = str(exc)
        code = (
            "truncated_file"
            if "no element found" in message or "unclosed token" in message
            else "xml_syntax"
        )
        raise BadFileError(code, message, number or None) from None
    if not root_seen:
        raise BadFileError("truncated_file", "no XML element")


# ------------------------------------------------------------------ CSV


def _lines(text: IO[str], limit: int) -> Iterator[str]:
    """Lines with their endings, refusing one longer than `limit` characters before it
    is held whole."""
    pending = ""
    line_no = 1
    while True:
        chunk = text.read(CHUNK)
        if not chunk:
            if pending:
                yield pending
            return
        pending += chunk
        start = 0
        while True:
            end = pending.find("\n", start)
            if end < 0:
                break
            yield pending[start : end + 1]
            line_no += 1
            start = end + 1
        pending = pending[start:]
        if len(pending) > limit:
            raise BadFileError("line_too_long", f"> {limit} characters", line_no)


def sniff_delimiter(sample: str) -> str:
    """`;` (Vietnamese/European Excel) or `,` (or a tab), by count in the header line."""
    first = sample.split("\n", 1)[0]
    counts = {d: first.count(d) for d in (";", ",", "\t")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_csv(
    path: Path,
    info: SourceInfo,
    rules: InterchangeRules,
    encoding: str | None,
    head: bytes,
) -> Iterator[RawRecord]:
    _check_text_head(head)
    if encoding is None:
        encoding, certain = detect_encoding(path, head)
        if not certain:
            info.warnings.append(f"encoding_guessed:{encoding}")
    info.encoding = encoding
    with path.open("r", encoding=encoding, errors="strict", newline="") as fh:
        try:
            sample = fh.read(rules.limits.sniff_bytes)
            fh.seek(0)
            if encoding == "utf-8" and sample.startswith("\ufeff"):
                sample = sample[1:]
            info.delimiter = sniff_delimiter(sample)
            csv.field_size_limit(rules.limits.max_field_chars)
            reader = csv.reader(_lines(fh, rules.limits.max_line_chars), delimiter=info.delimiter)
            yield from _csv_rows(reader, info, rules)
        except UnicodeDecodeError as exc:
            raise BadFileError("bad_encoding", f"not {encoding}: {exc.reason}") from None


def _csv_rows(reader: Any, info: SourceInfo, rules: InterchangeRules) -> Iterator[RawRecord]:
    try:
        header = next(reader)
    except StopIteration:
        raise BadFileError("empty_file") from None
    except csv.Error as exc:
        raise BadFileError("csv_syntax", str(exc), 1) from None
    header = [h.lstrip("\ufeff").strip() for h in header]
    names = _header_names(header, rules)
    info.headers = header
    previous = reader.line_num
    count = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            msg = str(exc)
            code = "field_too_long" if "field larger" in msg else "csv_syntax"
            raise BadFileError(code, msg, previous + 1) from None
        number = previous + 1
        previous = reader.line_num
        if not row or all(not cell.strip() for cell in row):
            continue  # blank lines (often at the end of an Excel export)
        count += 1
        if count > rules.limits.max_records:
            raise BadFileError("too_many_records", str(rules.limits.max_records))
        yield _tabular_record(number, names, row, header, rules.formula_prefixes)


def _header_names(header: list[str], rules: InterchangeRules) -> list[str | None]:
    names: list[str | None] = []
    seen: dict[str, str] = {}
    if len(header) > rules.limits.max_fields_per_record:
        raise BadFileError("too_many_fields", str(len(header)), 1)
    for h in header:
        name = rules.field_for(h) if h else None
        if name is not None:
            if name in seen:
                raise BadFileError("duplicate_header", f"{seen[name]!r} / {h!r} → {name}", 1)
            seen[name] = h
        names.append(name)
    if not seen:
        raise BadFileError("no_known_header", ", ".join(header[:8]), 1)
    return names


def unneutralise(text: str, prefixes: tuple[str, ...]) -> str:
    """`=1+1` for `'=1+1`: undo the export's formula guard (writers.neutralise).

    Only a `'` followed by a formula prefix is ours; any other leading apostrophe is
    the sender's text and stays.
    """
    if len(text) > 1 and text[0] == NEUTRALISER and text[1] in prefixes:
        return text[1:]
    return text


def _tabular_record(
    number: int,
    names: list[str | None],
    row: list[Any],
    header: list[str],
    prefixes: tuple[str, ...],
) -> RawRecord:
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    errors: list[RowError] = []
    if len(row) > len(names) and any(str(c).strip() for c in row[len(names) :] if c is not None):
        errors.append(RowError(number, None, "too_many_cells", f"{len(row)} > {len(names)}"))
    for i, name in enumerate(names):
        value = row[i] if i < len(row) else None
        if isinstance(value, str):
            # Strip first: the guard's `'` then protects a leading tab or CR.
            value = value.strip()
            if value[:1] == NEUTRALISER:
                value = unneutralise(value, prefixes)
        if value is None or value == "":
            continue
        if name is None:
            extra[header[i] or f"column_{i + 1}"] = value
        else:
            values[name] = value
    return RawRecord(number, values, extra, errors)


# ------------------------------------------------------------------ XLSX


def read_xlsx(path: Path, info: SourceInfo, rules: InterchangeRules) -> Iterator[RawRecord]:
    import zipfile

    from openpyxl import load_workbook

    try:
        book = load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise BadFileError("bad_xlsx", f"{type(exc).__name__}: {exc}") from None
    except Exception as exc:  # openpyxl raises its own and defusedxml's errors
        raise BadFileError("bad_xlsx", f"{type(exc).__name__}: {exc}") from None
    info.encoding = None
    try:
        sheet = book.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header_row = next(rows, None)
        if header_row is None:
            raise BadFileError("empty_file")
        header = ["" if h is None else str(h).strip() for h in header_row]
        while header and not header[-1]:
            header.pop()
        names = _header_names(header, rules)
        info.headers = header
        count = 0
        for number, row in enumerate(rows, start=2):
            if all(c is None or (isinstance(c, str) and not c.strip()) for c in row):
                continue
            count += 1
            if count > rules.limits.max_records:
                raise BadFileError("too_many_records", str(rules.limits.max_records))
            cells = [_xlsx_cell(c) for c in row]
            for c in cells:
                if isinstance(c, str) and len(c) > rules.limits.max_field_chars:
                    raise BadFileError("field_too_long", str(len(c)), number)
            yield _tabular_record(number, names, cells, header, rules.formula_prefixes)
    finally:
        book.close()


def _xlsx_cell(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime.combine(value, time())
    return value


# ------------------------------------------------------------------ entry point


@dataclass
class OpenedFile:
    info: SourceInfo
    records: Iterator[RawRecord]


def open_records(
    path: Path,
    *,
    fmt: str | None = None,
    encoding: str | None = None,
    rules: InterchangeRules | None = None,
) -> tuple[SourceInfo, Iterator[RawRecord]]:
    """Detect the format and return a lazy record stream; `BadFileError` may be raised
    now (unreadable, binary, too large) or while iterating (syntax, truncation)."""
    rules = rules or default_rules()
    check_size(path, rules)
    if encoding is not None and encoding.lower() not in ENCODINGS:
        raise BadFileError("unknown_encoding", encoding)
    with path.open("rb") as fh:
        head = fh.read(rules.limits.sniff_bytes)
    detected = sniff_format(path, head)
    if fmt is not None and fmt not in F.FORMATS:
        raise BadFileError("unknown_format", fmt)
    fmt = fmt or detected
    info = SourceInfo(format=fmt)
    if fmt == F.FORMAT_XLSX:
        if not head.startswith(ZIP_MAGIC):
            raise BadFileError("bad_xlsx", "not a ZIP container")
        return info, read_xlsx(path, info, rules)
    if fmt == F.FORMAT_CSV:
        return info, read_csv(path, info, rules, encoding.lower() if encoding else None, head)
    _check_text_head(_after_http(head))
    return info, _stream_records(path, info, rules, fmt, encoding)


def _after_http(head: bytes) -> bytes:
    match = _HTTP_STATUS.match(head)
    if not match:
        return head
    for sep in (b"\r\n\r\n", b"\n\n"):
        pos = head.find(sep)
        if pos >= 0:
            return head[pos + len(sep) :]
    return b""


def _stream_records(
    path: Path, info: SourceInfo, rules: InterchangeRules, fmt: str, encoding: str | None
) -> Iterator[RawRecord]:
    with path.open("rb") as raw:
        stream = _skip_http_header(raw, info)
        if fmt == F.FORMAT_OPEN311_JSON:
            if encoding and encoding.lower() not in ("utf-8", "utf-8-sig"):
                stream = io.BufferedReader(_Transcoded(stream, encoding))
                info.warnings.append(f"encoding_forced:{encoding}")
            yield from read_json(stream, info, rules)
        else:
            if encoding and encoding.lower() not in ("utf-8", "utf-8-sig"):
                # Bytes in `encoding` re-encoded as UTF-8: right for a file that
                # declares UTF-8 (or nothing) but is not, the usual mistake.
                stream = io.BufferedReader(_Transcoded(stream, encoding))
                info.warnings.append(f"encoding_forced:{encoding}")
                info.encoding = encoding
            elif _declares_utf8(_after_http(_head(path))):
                _check_utf8(path, info)
            _skip_leading_blanks(stream)
            yield from read_xml(stream, info, rules)


_XML_DECL = re.compile(rb"""<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(CHUNK)


def _declares_utf8(head: bytes) -> bool:
    match = _XML_DECL.search(head[:512])
    return match is None or match.group(1).decode("ascii").lower() in ("utf-8", "utf8")


def _check_utf8(path: Path, info: SourceInfo) -> None:
    """An XML file that says UTF-8 must be UTF-8: say which byte is not, and what
    the bytes look like (expat would only say "invalid token")."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            try:
                decoder.decode(chunk, final=len(chunk) < (1 << 20))
            except UnicodeDecodeError as exc:
                guess, _ = detect_encoding(path, b"")
                bad = chunk[exc.start : exc.start + 1].hex()
                raise BadFileError(
                    "bad_encoding",
                    f"declared UTF-8, byte 0x{bad} at offset {offset + exc.start}; "
                    f"looks like {guess}: --encoding {guess}",
                ) from None
            offset += len(chunk)
    info.encoding = "utf-8"


def _skip_leading_blanks(stream: IO[bytes]) -> None:
    """Blank lines before `<?xml` make expat fail; real saved responses have them."""
    peek = getattr(stream, "peek", None)
    if peek is None:
        return
    while True:
        data = peek(64)
        if not data:
            return
        stripped = data.lstrip(b" \t\r\n")
        n = len(data) - len(stripped)
        if data.startswith(UTF8_BOM) and n == 0:
            return
        if n == 0:
            return
        stream.read(n)


class _Transcoded(io.RawIOBase):
    """Bytes in a declared encoding, re-encoded as UTF-8 (the `--encoding` override)."""

    def __init__(self, raw: IO[bytes], encoding: str) -> None:
        self._raw = raw
        self._decoder = codecs.getincrementaldecoder(encoding)()
        self._out = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out:
            chunk = self._raw.read(CHUNK)
            self._out = self._decoder.decode(chunk, final=not chunk).encode("utf-8")
            if not chunk:
                break
        n = min(len(buffer), len(self._out))
        buffer[:n] = self._out[:n]
        self._out = self._out[n:]
        return n


# ------------------------------------------------------------------ services lists


@dataclass(frozen=True)
class Service:
    """One service of a GeoReport v2 services list (`services.json` / `.xml`)."""

    code: str
    name: str | None
    group: str | None


_NOT_SERVICES: Final = {
    "service_requests": "requests_not_services",
    "requests": "requests_not_services",
    "request": "requests_not_services",
    "errors": "open311_error_response",
    "error": "open311_error_response",
}


def read_services(path: Path, rules: InterchangeRules | None = None) -> list[Service]:
    """The services a server publishes, in file order (a repeated code kept once).

    A services list is small (a city has tens to hundreds of services), so it is read
    whole, within `max_services_bytes`; anything that is not one is refused with the
    reason (a requests document, an error response, another kind of file).
    """
    rules = rules or default_rules()
    size = check_size(path, rules)
    if size > rules.limits.max_services_bytes:
        raise BadFileError("file_too_large", f"{size} bytes > {rules.limits.max_services_bytes}")
    with path.open("rb") as fh:
        head = fh.read(rules.limits.sniff_bytes)
    try:
        fmt = sniff_format(path, head)
    except BadFileError:
        raise BadFileError("not_services_document", "binary data") from None
    if fmt not in (F.FORMAT_OPEN311_JSON, F.FORMAT_OPEN311_XML):
        raise BadFileError("not_services_document", f"{fmt}: services.json or .xml expected")
    _check_text_head(_after_http(head))
    info = SourceInfo(format=fmt)
    with path.open("rb") as raw:
        stream = _skip_http_header(raw, info)
        if fmt == F.FORMAT_OPEN311_JSON:
            items = _json_services(stream, rules)
        else:
            items = _xml_services(stream)
    found: dict[str, Service] = {}
    for number, item in enumerate(items, start=1):
        code = item.get(F.SERVICE_CODE)
        if code is None or isinstance(code, dict | list) or not str(code).strip():
            raise BadFileError("not_services_document", "an entry has no service_code", number)
        text = str(code).strip()
        if text not in found:
            found[text] = Service(text, _plain(item.get(F.SERVICE_NAME)), _plain(item.get("group")))
    if not found:
        raise BadFileError("not_services_document", "no service in the list")
    return list(found.values())


def _plain(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    text = " ".join(str(value).split())
    return text or None


def _json_services(stream: IO[bytes], rules: InterchangeRules) -> list[dict[str, Any]]:
    window = _TextWindow(stream, "utf-8-sig", rules.limits.max_services_bytes)
    decoder = json.JSONDecoder(object_pairs_hook=_pairs_hook)
    if window.peek() == "":
        raise BadFileError("empty_file")
    value = _decode_one(window, decoder, 1)
    window.skip_ws()
    if window.pos < len(window.buf):
        raise BadFileError("json_syntax", "extra data after the top-level value")
    if isinstance(value, dict):
        inner = value.get("services")
        if not isinstance(inner, list):
            _refuse_error_response(value)
            raise BadFileError("not_services_document", ", ".join(sorted(value)[:6]))
        value = inner
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise BadFileError("not_services_document", "a JSON array of services is expected")
    if value:
        _refuse_error_response(value[0])
        if F.SERVICE_REQUEST_ID in value[0] or F.REQUESTED_DATETIME in value[0]:
            raise BadFileError("requests_not_services", ", ".join(sorted(value[0])[:6]))
    return value


def _xml_services(stream: IO[bytes]) -> list[dict[str, Any]]:
    from xml.etree.ElementTree import ParseError

    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    _skip_leading_blanks(stream)
    try:
        root = fromstring(stream.read())
    except DefusedXmlException as exc:
        raise BadFileError("xml_forbidden", type(exc).__name__) from None
    except ParseError as exc:
        raise BadFileError("xml_syntax", str(exc)) from None
    name = _local(root.tag)
    if name in _NOT_SERVICES:
        raise BadFileError(_NOT_SERVICES[name], f"<{name}>")
    if name != "services":
        raise BadFileError("not_services_document", f"<{name}>")
    items: list[dict[str, Any]] = []
    for number, child in enumerate(root, start=1):
        if _local(child.tag) != "service":
            raise BadFileError("not_services_document", f"<{_local(child.tag)}>", number)
        items.append({_local(c.tag): _element_value(c) for c in child})
    return items
