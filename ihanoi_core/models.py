"""The tables, one model family per entity (Base → table model, Create, Public).

Status, kind, priority, role and rating are plain strings with CHECK constraints;
the history (`ReportEvent`) has typed columns and is append-only (enforced by
database triggers created in the migrations).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Column,
    Index,
    Integer,
    LargeBinary,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from ihanoi_core.db import UTCDateTime
from ihanoi_core.vocab import (
    AttachmentKind,
    Kind,
    Priority,
    Rating,
    Role,
    RoutingFlag,
    Status,
    TemplateKind,
    UnitKind,
    check_in,
)


def _ts(nullable: bool = True, index: bool = False) -> Column[datetime]:
    return Column(UTCDateTime(), nullable=nullable, index=index)


# --------------------------------------------------------------------- units


class UnitBase(SQLModel):
    code: str = Field(max_length=32)
    kind: str = Field(max_length=16)
    level: str | None = Field(default=None, max_length=16)
    name: str = Field(max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    valid_from: date | None = None
    valid_to: date | None = None
    lat: float | None = None
    lon: float | None = None


class Unit(UnitBase, table=True):
    """A unit: the city office, a department, a district/ward (2024) or a commune (2025)."""

    __tablename__ = "unit"
    __table_args__ = (
        UniqueConstraint("kind", "code", name="uq_unit_kind_code"),
        CheckConstraint(check_in("kind", UnitKind), name="ck_unit_kind"),
    )
    id: int | None = Field(default=None, primary_key=True)
    parent_id: int | None = Field(default=None, foreign_key="unit.id", index=True)


class UnitPublic(UnitBase):
    id: int
    parent_id: int | None


# ---------------------------------------------------------------- categories


class Category(SQLModel, table=True):
    """Two-level category tree; `default_unit_code` is the category's routing rule."""

    __tablename__ = "category"
    __table_args__ = (CheckConstraint(check_in("kind", Kind), name="ck_category_kind"),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    parent_id: int | None = Field(default=None, foreign_key="category.id")
    kind: str = Field(max_length=16)
    name_vi: str = Field(max_length=200)
    name_en: str = Field(max_length=200)
    default_unit_code: str | None = Field(default=None, max_length=32)
    sort_order: int = 0
    active: bool = True


# --------------------------------------------------------------------- users


class UserBase(SQLModel):
    username: str = Field(max_length=64)
    full_name: str = Field(max_length=200)
    role: str = Field(max_length=16)
    unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    active: bool = True
    language: str = Field(default="vi", max_length=8)


class User(UserBase, table=True):
    __tablename__ = "app_user"
    __table_args__ = (
        UniqueConstraint("username", name="uq_user_username"),
        CheckConstraint(check_in("role", Role), name="ck_user_role"),
    )
    id: int | None = Field(default=None, primary_key=True)
    password_hash: str = Field(default="", max_length=128)
    failed_logins: int = 0
    locked_until: datetime | None = Field(default=None, sa_column=_ts())
    session_version: int = 1
    created_at: datetime = Field(sa_column=_ts(nullable=False))


class UserCreate(SQLModel):
    username: str
    full_name: str
    role: str
    unit_code: str | None = None
    password: str


class UserPublic(UserBase):
    id: int


# ------------------------------------------------------------------- reports


class ReportBase(SQLModel):
    """What a citizen (or an import) provides; nothing workflow-related."""

    kind: str = Field(max_length=16)
    title: str = Field(max_length=300)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    address: str = Field(default="", max_length=500)
    lat: float | None = None
    lon: float | None = None


_report_version = Column("version", Integer, nullable=False)


class Report(ReportBase, table=True):
    """A citizen report; its status changes only through `workflow.apply`."""

    __tablename__ = "report"
    __table_args__ = (
        CheckConstraint(check_in("status", Status), name="ck_report_status"),
        CheckConstraint(check_in("kind", Kind), name="ck_report_kind"),
        CheckConstraint(check_in("priority", Priority), name="ck_report_priority"),
        CheckConstraint(check_in("rating", Rating, nullable=True), name="ck_report_rating"),
        CheckConstraint(
            check_in("routing_flag", RoutingFlag, nullable=True), name="ck_report_routing_flag"
        ),
        UniqueConstraint("source", "source_ref", name="uq_report_source_ref"),
        Index("ix_report_status_unit", "status", "current_unit_id"),
        Index("ix_report_submitted", "submitted_at"),
        Index("ix_report_received", "received_at"),
        Index("ix_report_due", "due_at"),
    )
    __mapper_args__ = {"version_id_col": _report_version}

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    category_id: int = Field(foreign_key="category.id", index=True)
    district_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    ward_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    submitted_at: datetime = Field(sa_column=_ts(nullable=False))
    received_at: datetime = Field(sa_column=_ts(nullable=False))
    arrived_at: datetime | None = Field(default=None, sa_column=_ts())  # at the current unit
    receipt_due_at: datetime | None = Field(default=None, sa_column=_ts())
    due_at: datetime | None = Field(default=None, sa_column=_ts())
    finished_at: datetime | None = Field(default=None, sa_column=_ts())
    status: str = Field(max_length=16)
    priority: str = Field(default=Priority.NORMAL.value, max_length=16)
    current_unit_id: int | None = Field(default=None, foreign_key="unit.id", index=True)
    assignee_id: int | None = Field(default=None, foreign_key="app_user.id", index=True)
    result_text: str | None = Field(default=None, sa_column=Column(Text))
    is_public: bool = False
    rating: str | None = Field(default=None, max_length=16)
    rated_at: datetime | None = Field(default=None, sa_column=_ts())
    bounce_count: int = 0
    routing_flag: str | None = Field(default=None, max_length=16)
    source: str = Field(default="app", max_length=64)
    source_ref: str | None = Field(default=None, max_length=200)
    media_url: str | None = Field(default=None, max_length=1000)  # Open311 media_url
    # Fields an imported record carried that we have no column for (JSON object), kept
    # so that nothing a source system sent is lost.
    extra_json: str | None = Field(default=None, sa_column=Column(Text))
    search_text: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    updated_at: datetime = Field(sa_column=_ts(nullable=False))
    version: int = Field(default=1, sa_column=_report_version)


class ReportCreate(ReportBase):
    """A new report as it arrives from the app or an import."""

    category_code: str
    submitted_at: datetime
    source: str = "app"
    source_ref: str | None = None


class ReportPublic(ReportBase):
    id: int
    code: str
    status: str
    priority: str
    submitted_at: datetime
    due_at: datetime | None
    current_unit_id: int | None
    version: int


# ------------------------------------------------------------------- history


class ReportEvent(SQLModel, table=True):
    """One change of a report. Append-only: UPDATE and DELETE fail at the database."""

    __tablename__ = "report_event"
    __table_args__ = (
        UniqueConstraint("report_id", "seq", name="uq_event_report_seq"),
        CheckConstraint(check_in("to_status", Status), name="ck_event_to_status"),
        CheckConstraint(check_in("from_status", Status, nullable=True), name="ck_event_from"),
        Index("ix_event_at", "at"),
    )
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    seq: int  # the report's version after this event
    at: datetime = Field(sa_column=_ts(nullable=False))
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    actor_role: str = Field(max_length=16)
    action: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str = Field(max_length=16)
    from_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    to_unit_id: int | None = Field(default=None, foreign_key="unit.id")
    assignee_id: int | None = Field(default=None, foreign_key="app_user.id")
    priority: str | None = Field(default=None, max_length=16)
    due_at: datetime | None = Field(default=None, sa_column=_ts())
    reason: str | None = Field(default=None, sa_column=Column(Text))
    template_code: str | None = Field(default=None, max_length=64)
    result_text: str | None = Field(default=None, sa_column=Column(Text))
    rating: str | None = Field(default=None, max_length=16)
    is_public: bool | None = None
    source_file: str | None = Field(default=None, max_length=300)
    source_row: int | None = None


# --------------------------------------------------------------- attachments


class Attachment(SQLModel, table=True):
    """A citizen photo or a unit's evidence; stored in the database so a backup is whole."""

    __tablename__ = "attachment"
    __table_args__ = (CheckConstraint(check_in("kind", AttachmentKind), name="ck_attach_kind"),)
    id: int | None = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="report.id", index=True)
    event_id: int | None = Field(default=None, foreign_key="report_event.id")
    kind: str = Field(max_length=16)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size_bytes: int
    sha256: str = Field(max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    uploaded_at: datetime = Field(sa_column=_ts(nullable=False))
    uploaded_by: int | None = Field(default=None, foreign_key="app_user.id")


# ----------------------------------------------------------------- templates


class Template(SQLModel, table=True):
    """Refusal and response texts (mẫu từ chối / mẫu trả lời), per category where set."""

    __tablename__ = "template"
    __table_args__ = (CheckConstraint(check_in("kind", TemplateKind), name="ck_template_kind"),)
    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=64, unique=True)
    kind: str = Field(max_length=32)
    category_code: str | None = Field(default=None, max_length=64)
    title_vi: str = Field(max_length=200)
    title_en: str = Field(max_length=200)
    text_vi: str = Field(sa_column=Column(Text, nullable=False))
    text_en: str = Field(sa_column=Column(Text, nullable=False))
    active: bool = True


# ---------------------------------------------------------------- boundaries


class BoundaryFeature(SQLModel, table=True):
    """An official boundary loaded with `load-boundaries`; overrides the default data."""

    __tablename__ = "boundary_feature"
    id: int | None = Field(default=None, primary_key=True)
    layout: str = Field(max_length=8)
    level: str = Field(max_length=16)
    code: str = Field(max_length=32)
    name: str = Field(max_length=200)
    parent_code: str | None = Field(default=None, max_length=32)
    valid_from: date
    source: str = Field(max_length=300)
    geometry_geojson: str = Field(sa_column=Column(Text, nullable=False))
    loaded_at: datetime = Field(sa_column=_ts(nullable=False))


# ---------------------------------------------------------------- admin log


class AdminEvent(SQLModel, table=True):
    """Append-only log of changes to users and reference data (who, when, what, why)."""

    __tablename__ = "admin_event"
    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(sa_column=_ts(nullable=False))
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    entity: str = Field(max_length=32)
    entity_key: str = Field(max_length=100)
    action: str = Field(max_length=32)
    before: str | None = Field(default=None, sa_column=Column(Text))
    after: str | None = Field(default=None, sa_column=Column(Text))
    reason: str | None = Field(default=None, sa_column=Column(Text))


# ---------------------------------------------------------------- reference documents


class ReferenceDocument(SQLModel, table=True):
    """A reference document edited in the console (e.g. the deadline rules), stored as
    the same YAML text as its file in db/reference/ so file and database never disagree
    on format. The file is the default; a row here overrides it. Every change is also an
    AdminEvent with the text before and after."""

    __tablename__ = "reference_document"
    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64, unique=True)
    content: str = Field(sa_column=Column(Text, nullable=False))
    version: int = 1
    updated_at: datetime = Field(sa_column=_ts(nullable=False))
    updated_by: int | None = Field(default=None, foreign_key="app_user.id")


# ---------------------------------------------------------------- frozen report copies


class ReportSnapshot(SQLModel, table=True):
    """A frozen copy of an exported review report (the file and its figures), kept so a
    later meeting can compare against exactly what was shown. Never updated."""

    __tablename__ = "report_snapshot"
    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=32)  # "weekly"
    period_key: str = Field(max_length=32, index=True)  # e.g. "2024-W32"
    format: str = Field(max_length=8)  # "xlsx" | "pdf"
    filename: str = Field(max_length=255)
    created_at: datetime = Field(sa_column=_ts(nullable=False))
    created_by: int | None = Field(default=None, foreign_key="app_user.id")
    sha256: str = Field(max_length=64)
    figures_json: str = Field(sa_column=Column(Text, nullable=False))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


# ---------------------------------------------------------------- imports


class ImportBatch(SQLModel, table=True):
    """One import of a file: who, when, what it held and what became of its rows."""

    __tablename__ = "import_batch"
    id: int | None = Field(default=None, primary_key=True)
    source: str = Field(max_length=64)
    filename: str = Field(max_length=300)
    format: str = Field(max_length=16)
    sha256: str = Field(max_length=64)
    started_at: datetime = Field(sa_column=_ts(nullable=False))
    finished_at: datetime | None = Field(default=None, sa_column=_ts())
    actor_id: int | None = Field(default=None, foreign_key="app_user.id")
    total_rows: int = 0
    imported: int = 0
    duplicates: int = 0
    rejected: int = 0
    dry_run: bool = False
    outcome: str = Field(max_length=16)  # "imported" | "partial" | "rejected" | "dry_run"
    errors_json: str | None = Field(default=None, sa_column=Column(Text))
