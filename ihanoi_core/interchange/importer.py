"""Import an interchange file into reports: validated per record, all or nothing.

The file is read as a stream and written in batches inside ONE transaction: when any
record is bad and the user did not accept importing the good rows only, or on a dry
run, the transaction is rolled back, so the database never holds half a file (and
never half a row: each report and its history go in together). Batches are bulk
inserts (one executemany for the reports, their ids read back by code, one executemany
for the events) and routing is vectorised per boundary layer, so 100,000 records take
seconds, not hours.

Two kinds of record:
- our own export (it carries `ihanoi_status`): the report's state is restored exactly
  (status, unit, deadlines, result, rating ...) with one `import` event dated at the
  report's last change, preceded by one REFUSE_NOT_OURS event per `ihanoi_returned_by`
  entry (by that unit, at that time), so `stats` after the export agree with the source
  database, units' "returned as not ours" counts included. These events carry
  `source_file`/`source_row`: `verify` checks them as restored history, not as steps;
- a foreign Open311/311 record: a new report, routed by location exactly like
  `services.create_report` (category unit first, then the district/commune, procedure
  reports and missing locations stay with the city dispatcher), its history starting
  with an `import` event naming the source file and row; "closed" ones are imported
  as published with `status_notes` as the result.
Idempotent: a record whose key (our code, or source + source id) is already in the
database, or earlier in the same file, is counted as a duplicate and skipped.
"""

from __future__ import annotations

import hashlib
import json
import math
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, SQLModel, select

from ihanoi_core.boundaries import layout_by_id
from ihanoi_core.config import HANOI_TZ, reference_path
from ihanoi_core.db import UTCDateTime, get_engine, utcnow
from ihanoi_core.deadlines import policy_for
from ihanoi_core.interchange import fields as F
from ihanoi_core.interchange.history_fields import split_returned_by
from ihanoi_core.interchange.mapping import ServiceMapping, load_mapping
from ihanoi_core.interchange.problems import BadFileError, RowError
from ihanoi_core.interchange.readers import RawRecord, SourceInfo, open_records
from ihanoi_core.interchange.rules import InterchangeRules, default_rules
from ihanoi_core.models import Category, ImportBatch, Unit, User
from ihanoi_core.reference import read_yaml
from ihanoi_core.routing import Router, router_for
from ihanoi_core.services import CODE_ALPHABET, new_report_code, system_actor
from ihanoi_core.text import search_text_of
from ihanoi_core.vocab import (
    HANDLING_UNIT_KINDS,
    Action,
    Kind,
    Priority,
    Rating,
    Role,
    RoutingFlag,
    Status,
    UnitKind,
)
from ihanoi_core.workflow import (
    ActionParams,
    Actor,
    DeadlinePolicy,
    EventRecord,
    InMemoryLookups,
    ReportState,
    UnitRef,
    event_values,
    plan,
)

__all__ = [
    "BadFileError",
    "ImportResult",
    "Preview",
    "RowError",
    "error_messages",
    "import_file",
    "preview_file",
]

BATCH_ROWS: Final = 2000
MAX_KEPT_ERRORS: Final = 100_000
TITLE_CHARS: Final = 120
MESSAGES_FILE: Final = "import_messages.yaml"
_REPORT: Final = SQLModel.metadata.tables["report"]
_EVENT: Final = SQLModel.metadata.tables["report_event"]
_NULLS: Final = frozenset({"null", "none", "nan", "n/a"})
_URL_SCHEMES: Final = ("http://", "https://")
# Open311 fields with no report column: kept in extra_json under their own names.
_KEPT_OPEN311: Final = (
    F.SERVICE_NAME,
    F.SERVICE_CODE,
    F.AGENCY_RESPONSIBLE,
    F.SERVICE_NOTICE,
    F.ADDRESS_ID,
    F.ZIPCODE,
)
# Units that can refuse a report as "not our function" (they handle reports).
_REFUSING_KINDS: Final = tuple(sorted(HANDLING_UNIT_KINDS))
_TEXT_LIMITS: Final = {
    F.ADDRESS: 500,
    F.MEDIA_URL: 1000,
    F.SERVICE_REQUEST_ID: 200,
    F.IHANOI_CODE: 32,
    F.IHANOI_TITLE: 300,
    F.IHANOI_SOURCE: 64,
}


# ----------------------------------------------------------------- results


@dataclass(frozen=True)
class ImportResult:
    format: str
    total: int
    imported: int
    duplicates: int
    rejected: list[RowError]
    written: bool
    dry_run: bool
    unmapped_services: dict[str, int]
    batch_id: int | None
    encoding: str | None = None
    delimiter: str | None = None
    warnings: tuple[str, ...] = ()
    rejected_records: int = 0  # records with at least one error (rejected lists each error)


@dataclass(frozen=True)
class Preview:
    format: str
    encoding: str | None
    delimiter: str | None
    headers: list[str]
    rows: list[dict[str, Any]]  # canonical fields and extras, as read
    errors: list[RowError]
    warnings: list[str]


# ----------------------------------------------------------------- context


@dataclass
class _Context:
    """Everything a record is checked against, read once per import."""

    rules: InterchangeRules
    mapping: ServiceMapping
    source: str
    source_file: str
    categories: dict[str, tuple[int, str, str | None]]  # code -> (id, kind, default unit)
    units: dict[tuple[str, str], int]  # (kind, code) -> id
    lookups: InMemoryLookups
    city_office_id: int
    system: Actor
    importer_id: int | None
    importer_role: Role
    deadlines: DeadlinePolicy
    router: Router | None = None
    session: Session | None = None
    unmapped: dict[str, int] = field(default_factory=dict)
    warnings: set[str] = field(default_factory=set)

    def unit_id(self, code: str, kinds: Iterable[UnitKind]) -> int | None:
        for kind in kinds:
            found = self.units.get((kind.value, code))
            if found is not None:
                return found
        return None

    def get_router(self) -> Router:
        if self.router is None:
            assert self.session is not None
            self.router = router_for(self.session)
        return self.router


def _load_context(
    session: Session,
    *,
    rules: InterchangeRules,
    mapping: ServiceMapping,
    source: str,
    source_file: str,
    actor_id: int | None,
) -> _Context:
    categories = {
        c.code: (c.id, c.kind, c.default_unit_code)
        for c in session.exec(select(Category))
        if c.id is not None
    }
    unknown = mapping.unknown_categories(set(categories))
    if unknown:
        more = f"; ... (+{len(unknown) - 5})" if len(unknown) > 5 else ""
        raise BadFileError("bad_mapping", "; ".join(unknown[:5]) + more)
    if rules.default_category not in categories:
        raise BadFileError("bad_mapping", f"unknown category {rules.default_category!r}")
    unit_rows = list(session.exec(select(Unit)))
    units = {(u.kind, u.code): u.id for u in unit_rows if u.id is not None}
    refs = {
        u.id: UnitRef(u.id, u.code, UnitKind(u.kind), u.name, u.valid_from, u.valid_to)
        for u in unit_rows
        if u.id is not None
    }
    city = next(u.id for u in unit_rows if u.kind == UnitKind.CITY_OFFICE.value and u.id)
    system = system_actor(session)
    role = Role.SYSTEM
    if actor_id is not None:
        user = session.get(User, actor_id)
        if user is None:
            raise BadFileError("unknown_actor", str(actor_id))
        role = Role(user.role)
    return _Context(
        rules=rules,
        mapping=mapping,
        source=source,
        source_file=source_file[-300:],
        categories={k: (v[0], v[1], v[2]) for k, v in categories.items() if v[0] is not None},
        units=units,
        lookups=InMemoryLookups(units=refs, city_office=city),
        city_office_id=city,
        system=system,
        importer_id=actor_id if actor_id is not None else system.user_id,
        importer_role=role,
        deadlines=policy_for(session),
        session=session,
    )


# ----------------------------------------------------------------- values


class _RowProblems:
    def __init__(self, number: int) -> None:
        self.number = number
        self.errors: list[RowError] = []

    def add(self, name: str | None, code: str, detail: object = "") -> None:
        self.errors.append(RowError(self.number, name, code, str(detail)[:200]))


def _text(values: dict[str, Any], name: str, problems: _RowProblems, ctx: _Context) -> str | None:
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a spreadsheet turns "001"-less ids into 1.0
    text = str(value).strip()
    if not text or text.lower() in _NULLS:
        return None
    if not text.isascii():
        # Windows-1258 spells Vietnamese with combining tone marks: store one form.
        text = unicodedata.normalize("NFC", text)
    limit = _TEXT_LIMITS.get(name, ctx.rules.limits.max_field_chars)
    if len(text) > limit:
        problems.add(name, "too_long", f"{len(text)} > {limit}")
        return None
    return text


def _datetime(
    values: dict[str, Any], name: str, problems: _RowProblems, ctx: _Context
) -> datetime | None:
    value = values.get(name)
    if value is None:
        return None
    if isinstance(value, datetime):
        parsed: datetime | None = value
    else:
        text = str(value).strip()
        if not text or text.lower() in _NULLS:
            return None
        parsed = _parse_datetime(text, ctx.rules)
        if parsed is None:
            problems.add(name, "bad_datetime", text)
            return None
    assert parsed is not None
    if parsed.tzinfo is None:
        ctx.warnings.add("naive_datetime")
        parsed = parsed.replace(tzinfo=ctx.rules.naive_timezone)
    return parsed.astimezone(UTC)


def _parse_datetime(text: str, rules: InterchangeRules) -> datetime | None:
    iso = text.replace("z", "Z")
    if iso.endswith("Z"):
        iso = iso[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(iso)
    except ValueError:
        pass
    for fmt in rules.date_formats:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    return None


def _number(
    values: dict[str, Any], name: str, problems: _RowProblems, ctx: _Context
) -> float | None:
    value = values.get(name)
    if value is None or isinstance(value, bool):
        if isinstance(value, bool):
            problems.add(name, "bad_number", value)
        return None
    if isinstance(value, int | float):
        number = float(value)
    else:
        text = str(value).strip()
        if not text or text.lower() in _NULLS:
            return None
        if text.count(",") == 1 and "." not in text:
            text = text.replace(",", ".")  # 21,0285 from a Vietnamese spreadsheet
        try:
            number = float(text)
        except ValueError:
            problems.add(name, "bad_number", text)
            return None
    if not math.isfinite(number):
        problems.add(name, "bad_number", value)
        return None
    return number


def _location(
    values: dict[str, Any], problems: _RowProblems, ctx: _Context
) -> tuple[float | None, float | None]:
    lat = _number(values, F.LAT, problems, ctx)
    lon = _number(values, F.LONG, problems, ctx)
    if lat is None and lon is None:
        return None, None
    if lat is None or lon is None:
        problems.add(F.LAT if lat is None else F.LONG, "location_incomplete")
        return None, None
    if lat == 0 and lon == 0:
        ctx.warnings.add("zero_coordinates")  # a placeholder, not a place: no location
        return None, None
    if not -90 <= lat <= 90:
        if -90 <= lon <= 90 and -180 <= lat <= 180:
            problems.add(F.LAT, "coordinates_swapped", f"lat={lat}, long={lon}")
        else:
            problems.add(F.LAT, "coordinates_out_of_range", lat)
        return None, None
    if not -180 <= lon <= 180:
        problems.add(F.LONG, "coordinates_out_of_range", lon)
        return None, None
    return lat, lon


def _media_url(values: dict[str, Any], problems: _RowProblems, ctx: _Context) -> str | None:
    url = _text(values, F.MEDIA_URL, problems, ctx)
    if url is not None and not url.lower().startswith(_URL_SCHEMES):
        problems.add(F.MEDIA_URL, "bad_url", url)
        return None
    return url


def _choice(
    values: dict[str, Any],
    name: str,
    allowed: Iterable[str],
    problems: _RowProblems,
    ctx: _Context,
) -> str | None:
    text = _text(values, name, problems, ctx)
    if text is None:
        return None
    options = set(allowed)
    if text not in options:
        lowered = text.lower()
        if lowered in options:
            return lowered
        problems.add(name, "bad_value", text)
        return None
    return text


def _extras(raw: RawRecord, values: dict[str, Any], kept: Iterable[str]) -> str | None:
    extra: dict[str, Any] = {}
    for name in kept:
        value = values.get(name)
        if value is not None and str(value).strip() != "":
            extra[name] = value
    extra.update(raw.extra)
    if not extra:
        return None
    return json.dumps(extra, ensure_ascii=False, default=str, sort_keys=True)


# ----------------------------------------------------------------- rows


@dataclass
class _Row:
    """A valid record, ready to write (routing of foreign rows happens per batch)."""

    number: int
    key: tuple[str, ...]  # ("code", c) or ("ref", source, ref)
    report: dict[str, Any]
    own: bool
    closed: bool = False
    import_at: datetime | None = None
    event: dict[str, Any] | None = None  # own rows: the restoring import event
    history: list[dict[str, Any]] = field(default_factory=list)  # own rows: before `event`
    code_hint: str | None = None


def _own_row(raw: RawRecord, ctx: _Context, problems: _RowProblems) -> _Row | None:
    v = raw.values
    code = _text(v, F.IHANOI_CODE, problems, ctx)
    if code is None and not any(e.field == F.IHANOI_CODE for e in problems.errors):
        problems.add(F.IHANOI_CODE, "missing_value")
    status = _choice(v, F.IHANOI_STATUS, (s.value for s in Status), problems, ctx)
    kind = _choice(v, F.IHANOI_KIND, (k.value for k in Kind), problems, ctx)
    priority = _choice(v, F.IHANOI_PRIORITY, (p.value for p in Priority), problems, ctx)
    rating = _choice(v, F.IHANOI_RATING, (r.value for r in Rating), problems, ctx)
    flag = _choice(v, F.IHANOI_ROUTING_FLAG, (f.value for f in RoutingFlag), problems, ctx)
    category_code = _text(v, F.IHANOI_CATEGORY, problems, ctx)
    category = ctx.categories.get(category_code or "")
    if category_code is not None and category is None:
        problems.add(F.IHANOI_CATEGORY, "unknown_category", category_code)
    elif category_code is None:
        problems.add(F.IHANOI_CATEGORY, "missing_value")
    unit_id = _unit(v, F.IHANOI_UNIT, tuple(HANDLING_UNIT_KINDS), problems, ctx)
    district_id = _unit(v, F.IHANOI_DISTRICT, (UnitKind.DISTRICT,), problems, ctx)
    ward_kinds = (
        (UnitKind.WARD, UnitKind.COMMUNE) if district_id else (UnitKind.COMMUNE, UnitKind.WARD)
    )
    ward_id = _unit(v, F.IHANOI_WARD, ward_kinds, problems, ctx)
    submitted = _datetime(v, F.REQUESTED_DATETIME, problems, ctx)
    received = _datetime(v, F.IHANOI_RECEIVED_DATETIME, problems, ctx) or submitted
    updated = _datetime(v, F.UPDATED_DATETIME, problems, ctx) or received
    due = _datetime(v, F.IHANOI_DUE_DATETIME, problems, ctx)
    if due is None:
        due = _datetime(v, F.EXPECTED_DATETIME, problems, ctx)
    times = {
        "arrived_at": _datetime(v, F.IHANOI_ARRIVED_DATETIME, problems, ctx),
        "receipt_due_at": _datetime(v, F.IHANOI_RECEIPT_DUE_DATETIME, problems, ctx),
        "finished_at": _datetime(v, F.IHANOI_FINISHED_DATETIME, problems, ctx),
        "rated_at": _datetime(v, F.IHANOI_RATED_DATETIME, problems, ctx),
    }
    if submitted is None and not any(e.field == F.REQUESTED_DATETIME for e in problems.errors):
        problems.add(F.REQUESTED_DATETIME, "missing_value")
    is_public = _bool(v, F.IHANOI_IS_PUBLIC, problems, ctx)
    bounce = _int(v, F.IHANOI_BOUNCE_COUNT, problems, ctx)
    lat, lon = _location(v, problems, ctx)
    title = _text(v, F.IHANOI_TITLE, problems, ctx)
    description = _text(v, F.DESCRIPTION, problems, ctx) or ""
    address = _text(v, F.ADDRESS, problems, ctx) or ""
    media_url = _media_url(v, problems, ctx)
    result = _text(v, F.IHANOI_RESULT, problems, ctx)
    notes = _text(v, F.STATUS_NOTES, problems, ctx)
    source = _text(v, F.IHANOI_SOURCE, problems, ctx) or "app"
    request_id = _text(v, F.SERVICE_REQUEST_ID, problems, ctx)
    if category is not None and kind is not None and category[1] != kind:
        problems.add(F.IHANOI_CATEGORY, "category_kind_mismatch", f"{category_code} / {kind}")
    returned = _returned_by(v, problems, ctx, bounce, received, updated)
    if problems.errors:
        return None
    assert code and status and category and submitted and received and updated
    kind = kind or category[1]
    title = title or _derived_title(v, description)
    source_ref = request_id if request_id and request_id != code else None
    priority = priority or Priority.NORMAL.value
    current_unit = unit_id if unit_id is not None else ctx.city_office_id
    report = _report_values(
        code=code,
        kind=kind,
        category_id=category[0],
        title=title,
        description=description,
        address=address,
        lat=lat,
        lon=lon,
        district_id=district_id,
        ward_id=ward_id,
        submitted_at=submitted,
        received_at=received,
        status=status,
        priority=priority,
        current_unit_id=current_unit,
        routing_flag=flag,
        source=source,
        source_ref=source_ref,
        media_url=media_url,
        extra_json=_extras(raw, v, _KEPT_OPEN311),
        updated_at=updated,
        due_at=due,
        result_text=result,
        is_public=bool(is_public),
        rating=rating,
        bounce_count=bounce if bounce is not None else len(returned),
        **times,
    )
    event = EventRecord(
        action=Action.IMPORT,
        at=updated,
        actor_id=ctx.importer_id,
        actor_role=ctx.importer_role,
        from_status=None,
        to_status=Status(status),
        from_unit_id=None,
        to_unit_id=current_unit,
        assignee_id=None,
        priority=Priority(priority),
        due_at=due,
        seq=1,
        reason=notes if status == Status.REFUSED.value else None,
        result_text=result,
        rating=Rating(rating) if rating else None,
        is_public=bool(is_public),
    )
    history = [
        _event_dict(
            EventRecord(
                action=Action.REFUSE_NOT_OURS,
                at=at,
                actor_id=ctx.system.user_id,
                actor_role=Role.SYSTEM,
                from_status=None,  # what it was before is not in the file
                to_status=Status.RETURNED,
                from_unit_id=unit,
                to_unit_id=ctx.city_office_id,
                assignee_id=None,
                priority=Priority(priority),
                due_at=None,
                seq=seq,
                reason=f"{F.IHANOI_RETURNED_BY}: {ctx.source_file} #{raw.number}",
            ),
            ctx,
            raw.number,
        )
        for seq, (unit, at) in enumerate(returned, start=1)
    ]
    report["version"] = len(history) + 1
    key = ("code", code)
    return _Row(
        raw.number,
        key,
        report,
        own=True,
        event=_event_dict(replace(event, seq=len(history) + 1), ctx, raw.number),
        history=history,
    )


def _returned_by(
    values: dict[str, Any],
    problems: _RowProblems,
    ctx: _Context,
    bounce: int | None,
    received: datetime | None,
    updated: datetime | None,
) -> list[tuple[int, datetime]]:
    """The refusals "not our function" to recreate: (refusing unit id, when), oldest
    first, each between the report's receipt and its last change; one per bounce."""
    name = F.IHANOI_RETURNED_BY
    text = _text(values, name, problems, ctx)
    if text is None:
        return []
    try:
        entries = split_returned_by(text)
    except ValueError as bad:
        problems.add(name, "bad_returned_by", bad)
        return []
    found: list[tuple[int, datetime]] = []
    for code, when in entries:
        unit = ctx.unit_id(code, _REFUSING_KINDS)
        if unit is None:
            problems.add(name, "unknown_unit", code)
        at = _moment(when, ctx)
        if at is None:
            problems.add(name, "bad_datetime", when)
        if unit is not None and at is not None:
            found.append((unit, at))
    if not found or len(found) < len(entries):
        return []
    times = [at for _, at in found]
    if times != sorted(times):
        problems.add(name, "returned_by_order", text)
    elif (
        received is not None
        and updated is not None
        and (times[0] < received or times[-1] > updated)
    ):
        problems.add(name, "returned_by_outside", text)
    if bounce is not None and bounce != len(found):
        problems.add(name, "returned_by_count", f"{len(found)} != {bounce}")
    return found


def _moment(text: str, ctx: _Context) -> datetime | None:
    parsed = _parse_datetime(text, ctx.rules)
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        ctx.warnings.add("naive_datetime")
        parsed = parsed.replace(tzinfo=ctx.rules.naive_timezone)
    return parsed.astimezone(UTC)


def _unit(
    values: dict[str, Any],
    name: str,
    kinds: tuple[UnitKind, ...],
    problems: _RowProblems,
    ctx: _Context,
) -> int | None:
    code = _text(values, name, problems, ctx)
    if code is None:
        return None
    found = ctx.unit_id(code, kinds)
    if found is None:
        problems.add(name, "unknown_unit", code)
    return found


def _bool(values: dict[str, Any], name: str, problems: _RowProblems, ctx: _Context) -> bool | None:
    value = values.get(name)
    if value is None or isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ctx.rules.booleans:
        return ctx.rules.booleans[text]
    problems.add(name, "bad_value", value)
    return None


def _int(values: dict[str, Any], name: str, problems: _RowProblems, ctx: _Context) -> int | None:
    number = _number(values, name, problems, ctx)
    if number is None:
        return None
    if not number.is_integer() or number < 0:
        problems.add(name, "bad_number", values.get(name))
        return None
    return int(number)


def _derived_title(values: dict[str, Any], description: str) -> str:
    name = str(values.get(F.SERVICE_NAME) or "").strip()
    if name and name.lower() not in _NULLS:
        return name[:300]
    first = " ".join(description.split())
    if len(first) > TITLE_CHARS:
        first = first[: TITLE_CHARS - 1].rstrip() + "…"
    return first or "(Open311)"


def _foreign_row(raw: RawRecord, ctx: _Context, problems: _RowProblems) -> _Row | None:
    v = raw.values
    status_text = _text(v, F.STATUS, problems, ctx)
    status = F.OPEN311_OPEN
    if status_text is not None:
        mapped = ctx.rules.open311_status.get(status_text.lower())
        if mapped is None:
            mapped = ctx.mapping.status_for(status_text)
        if mapped is None:
            problems.add(F.STATUS, "bad_status", status_text)
        else:
            status = mapped
    requested = _datetime(v, F.REQUESTED_DATETIME, problems, ctx)
    updated = _datetime(v, F.UPDATED_DATETIME, problems, ctx)
    expected = _datetime(v, F.EXPECTED_DATETIME, problems, ctx)
    if requested is None and updated is not None:
        requested = updated
    if requested is None and not any(
        e.field in (F.REQUESTED_DATETIME, F.UPDATED_DATETIME) for e in problems.errors
    ):
        problems.add(F.REQUESTED_DATETIME, "missing_value")
    lat, lon = _location(v, problems, ctx)
    description = _text(v, F.DESCRIPTION, problems, ctx) or ""
    address = _text(v, F.ADDRESS, problems, ctx) or ""
    media_url = _media_url(v, problems, ctx)
    notes = _text(v, F.STATUS_NOTES, problems, ctx)
    request_id = _text(v, F.SERVICE_REQUEST_ID, problems, ctx)
    service_code = _text(v, F.SERVICE_CODE, problems, ctx)
    service_name = _text(v, F.SERVICE_NAME, problems, ctx)
    if problems.errors:
        return None
    assert requested is not None
    category_code = ctx.mapping.category_for(service_code, service_name)
    if category_code is None:
        label = service_code or service_name or "(none)"
        if service_code and service_name:
            label = f"{service_code} {service_name}"
        ctx.unmapped[label] = ctx.unmapped.get(label, 0) + 1
        category_code = ctx.mapping.default_category or ctx.rules.default_category
    category_id, kind, _ = ctx.categories[category_code]
    if request_id is None:
        # No id from the source: the record's own content is its identity, so the
        # same file imported twice still does not duplicate it.
        digest = hashlib.sha256(
            json.dumps([requested.isoformat(), description, address, lat, lon]).encode()
        ).hexdigest()
        request_id = f"sha256:{digest[:40]}"
    closed = status == F.OPEN311_CLOSED
    finished = (updated or requested) if closed else None
    report = _report_values(
        code="",
        kind=kind,
        category_id=category_id,
        title=_text(v, F.IHANOI_TITLE, problems, ctx) or _derived_title(v, description),
        description=description,
        address=address,
        lat=lat,
        lon=lon,
        district_id=None,
        ward_id=None,
        submitted_at=requested,
        received_at=requested,
        status=Status.PUBLISHED.value if closed else Status.RECEIVED.value,
        priority=Priority.NORMAL.value,
        current_unit_id=ctx.city_office_id,
        routing_flag=None,
        source=ctx.source,
        source_ref=request_id,
        media_url=media_url,
        extra_json=_extras(raw, v, (*_KEPT_OPEN311, F.EXPECTED_DATETIME)),
        updated_at=finished or requested,
        due_at=None,
        result_text=notes if closed else None,
        is_public=False,
        rating=None,
        bounce_count=0,
        finished_at=finished,
    )
    report["_category_code"] = category_code
    report["_expected"] = expected
    return _Row(
        raw.number,
        ("ref", ctx.source, request_id),
        report,
        own=False,
        closed=closed,
        import_at=finished or requested,
        code_hint=request_id,
    )


def _report_values(**values: Any) -> dict[str, Any]:
    values.setdefault("arrived_at", None)
    values.setdefault("receipt_due_at", None)
    values.setdefault("finished_at", None)
    values.setdefault("rated_at", None)
    values["assignee_id"] = None
    values["version"] = 1
    return values


def _event_dict(event: EventRecord, ctx: _Context, number: int) -> dict[str, Any]:
    row = event_values(0, event)
    row["source_file"] = ctx.source_file
    row["source_row"] = number
    return row


def check_record(raw: RawRecord, ctx: _Context) -> tuple[_Row | None, list[RowError]]:
    problems = _RowProblems(raw.number)
    problems.errors.extend(raw.errors)
    if F.is_own_record(raw.values):
        row = _own_row(raw, ctx, problems)
    else:
        row = _foreign_row(raw, ctx, problems)
    if problems.errors:
        return None, problems.errors
    return row, []


# ----------------------------------------------------------------- writing


class _Writer:
    """Writes batches of valid rows: duplicates out, routing, bulk INSERTs."""

    def __init__(self, session: Session, ctx: _Context) -> None:
        self.session = session
        self.ctx = ctx
        self.seen: set[tuple[str, ...]] = set()
        self.codes: set[str] = set()
        self.imported = 0
        self.duplicates = 0

    def write(self, rows: list[_Row], *, store: bool) -> None:
        fresh = self._without_duplicates(rows)
        self.imported += len(fresh)
        if not fresh:
            return
        foreign = [r for r in fresh if not r.own]
        if foreign:
            self._route(foreign)
            self._assign_codes(foreign)
        if store:
            self._insert(fresh)

    def _without_duplicates(self, rows: list[_Row]) -> list[_Row]:
        candidates = []
        for row in rows:
            if row.key in self.seen:
                self.duplicates += 1
                continue
            self.seen.add(row.key)
            candidates.append(row)
        if not candidates:
            return []
        r = _REPORT.c
        codes = [row.key[1] for row in candidates if row.key[0] == "code"]
        refs = [row.key[2] for row in candidates if row.key[0] == "ref"]
        own_refs = [
            (row.report["source"], row.report["source_ref"])
            for row in candidates
            if row.own and row.report["source_ref"]
        ]
        existing_codes: set[str] = set()
        existing_refs: set[tuple[str, str]] = set()
        conn = self.session.connection()
        if codes or refs:
            # A foreign id equal to one of our codes is our own report coming back.
            lookup = codes + refs
            found = conn.execute(sa.select(r.code).where(r.code.in_(lookup))).scalars()
            existing_codes = set(found)
        sources = {self.ctx.source} | {s for s, _ in own_refs}
        ref_values = refs + [ref for _, ref in own_refs]
        if ref_values:
            existing_refs = {
                (s, ref)
                for s, ref in conn.execute(
                    sa.select(r.source, r.source_ref).where(
                        r.source.in_(sorted(sources)), r.source_ref.in_(ref_values)
                    )
                )
            }
        fresh = []
        for row in candidates:
            if row.own:
                dup = row.key[1] in existing_codes or (
                    (row.report["source"], row.report["source_ref"]) in existing_refs
                )
            else:
                dup = (row.key[1], row.key[2]) in existing_refs or row.key[2] in existing_codes
            if dup:
                self.duplicates += 1
            else:
                fresh.append(row)
        return fresh

    def _route(self, rows: list[_Row]) -> None:
        """Route like `services.create_report`, one vectorised call per boundary layer."""
        ctx = self.ctx
        located = [r for r in rows if r.report["lat"] is not None]
        router = ctx.get_router() if located else None
        groups: dict[int, list[_Row]] = {}
        days: dict[int, Any] = {}
        for row in located:
            assert router is not None
            day = row.report["submitted_at"].astimezone(HANOI_TZ).date()
            try:
                layer = router.layer_for(day)
            except (LookupError, ValueError):
                row.report["routing_flag"] = RoutingFlag.OUTSIDE_HANOI.value
                continue
            groups.setdefault(id(layer), []).append(row)
            days.setdefault(id(layer), day)
        for layer_id, group in groups.items():
            assert router is not None
            results = router.route_many(
                [(g.report["lat"], g.report["lon"]) for g in group], days[layer_id]
            )
            for row, result in zip(group, results, strict=True):
                row.report["_route"] = result
        for row in rows:
            self._target(row)

    def _target(self, row: _Row) -> None:
        ctx = self.ctx
        rep = row.report
        target: int | None = None
        flag: RoutingFlag | None = None
        result = rep.pop("_route", None)
        if rep["lat"] is None:
            flag = RoutingFlag.NO_LOCATION
        elif result is None or result.unit_code is None:
            flag = RoutingFlag.OUTSIDE_HANOI
        else:
            unit_kind = UnitKind(layout_by_id(result.layout).unit_kind)
            target = ctx.unit_id(result.unit_code, (unit_kind,))
            if unit_kind is UnitKind.COMMUNE:
                rep["ward_id"] = target
            else:
                rep["district_id"] = target
                if result.ward_code:
                    rep["ward_id"] = ctx.unit_id(result.ward_code, (UnitKind.WARD,))
        category_code = rep.pop("_category_code")
        expected = rep.pop("_expected")
        _, kind, default_unit = ctx.categories[category_code]
        if default_unit:
            target = ctx.unit_id(default_unit, tuple(HANDLING_UNIT_KINDS))
            flag = None
        elif kind == Kind.PROCEDURE.value:
            target, flag = None, RoutingFlag.CITY_LEVEL
        rep["routing_flag"] = flag.value if flag else None
        at = row.import_at
        assert at is not None
        events: list[dict[str, Any]] = []
        if row.closed:
            rep["current_unit_id"] = target or ctx.city_office_id
            events.append(
                self._import_event(row, Status.PUBLISHED, rep["current_unit_id"], at, rep)
            )
        else:
            events.append(self._import_event(row, Status.RECEIVED, ctx.city_office_id, at, rep))
            if target is not None:
                self._routed(row, target, category_code, expected, events)
        rep["version"] = len(events)
        rep["_events"] = events

    def _import_event(
        self, row: _Row, status: Status, unit_id: int, at: datetime, rep: dict[str, Any]
    ) -> dict[str, Any]:
        ctx = self.ctx
        event = EventRecord(
            action=Action.IMPORT,
            at=at,
            actor_id=ctx.importer_id,
            actor_role=ctx.importer_role,
            from_status=None,
            to_status=status,
            from_unit_id=None,
            to_unit_id=unit_id,
            assignee_id=None,
            priority=Priority(rep["priority"]),
            due_at=None,
            seq=1,
            result_text=rep["result_text"],
            is_public=rep["is_public"] if status is Status.PUBLISHED else None,
        )
        return _event_dict(event, ctx, row.number)

    def _routed(
        self,
        row: _Row,
        target: int,
        category_code: str,
        expected: datetime | None,
        events: list[dict[str, Any]],
    ) -> None:
        """The workflow's own `route` step (same deadlines, same checks)."""
        ctx = self.ctx
        rep = row.report
        at = rep["submitted_at"]
        state = ReportState(
            status=Status.RECEIVED,
            kind=rep["kind"],
            category_code=category_code,
            received_at=rep["received_at"],
            current_unit_id=ctx.city_office_id,
        )
        try:
            new, event = plan(
                state,
                Action.ROUTE,
                ctx.system,
                ActionParams(to_unit_id=target),
                at,
                ctx.lookups,
                ctx.deadlines,
            )
        except Exception:  # a unit not valid on that day: it stays with the dispatcher
            rep["routing_flag"] = RoutingFlag.OUTSIDE_HANOI.value
            return
        if expected is not None:
            new = _replace_due(new, expected)
            event = _replace_event_due(event, expected)
        rep.update(
            status=new.status.value,
            current_unit_id=new.current_unit_id,
            arrived_at=new.arrived_at,
            receipt_due_at=new.receipt_due_at,
            due_at=new.due_at,
        )
        route = event_values(0, event)
        route["source_file"] = None
        route["source_row"] = None
        events.append(route)

    def _assign_codes(self, rows: list[_Row]) -> None:
        """Stable codes: the token is derived from the source id, so a re-import
        computes the same code; a clash (rare: 32^5 tokens a day) takes the next salt."""
        proposals: dict[int, str] = {}
        for i, row in enumerate(rows):
            proposals[i] = self._code(row, 0)
        taken = set(
            self.session.connection()
            .execute(sa.select(_REPORT.c.code).where(_REPORT.c.code.in_(list(proposals.values()))))
            .scalars()
        )
        for i, row in enumerate(rows):
            code = proposals[i]
            salt = 0
            while code in taken or code in self.codes:
                salt += 1
                code = self._code(row, salt)
                if salt > 3:
                    exists = (
                        self.session.connection()
                        .execute(sa.select(_REPORT.c.code).where(_REPORT.c.code == code))
                        .first()
                    )
                    if exists:
                        taken.add(code)
            self.codes.add(code)
            row.report["code"] = code

    def _code(self, row: _Row, salt: int) -> str:
        seed = f"{self.ctx.source}\x00{row.code_hint}\x00{salt}".encode()
        digest = hashlib.sha256(seed).digest()
        token = "".join(CODE_ALPHABET[b % len(CODE_ALPHABET)] for b in digest[:5])
        return new_report_code(row.report["submitted_at"], token)

    def _insert(self, rows: list[_Row]) -> None:
        reports = []
        for row in rows:
            rep = {k: v for k, v in row.report.items() if not k.startswith("_")}
            rep["search_text"] = search_text_of(
                rep["code"], rep["title"], rep["description"], rep["address"]
            )
            reports.append(rep)
        conn = self.session.connection()
        # A plain executemany, then the ids by code (unique): one round trip each way.
        # (INSERT ... RETURNING with sort_by_parameter_order ran row by row on SQLite.)
        _bulk_insert(conn, _REPORT, reports)
        codes = [rep["code"] for rep in reports]
        found = conn.execute(
            sa.select(_REPORT.c.code, _REPORT.c.id).where(_REPORT.c.code.in_(codes))
        )
        id_of: dict[str, int] = {code: report_id for code, report_id in found}
        ids = [id_of[code] for code in codes]
        events: list[dict[str, Any]] = []
        for row, report_id in zip(rows, ids, strict=True):
            row_events = (
                [*row.history, row.event]
                if row.own and row.event
                else row.report.get("_events", [])
            )
            for seq, event in enumerate(row_events, start=1):
                assert event is not None
                events.append({**event, "report_id": report_id, "seq": seq})
        _bulk_insert(conn, _EVENT, events)


def _bulk_insert(conn: Connection, table: sa.Table, rows: list[dict[str, Any]]) -> None:
    """One executemany of `rows` (all with the same keys).

    On SQLite the values are converted here and handed to the driver as tuples:
    SQLAlchemy's per-row parameter handling and its generic date-time formatter cost
    more CPU than SQLite's inserts themselves (about a third of a 100,000-record import).
    The text written is exactly SQLAlchemy's (`UTCDateTime`: naive UTC,
    "YYYY-MM-DD HH:MM:SS.ffffff"), so the two paths store the same values.
    """
    if not rows:
        return
    keys = list(rows[0])
    defaulted = {c.name for c in table.c if c.default is not None or c.server_default is not None}
    if conn.dialect.name != "sqlite" or not defaulted <= set(keys):
        conn.execute(sa.insert(table), rows)
        return
    quote = conn.dialect.identifier_preparer.quote
    converters = [_sqlite_converter(table.c[k].type, conn.dialect) for k in keys]
    sql = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(k) for k in keys)}) "
        f"VALUES ({', '.join('?' * len(keys))})"
    )
    pairs = list(zip(keys, converters, strict=True))
    conn.exec_driver_sql(sql, [tuple(c(row[k]) if c else row[k] for k, c in pairs) for row in rows])


def _sqlite_converter(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    if isinstance(column_type, UTCDateTime):
        return _sqlite_utc_text
    processor: Callable[[Any], Any] | None = column_type._cached_bind_processor(dialect)
    return processor


def _sqlite_utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware (UTC) datetime")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _replace_due(state: ReportState, due: datetime) -> ReportState:
    return replace(state, due_at=due)


def _replace_event_due(event: EventRecord, due: datetime) -> EventRecord:
    return replace(event, due_at=due)


# ----------------------------------------------------------------- entry points


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def import_file(
    path: Path,
    *,
    fmt: str | None = None,
    source: str | None = None,
    mapping: Path | None = None,
    dry_run: bool = False,
    accept_partial: bool = False,
    actor_id: int | None = None,
    engine: Engine | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    encoding: str | None = None,
) -> ImportResult:
    """Import `path`; see the module docstring. Raises `BadFileError` when the file as
    a whole cannot be read (nothing is written then either)."""
    path = Path(path)
    rules = default_rules()
    engine = engine or get_engine()
    service_mapping = load_mapping(mapping)
    info, records = open_records(path, fmt=fmt, encoding=encoding, rules=rules)
    started = utcnow()
    sha = _sha256(path)
    source_name = (source or "import").strip()[:64] or "import"
    errors: list[RowError] = []
    rejected_records = 0
    total = 0
    with Session(engine, expire_on_commit=False) as session:
        try:
            ctx = _load_context(
                session,
                rules=rules,
                mapping=service_mapping,
                source=source_name,
                source_file=path.name,
                actor_id=actor_id,
            )
            writer = _Writer(session, ctx)
            batch: list[_Row] = []
            for raw in records:
                total += 1
                row, row_errors = check_record(raw, ctx)
                if row_errors:
                    rejected_records += 1
                    room = MAX_KEPT_ERRORS - len(errors)
                    errors.extend(row_errors[: max(room, 0)])
                elif row is not None:
                    batch.append(row)
                if len(batch) >= BATCH_ROWS:
                    # Once a bad row is known and partial imports are not accepted,
                    # nothing will be kept: stop writing, keep checking.
                    writer.write(batch, store=accept_partial or not rejected_records)
                    batch = []
                    if progress:
                        progress(total, None)
            writer.write(batch, store=accept_partial or not rejected_records)
            if progress:
                progress(total, total)
            keep = not dry_run and (accept_partial or not rejected_records)
            written = keep and writer.imported > 0
            outcome = (
                "dry_run"
                if dry_run
                else "rejected"
                if not keep
                else "partial"
                if rejected_records
                else "imported"
            )
            if not keep:
                session.rollback()
            batch_row = ImportBatch(
                source=source_name,
                filename=path.name[-300:],
                format=info.format,
                sha256=sha,
                started_at=started,
                finished_at=utcnow(),
                actor_id=actor_id,
                total_rows=total,
                imported=writer.imported if keep else 0,
                duplicates=writer.duplicates,
                rejected=rejected_records,
                dry_run=dry_run,
                outcome=outcome,
                errors_json=json.dumps(
                    [[e.record, e.field, e.code, e.detail] for e in errors[:1000]],
                    ensure_ascii=False,
                )
                if errors
                else None,
            )
            session.add(batch_row)
            session.commit()
        except BaseException:
            session.rollback()
            raise
    return ImportResult(
        format=info.format,
        total=total,
        imported=writer.imported,
        duplicates=writer.duplicates,
        rejected=errors,
        written=written,
        dry_run=dry_run,
        unmapped_services=dict(sorted(ctx.unmapped.items(), key=lambda kv: (-kv[1], kv[0]))),
        batch_id=batch_row.id,
        encoding=info.encoding,
        delimiter=info.delimiter,
        warnings=tuple(sorted(set(info.warnings) | ctx.warnings)),
        rejected_records=rejected_records,
    )


def preview_file(
    path: Path, *, fmt: str | None = None, rows: int = 10, encoding: str | None = None
) -> Preview:
    """The first rows as read (no database), with what was detected about the file."""
    info: SourceInfo
    info, records = open_records(Path(path), fmt=fmt, encoding=encoding)
    shown: list[dict[str, Any]] = []
    errors: list[RowError] = []
    try:
        for raw in _first(records, rows):
            shown.append({**raw.values, **raw.extra})
            errors.extend(raw.errors)
    finally:
        close = getattr(records, "close", None)
        if close:
            close()
    return Preview(
        format=info.format,
        encoding=info.encoding,
        delimiter=info.delimiter,
        headers=info.headers or sorted({k for r in shown for k in r}),
        rows=shown,
        errors=errors,
        warnings=list(info.warnings),
    )


def _first(records: Iterator[RawRecord], n: int) -> Iterator[RawRecord]:
    for i, raw in enumerate(records):
        if i >= n:
            return
        yield raw


# ----------------------------------------------------------------- messages


def _messages() -> dict[str, dict[str, str]]:
    data = read_yaml(reference_path(MESSAGES_FILE))
    return {str(k): {str(lang): str(t) for lang, t in v.items()} for k, v in data.items()}


def message(code: str, lang: str, detail: str = "") -> str:
    """One code in the user's language (unknown codes fall back to the code itself)."""
    texts = _messages().get(code.split(":", 1)[0], {})
    text = texts.get(lang) or texts.get("en") or code
    extra = code.split(":", 1)[1] if ":" in code else detail
    if "{detail}" in text:
        return text.format(detail=extra)
    return f"{text}: {extra}" if extra else text


def hint(code: str, lang: str, catalogue: dict[str, dict[str, str]] | None = None) -> str | None:
    """What the user can do about `code` (its `<code>_hint` entry), or None."""
    texts = (catalogue or _messages()).get(f"{code.split(':', 1)[0]}_hint", {})
    return texts.get(lang) or texts.get("en") or None


def error_messages(errors: Iterable[RowError], lang: str) -> list[str]:
    """One line per bad record field: record, field, reason, value, in `lang` (vi or
    en), then what to do about it where the catalogue has a `<code>_hint`."""
    catalogue = _messages()
    record_word = catalogue.get("_record", {}).get(lang, "record")
    out = []
    for e in errors:
        texts = catalogue.get(e.code, {})
        reason = texts.get(lang) or texts.get("en") or e.code
        where = f"{record_word} {e.record}"
        name = f" [{e.field}]" if e.field else ""
        detail = f" ({e.detail})" if e.detail else ""
        advice = hint(e.code, lang, catalogue)
        out.append(f"{where}{name}: {reason}{detail}{f' — {advice}' if advice else ''}")
    return out
