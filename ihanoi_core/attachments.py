"""Evidence uploads: what a unit may attach to its answer, checked before it is stored.

A file's type is decided by its first bytes, never by its name or by what the browser
claims: the name is typed by a person (or a phone) and the declared type is whatever
the client says. The citizen sees these files, so a script renamed `.png` must never be
stored as an image. Limits (size, count, types) are data in
`db/reference/uploads.yaml`.

The bytes go into the database with the report (`Attachment.data`), so a backup is
whole; each file is linked to the event that produced it, which is how the timeline
shows "draft, with 2 photos".
"""

from __future__ import annotations

import hashlib
import io
import re
import unicodedata
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Final

import yaml
from PIL import Image
from sqlmodel import Session

from ihanoi_core.config import reference_path
from ihanoi_core.errors import NotFound, ValidationError
from ihanoi_core.models import Attachment, Report, ReportEvent
from ihanoi_core.vocab import AttachmentKind
from ihanoi_core.workflow import Actor

UPLOADS_FILE: Final = "uploads.yaml"
MAX_FILENAME_CHARS: Final = 120  # the column holds 255; long names only hurt on screen
DEFAULT_STEM: Final = "tep_dinh_kem"


def _is_jpeg(data: bytes) -> bool:
    return data[:3] == b"\xff\xd8\xff"


def _is_png(data: bytes) -> bool:
    return data[:8] == b"\x89PNG\r\n\x1a\n"


def _is_webp(data: bytes) -> bool:
    return data[:4] == b"RIFF" and data[8:12] == b"WEBP"


def _is_pdf(data: bytes) -> bool:
    # The PDF header must open the file here: readers tolerate junk before it, which
    # is exactly how polyglot files (valid as two formats at once) are made.
    return data[:5] == b"%PDF-"


@dataclass(frozen=True)
class FileType:
    content_type: str
    extension: str  # the canonical one, with its dot
    other_extensions: tuple[str, ...]
    matches: Callable[[bytes], bool]


KNOWN_TYPES: Final[tuple[FileType, ...]] = (
    FileType("image/jpeg", ".jpg", (".jpeg", ".jpe"), _is_jpeg),
    FileType("image/png", ".png", (), _is_png),
    FileType("image/webp", ".webp", (), _is_webp),
    FileType("application/pdf", ".pdf", (), _is_pdf),
)
_BY_CONTENT_TYPE: Final = {t.content_type: t for t in KNOWN_TYPES}


class UploadProblem(StrEnum):
    """Why a file was refused: the UI says each in the user's language."""

    EMPTY = "empty"
    TOO_LARGE = "too_large"
    TYPE_NOT_ALLOWED = "type_not_allowed"
    DAMAGED = "damaged"  # right signature, but the picture does not decode
    TOO_MANY = "too_many"


class AttachmentRejected(ValidationError):
    """A file that may not be attached; nothing of the action is saved."""

    def __init__(self, filename: str, problem: UploadProblem, limit: int | None = None) -> None:
        super().__init__("attachment", f"{filename}: {problem.value}")
        self.filename = filename
        self.problem = problem
        self.limit = limit


@dataclass(frozen=True)
class UploadRules:
    max_bytes: int
    max_files: int
    allowed_types: frozenset[str]


@lru_cache(maxsize=4)
def load_upload_rules(path: Path | None = None) -> UploadRules:
    """The limits from `uploads.yaml`; a bad file fails loudly at the first upload."""
    file = path if path is not None else reference_path(UPLOADS_FILE)
    try:
        raw = yaml.safe_load(file.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ValidationError(str(file), f"cannot read upload rules: {exc}") from exc
    if not isinstance(raw, dict):
        raise ValidationError(str(file), "expected a mapping")
    max_bytes, max_files = raw.get("max_bytes"), raw.get("max_files")
    for name, value in (("max_bytes", max_bytes), ("max_files", max_files)):
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValidationError(f"{file.name}: {name}", f"a positive integer, got {value!r}")
    types = raw.get("allowed_types")
    if not isinstance(types, list) or not types:
        raise ValidationError(f"{file.name}: allowed_types", "a non-empty list")
    unknown = sorted(str(t) for t in types if t not in _BY_CONTENT_TYPE)
    if unknown:
        raise ValidationError(
            f"{file.name}: allowed_types",
            f"no signature known for {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_BY_CONTENT_TYPE))})",
        )
    assert isinstance(max_bytes, int) and isinstance(max_files, int)
    return UploadRules(max_bytes, max_files, frozenset(str(t) for t in types))


def sniff_type(data: bytes) -> FileType | None:
    """The known type whose signature opens `data`, or None."""
    for file_type in KNOWN_TYPES:
        if file_type.matches(data):
            return file_type
    return None


def sanitize_filename(name: str, file_type: FileType) -> str:
    """A safe display name: no path, no control or direction characters, the type's
    extension (a PDF named `.jpg` becomes `.pdf`, so a download opens in the right
    program). Vietnamese letters are kept: officers name files in Vietnamese."""
    base = re.split(r"[\\/]", name)[-1]
    base = unicodedata.normalize("NFC", base)
    base = "".join(ch for ch in base if not unicodedata.category(ch).startswith("C"))
    stem, dot, ext = base.rpartition(".")
    if not dot:
        stem, ext = base, ""
    stem = re.sub(r"[^\w\- ()]+", "_", stem)
    stem = re.sub(r"\s+", " ", stem).strip(" ._-") or DEFAULT_STEM
    ext = "." + ext.lower()
    if ext != file_type.extension and ext not in file_type.other_extensions:
        ext = file_type.extension
    return stem[: MAX_FILENAME_CHARS - len(ext)].rstrip(" ._-") + ext


def image_decodes(data: bytes) -> bool:
    """Whether an image's structure is sound (Pillow reads it without decoding pixels).

    A right signature is not enough: a truncated upload or a file with a PNG header
    glued on front would be stored, then fail in every browser (and crash the page
    that draws it). Oversized "decompression bomb" dimensions are refused too.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                image.verify()
    except Exception:  # Pillow raises many types for bad input; all mean "refuse"
        return False
    return True


@dataclass(frozen=True)
class NewAttachment:
    """A checked upload, ready to store. Build it with `read_upload`."""

    filename: str
    content_type: str
    data: bytes
    sha256: str

    @property
    def size_bytes(self) -> int:
        return len(self.data)


def read_upload(filename: str, data: bytes, rules: UploadRules | None = None) -> NewAttachment:
    """Check one uploaded file (type by its bytes, size) and name it safely."""
    rules = rules or load_upload_rules()
    shown = filename.strip() or DEFAULT_STEM
    if not data:
        raise AttachmentRejected(shown, UploadProblem.EMPTY)
    if len(data) > rules.max_bytes:
        raise AttachmentRejected(shown, UploadProblem.TOO_LARGE, rules.max_bytes)
    file_type = sniff_type(data)
    if file_type is None or file_type.content_type not in rules.allowed_types:
        raise AttachmentRejected(shown, UploadProblem.TYPE_NOT_ALLOWED)
    if file_type.content_type.startswith("image/") and not image_decodes(data):
        raise AttachmentRejected(shown, UploadProblem.DAMAGED)
    return NewAttachment(
        filename=sanitize_filename(filename, file_type),
        content_type=file_type.content_type,
        data=data,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def read_uploads(
    files: Sequence[tuple[str, bytes]], rules: UploadRules | None = None
) -> list[NewAttachment]:
    """Check a batch (count, then each file); the first bad file refuses the batch."""
    rules = rules or load_upload_rules()
    if len(files) > rules.max_files:
        raise AttachmentRejected(f"{len(files)}", UploadProblem.TOO_MANY, rules.max_files)
    return [read_upload(name, data, rules) for name, data in files]


def _recheck(file: NewAttachment, rules: UploadRules) -> NewAttachment:
    """`NewAttachment` is a plain dataclass: re-check what it claims before storing."""
    checked = read_upload(file.filename, file.data, rules)
    if checked.content_type != file.content_type:
        raise AttachmentRejected(file.filename, UploadProblem.TYPE_NOT_ALLOWED)
    return checked


def add_attachments(
    session: Session,
    report_id: int,
    event_id: int,
    files: Sequence[NewAttachment],
    actor: Actor,
    now: datetime,
    *,
    kind: AttachmentKind = AttachmentKind.EVIDENCE,
    rules: UploadRules | None = None,
) -> list[int]:
    """Store `files` on the report, linked to the event that produced them; their ids.

    The caller has already run the action (`casework.perform_action`); this only adds
    rows in the caller's transaction, so a refused file undoes the action too.
    """
    rules = rules or load_upload_rules()
    if not files:
        return []
    if len(files) > rules.max_files:
        raise AttachmentRejected(f"{len(files)}", UploadProblem.TOO_MANY, rules.max_files)
    if session.get(Report, report_id) is None:
        raise NotFound("report", report_id)
    event = session.get(ReportEvent, event_id)
    if event is None or event.report_id != report_id:
        raise ValidationError("event", "the event does not belong to this report")
    rows = []
    for unchecked in files:
        file = _recheck(unchecked, rules)
        row = Attachment(
            report_id=report_id,
            event_id=event_id,
            kind=AttachmentKind(kind).value,
            filename=file.filename,
            content_type=file.content_type,
            size_bytes=file.size_bytes,
            sha256=file.sha256,
            data=file.data,
            uploaded_at=now,
            uploaded_by=actor.user_id,
        )
        session.add(row)
        rows.append(row)
    session.flush()
    return [row.id for row in rows if row.id is not None]
