"""Export reports as Open311 GeoReport v2 (JSON, XML) or spreadsheets (CSV, XLSX).

Why one query streamed in chunks: an export of the whole city is hundreds of thousands
of reports; rows are read with `yield_per` (a server-side cursor on PostgreSQL) and
written as they arrive, so memory stays flat whatever the size.

What a record holds (`fields.py`): the 17 GeoReport v2 fields, filled the way other
cities' tools expect them, plus our `ihanoi_` fields carrying the whole state of the
report (status, unit, deadlines, rating, ...) as codes, so that importing the file into
an empty database with the same reference data gives the same statistics (round trip).

The filter is `queries.ReportFilter` read on the report as it is now (its current
status, unit and bucket): an export is a copy of today's data, not a past snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, BinaryIO, Final, Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement
from sqlmodel import Session, SQLModel

from ihanoi_core import models as _models  # noqa: F401  (registers the tables)
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import ValidationError
from ihanoi_core.interchange import fields as F
from ihanoi_core.interchange.history_fields import returned_by
from ihanoi_core.interchange.rules import default_rules
from ihanoi_core.interchange.writers import (
    CsvWriter,
    JsonWriter,
    Record,
    RecordWriter,
    XlsxWriter,
    XmlWriter,
)
from ihanoi_core.queries import ReportFilter, statuses_in
from ihanoi_core.vocab import FINISHED_STATUSES, Bucket, Kind, Status

HeaderStyle = Literal["field", "vi"]
HEADER_STYLES: Final[tuple[str, ...]] = ("field", "vi")
CHUNK_ROWS: Final = 1000

MIME_TYPES: Final[dict[str, str]] = {
    F.FORMAT_OPEN311_JSON: "application/json",
    F.FORMAT_OPEN311_XML: "application/xml",
    F.FORMAT_CSV: "text/csv",
    F.FORMAT_XLSX: "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
EXTENSIONS: Final[dict[str, str]] = {
    F.FORMAT_OPEN311_JSON: "json",
    F.FORMAT_OPEN311_XML: "xml",
    F.FORMAT_CSV: "csv",
    F.FORMAT_XLSX: "xlsx",
}

_REPORT: Final = SQLModel.metadata.tables["report"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]
_UNIT: Final = SQLModel.metadata.tables["unit"]
_CATEGORY: Final = SQLModel.metadata.tables["category"]
_CLOSED: Final = frozenset(s.value for s in FINISHED_STATUSES)


def export_filename(fmt: str, today: date) -> str:
    """`phan-anh-2024-08-08.csv`: the day in the name, so downloads do not overwrite."""
    return f"phan-anh-{today.isoformat()}.{EXTENSIONS[fmt]}"


def header_row(style: HeaderStyle) -> list[str]:
    if style == "vi":
        rules = default_rules()
        return [rules.vi_header(c) for c in F.ALL_FIELDS]
    return list(F.ALL_FIELDS)


# ------------------------------------------------------------------- the query


def _day_start_utc(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=HANOI_TZ).astimezone(UTC)


def _conditions(filt: ReportFilter) -> list[ColumnElement[bool]]:
    """`ReportFilter` on the report row as it is now (the same meaning as in `queries`)."""
    r = _REPORT.c
    out: list[ColumnElement[bool]] = []
    if filt.date_from is not None:
        out.append(r.submitted_at >= _day_start_utc(filt.date_from))
    if filt.date_to is not None:
        out.append(r.submitted_at < _day_start_utc(filt.date_to + timedelta(days=1)))
    if filt.kind is not None:
        out.append(r.kind == Kind(filt.kind).value)
    if filt.unit_id is not None:
        out.append(r.current_unit_id == filt.unit_id)
    if filt.district_id is not None:
        out.append(r.district_id == filt.district_id)
    if filt.category_codes:
        parent = _CATEGORY.alias("parent_category")
        out.append(
            r.category_id.in_(
                sa.select(_CATEGORY.c.id).where(
                    sa.or_(
                        _CATEGORY.c.code.in_(filt.category_codes),
                        _CATEGORY.c.parent_id.in_(
                            sa.select(parent.c.id).where(parent.c.code.in_(filt.category_codes))
                        ),
                    )
                )
            )
        )
    if filt.status is not None:
        out.append(r.status == Status(filt.status).value)
    if filt.bucket is not None:
        out.append(r.status.in_(statuses_in(Bucket(filt.bucket))))
    return out


def _export_select(filt: ReportFilter) -> sa.Select[Any]:
    r, e = _REPORT.c, _EVENT.c
    category = _CATEGORY.alias("cat")
    unit = _UNIT.alias("cur_unit")
    district = _UNIT.alias("district")
    ward = _UNIT.alias("ward")
    # The refusal's reason is the citizen's answer (status_notes) of a refused report;
    # it lives on the event that closed it: a refusal, or the `import` event that
    # restored a refused report from a file.
    refusal = (
        sa.select(e.reason)
        .where(e.report_id == r.id, e.to_status == Status.REFUSED.value, e.reason.is_not(None))
        .order_by(e.seq.desc())
        .limit(1)
        .correlate(_REPORT)
        .scalar_subquery()
    )
    return (
        sa.select(
            r.id,
            r.code,
            r.source_ref,
            r.source,
            r.kind,
            r.title,
            r.description,
            r.address,
            r.lat,
            r.lon,
            r.media_url,
            r.status,
            r.priority,
            r.result_text,
            r.is_public,
            r.rating,
            r.rated_at,
            r.bounce_count,
            r.routing_flag,
            r.submitted_at,
            r.received_at,
            r.arrived_at,
            r.due_at,
            r.receipt_due_at,
            r.finished_at,
            r.updated_at,
            category.c.code.label("category_code"),
            category.c.name_vi.label("category_vi"),
            category.c.name_en.label("category_en"),
            unit.c.code.label("unit_code"),
            unit.c.name.label("unit_name"),
            unit.c.name_en.label("unit_name_en"),
            district.c.code.label("district_code"),
            ward.c.code.label("ward_code"),
            sa.case((r.status == Status.REFUSED.value, refusal), else_=sa.null()).label(
                "refusal_reason"
            ),
        )
        .select_from(
            _REPORT.join(category, category.c.id == r.category_id)
            .outerjoin(unit, unit.c.id == r.current_unit_id)
            .outerjoin(district, district.c.id == r.district_id)
            .outerjoin(ward, ward.c.id == r.ward_id)
        )
        .where(*_conditions(filt))
        .order_by(r.id)
    )


def count_reports(session: Session, filt: ReportFilter | None = None) -> int:
    """How many reports an export with `filt` would write (shown before downloading)."""
    stmt = (
        sa.select(sa.func.count()).select_from(_REPORT).where(*_conditions(filt or ReportFilter()))
    )
    session.flush()
    return int(session.connection().execute(stmt).scalar_one())


def _rows(session: Session, stmt: sa.Select[Any], chunk: int) -> Iterator[Sequence[Any]]:
    """Chunks of rows: a server-side cursor on PostgreSQL, a stepped cursor on SQLite."""
    session.flush()
    result = session.connection().execution_options(yield_per=chunk).execute(stmt)
    try:
        yield from result.partitions()
    finally:
        result.close()


def record_of(row: Any, lang: str = "vi", returned_by: str | None = None) -> Record:
    """One report as an interchange record (typed values, codes for reference data).

    `returned_by` comes from the history (`history_fields.returned_by`): the units that
    sent the report back as not theirs, which the statistics count per unit."""
    english = lang == "en"
    status_notes = row.refusal_reason if row.status == Status.REFUSED.value else row.result_text
    return {
        F.SERVICE_REQUEST_ID: row.source_ref or row.code,
        F.STATUS: F.OPEN311_CLOSED if row.status in _CLOSED else F.OPEN311_OPEN,
        F.STATUS_NOTES: status_notes,
        F.SERVICE_NAME: row.category_en if english else row.category_vi,
        F.SERVICE_CODE: row.category_code,
        F.DESCRIPTION: row.description,
        F.AGENCY_RESPONSIBLE: (row.unit_name_en or row.unit_name) if english else row.unit_name,
        F.SERVICE_NOTICE: None,
        F.REQUESTED_DATETIME: row.submitted_at,
        F.UPDATED_DATETIME: row.updated_at,
        F.EXPECTED_DATETIME: row.due_at,
        F.ADDRESS: row.address,
        F.ADDRESS_ID: None,
        F.ZIPCODE: None,
        F.LAT: row.lat,
        F.LONG: row.lon,
        F.MEDIA_URL: row.media_url,
        F.IHANOI_CODE: row.code,
        F.IHANOI_KIND: row.kind,
        F.IHANOI_TITLE: row.title,
        F.IHANOI_STATUS: row.status,
        F.IHANOI_PRIORITY: row.priority,
        F.IHANOI_CATEGORY: row.category_code,
        F.IHANOI_UNIT: row.unit_code,
        F.IHANOI_DISTRICT: row.district_code,
        F.IHANOI_WARD: row.ward_code,
        F.IHANOI_RECEIVED_DATETIME: row.received_at,
        F.IHANOI_ARRIVED_DATETIME: row.arrived_at,
        F.IHANOI_DUE_DATETIME: row.due_at,
        F.IHANOI_RECEIPT_DUE_DATETIME: row.receipt_due_at,
        F.IHANOI_FINISHED_DATETIME: row.finished_at,
        F.IHANOI_RESULT: row.result_text,
        F.IHANOI_IS_PUBLIC: bool(row.is_public),
        F.IHANOI_RATING: row.rating,
        F.IHANOI_RATED_DATETIME: row.rated_at,
        F.IHANOI_BOUNCE_COUNT: int(row.bounce_count),
        F.IHANOI_RETURNED_BY: returned_by,
        F.IHANOI_ROUTING_FLAG: row.routing_flag,
        F.IHANOI_SOURCE: row.source,
    }


def open_writer(fmt: str, out: BinaryIO, headers: HeaderStyle = "field") -> RecordWriter:
    """The writer of `fmt`; an unknown format is a `ValidationError` (nothing written)."""
    if fmt not in F.FORMATS:
        raise ValidationError("format", f"unknown format {fmt!r}; one of {', '.join(F.FORMATS)}")
    if headers not in HEADER_STYLES:
        raise ValidationError("headers", f"unknown header style {headers!r}")
    columns = F.ALL_FIELDS
    if fmt == F.FORMAT_OPEN311_JSON:
        return JsonWriter(out, columns)
    if fmt == F.FORMAT_OPEN311_XML:
        return XmlWriter(out, columns)
    rules = default_rules()
    if fmt == F.FORMAT_CSV:
        return CsvWriter(out, columns, header_row(headers), rules.formula_prefixes)
    return XlsxWriter(out, columns, header_row(headers), rules.formula_prefixes)


def export_reports(
    session: Session,
    *,
    fmt: str,
    out: BinaryIO,
    filt: ReportFilter | None = None,
    lang: str = "vi",
    headers: HeaderStyle = "field",
    chunk: int = CHUNK_ROWS,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Write the reports `filt` selects to `out` in `fmt`; returns the number of rows.

    `lang` chooses the language of the names (service_name, agency_responsible); codes
    never change. `headers="vi"` writes the Vietnamese column names of interchange.yaml
    in CSV/XLSX (the importer reads both). `progress(rows_written)` is called after
    each chunk. `out` is written to, flushed and left open.
    """
    writer = open_writer(fmt, out, headers)
    written = 0
    for rows in _rows(session, _export_select(filt or ReportFilter()), chunk):
        history = returned_by(session, [row.id for row in rows])
        for row in rows:
            writer.write(record_of(row, lang, history.get(row.id)))
        writer.flush()
        written += len(rows)
        if progress is not None:
            progress(written)
    writer.close()
    out.flush()
    return written
