"""Nhập/xuất dữ liệu: import reports from Open311/CSV/Excel files (preview, dry run, error
report, then import, the good rows only if the user accepts), and export the reports of
a filter in each format. The core decides everything; this page collects choices and
shows results. Text from files is shown through widgets that never render HTML."""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Callable
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from ihanoi_core import db
from ihanoi_core.cases import filter_options
from ihanoi_core.config import HANOI_TZ
from ihanoi_core.interchange import fields as F
from ihanoi_core.interchange.exporter import (
    MIME_TYPES,
    count_reports,
    export_filename,
    export_reports,
)
from ihanoi_core.interchange.importer import (
    ImportResult,
    hint,
    import_file,
    message,
    preview_file,
)
from ihanoi_core.interchange.problems import BadFileError, RowError
from ihanoi_core.interchange.rules import default_rules
from ihanoi_core.interchange.writers import table_csv
from ihanoi_core.queries import ReportFilter
from ihanoi_core.vocab import Bucket, Kind
from ihanoi_ui.auth import require_role
from ihanoi_ui.components.case_table import distinct_labels
from ihanoi_ui.i18n import current_lang, fmt_int, label, t
from ihanoi_ui.navigation import page_roles
from ihanoi_ui.resources import engine, session_scope

user = require_role(*page_roles("interchange"))

UPLOAD_KEY = "interchange_upload"
FORMAT_KEY = "interchange_format"
MAPPING_KEY = "interchange_mapping_upload"
ACCEPT_KEY = "interchange_accept_partial"
DRY_RUN_BUTTON = "interchange_dry_run_button"
IMPORT_BUTTON = "interchange_import_button"
# (upload file_id, folder holding the file on disk): the importer streams from a path
FILE_KEY = "interchange_file"
# (upload file_id, chosen format, ImportResult) of the last dry run
DRY_KEY = "interchange_dry_result"
# (file name, ImportResult) of the last import, shown until another file is chosen
DONE_KEY = "interchange_done"
EXPORT_KEYS = {
    name: f"interchange_x_{name}"
    for name in ("from", "to", "kind", "bucket", "unit", "district", "category", "headers")
}
UPLOAD_TYPES = ["json", "xml", "csv", "xlsx", "txt"]
PREVIEW_ROWS = 10
ERRORS_SHOWN = 500
SAFE_NAME = re.compile(r"[^\w.\- ()]+")

lang = current_lang()
rules = default_rules()
st.title(t("page.interchange"))
st.caption(t("interchange.caption"))


# ----------------------------------------------------------------- the upload


def forget_upload() -> None:
    """Delete the copy on disk; the dry run belonged to that file."""
    held = st.session_state.pop(FILE_KEY, None)
    if held:
        shutil.rmtree(held[1], ignore_errors=True)
    st.session_state.pop(DRY_KEY, None)


def stored_upload(upload: Any) -> Path:
    """The upload as a file on disk under its own name (the import's history names it),
    written once per upload and deleted when the upload changes or is removed."""
    held = st.session_state.get(FILE_KEY)
    name = SAFE_NAME.sub("_", Path(upload.name).name)[-200:] or "upload"
    if held and held[0] == upload.file_id and (Path(held[1]) / name).exists():
        return Path(held[1]) / name
    forget_upload()
    folder = tempfile.mkdtemp(prefix="ihanoi-import-")
    path = Path(folder) / name
    upload.seek(0)
    with path.open("wb") as fh:
        shutil.copyfileobj(upload, fh)
    st.session_state[FILE_KEY] = (upload.file_id, folder)
    return path


def stored_mapping(upload: Any, data_file: Path) -> Path | None:
    """The mapping YAML beside the data file (same folder, deleted with it)."""
    if upload is None:
        return None
    path = data_file.parent / "mapping.yaml"
    upload.seek(0)
    path.write_bytes(upload.read())
    return path


def reason(code: str) -> str:
    return message(code, lang)


def reason_with_hint(code: str) -> str:
    """The reason, then what the user can do about it where the catalogue says."""
    what_to_do = hint(code, lang)
    return f"{reason(code)} — {what_to_do}" if what_to_do else reason(code)


def field_name(field: str | None) -> str:
    if not field:
        return "—"
    return rules.vi_header(field) if lang == "vi" and field in F.KNOWN_FIELDS else field


def error_rows(errors: list[RowError]) -> list[list[Any]]:
    return [[e.record, field_name(e.field), reason_with_hint(e.code), e.detail] for e in errors]


def error_columns() -> list[str]:
    return [t(f"interchange.col.{c}") for c in ("record", "field", "reason", "detail")]


def show_bad_file(exc: BadFileError) -> None:
    text = reason(exc.code)
    if exc.detail:
        text = f"{text} — {exc.detail}"
    if exc.record is not None:
        st.error(t("interchange.bad_file_at", reason=text, record=fmt_int(exc.record)))
    else:
        st.error(t("interchange.bad_file", reason=text))


def progress_bar(bar: Any, total: int | None) -> Callable[[int, int | None], None]:
    """The importer's `progress(done, total)` fed to a bar (total known after a dry run)."""

    def update(done: int, known: int | None) -> None:
        whole = known or total
        if whole:
            bar.progress(
                min(done / whole, 1.0),
                text=t("interchange.running_of", n=fmt_int(done), total=fmt_int(whole)),
            )
        else:
            bar.progress(0.0, text=t("interchange.running", n=fmt_int(done)))

    return update


def run_import(
    path: Path,
    fmt: str | None,
    *,
    mapping: Path | None,
    dry_run: bool,
    accept: bool,
    total: int | None,
) -> ImportResult | None:
    bar = st.progress(0.0, text=t("interchange.running", n=fmt_int(0)))
    try:
        return import_file(
            path,
            fmt=fmt,
            mapping=mapping,
            dry_run=dry_run,
            accept_partial=accept,
            actor_id=user.user_id,
            engine=engine(),
            progress=progress_bar(bar, total),
        )
    except BadFileError as exc:
        show_bad_file(exc)
        return None
    finally:
        bar.empty()  # the result below says what happened


def show_result(result: ImportResult, *, dry_run: bool, file_name: str) -> None:
    st.subheader(t("interchange.dry_title" if dry_run else "interchange.done_title"))
    cols = st.columns(4)
    cols[0].metric(t("interchange.metric.total"), fmt_int(result.total))
    done_label = "interchange.metric.importable" if dry_run else "interchange.metric.imported"
    shown_imported = result.imported if (dry_run or result.written) else 0
    cols[1].metric(t(done_label), fmt_int(shown_imported))
    cols[2].metric(t("interchange.metric.duplicates"), fmt_int(result.duplicates))
    cols[3].metric(t("interchange.metric.rejected"), fmt_int(result.rejected_records))
    if result.unmapped_services:
        services = ", ".join(f"{k} ({fmt_int(v)})" for k, v in result.unmapped_services.items())
        n = sum(result.unmapped_services.values())
        st.caption(t("interchange.unmapped", n=fmt_int(n), services=services))
    for warning in result.warnings:
        st.warning(reason(warning))
    if result.rejected:
        st.markdown(f"**{t('interchange.errors_title')}**")
        frame = pd.DataFrame(error_rows(result.rejected[:ERRORS_SHOWN]), columns=error_columns())
        st.dataframe(frame, hide_index=True, width="stretch")
        if len(result.rejected) > ERRORS_SHOWN:
            st.caption(t("interchange.errors_capped", shown=fmt_int(ERRORS_SHOWN)))
        st.download_button(
            t("interchange.error_report"),
            data=table_csv(error_columns(), error_rows(result.rejected), rules.formula_prefixes),
            file_name=f"loi-nhap-{Path(file_name).stem}.csv",
            mime="text/csv",
            on_click="ignore",
            icon=":material/download:",
            key=f"interchange_errors_{'dry' if dry_run else 'done'}",
        )


def show_done(file_name: str, result: ImportResult) -> None:
    """The outcome of the last import, in one sentence, then its figures."""
    if result.written and result.rejected_records:
        st.success(
            t(
                "interchange.imported_partial",
                n=fmt_int(result.imported),
                file=file_name,
                rejected=fmt_int(result.rejected_records),
            )
        )
    elif result.written:
        st.success(t("interchange.imported", n=fmt_int(result.imported), file=file_name))
    elif result.rejected_records:
        st.error(t("interchange.rejected_all", rejected=fmt_int(result.rejected_records)))
    else:
        st.info(t("interchange.nothing_to_import"))
    show_result(result, dry_run=False, file_name=file_name)


def import_tab() -> None:
    upload = st.file_uploader(
        t("interchange.upload"),
        type=UPLOAD_TYPES,
        key=UPLOAD_KEY,
        help=t("interchange.upload_help"),
    )
    choice = st.selectbox(
        t("interchange.format_choice"),
        ["auto", *F.FORMATS],
        format_func=lambda v: t(f"interchange.format.{v}", lang),
        key=FORMAT_KEY,
    )
    mapping_upload = st.file_uploader(
        t("interchange.mapping_upload"),
        type=["yaml", "yml"],
        key=MAPPING_KEY,
        help=t("interchange.mapping_upload_help"),
    )
    done = st.session_state.get(DONE_KEY)
    if upload is None:
        forget_upload()
        if done:
            show_done(*done)
        else:
            st.info(t("interchange.upload_hint"))
        return
    if done and done[0] != upload.name:
        st.session_state.pop(DONE_KEY, None)
        done = None
    fmt = None if choice == "auto" else str(choice)
    path = stored_upload(upload)
    mapping = stored_mapping(mapping_upload, path)
    # a dry run holds for this file, this format and this mapping only
    choice_key = (choice, mapping_upload.file_id if mapping_upload is not None else None)
    try:
        preview = preview_file(path, fmt=fmt, rows=PREVIEW_ROWS)
    except BadFileError as exc:
        show_bad_file(exc)
        return
    st.caption(
        t(
            "interchange.detected",
            format=t(f"interchange.format.{preview.format}"),
            encoding=preview.encoding or "—",
            delimiter=preview.delimiter or "—",
        )
    )
    for warning in preview.warnings:
        st.warning(reason(warning))
    if preview.rows:
        st.markdown(f"**{t('interchange.preview_title', n=fmt_int(len(preview.rows)))}**")
        frame = pd.DataFrame(
            [
                {field_name(k): "" if v is None else str(v) for k, v in row.items()}
                for row in preview.rows
            ]
        )
        st.dataframe(frame, hide_index=True, width="stretch")
    else:
        st.info(t("interchange.preview_empty"))

    if st.button(
        t("interchange.dry_run"),
        key=DRY_RUN_BUTTON,
        help=t("interchange.dry_run_help"),
        icon=":material/fact_check:",
    ):
        result = run_import(path, fmt, mapping=mapping, dry_run=True, accept=False, total=None)
        if result is None:
            return
        st.session_state[DRY_KEY] = (upload.file_id, choice_key, result)
        st.session_state.pop(DONE_KEY, None)
        done = None

    if done:
        show_done(*done)
        return
    dry = st.session_state.get(DRY_KEY)
    if not dry or dry[0] != upload.file_id or dry[1] != choice_key:
        st.caption(t("interchange.import_needs_dry_run"))
        return
    dry_result: ImportResult = dry[2]
    show_result(dry_result, dry_run=True, file_name=upload.name)
    accept = False
    if dry_result.rejected_records:
        accept = st.checkbox(t("interchange.accept_partial"), key=ACCEPT_KEY)
    if not dry_result.imported:
        st.info(t("interchange.nothing_to_import"))
        return
    blocked = bool(dry_result.rejected_records) and not accept
    if blocked:
        st.caption(t("interchange.import_needs_accept"))
    if st.button(
        t("interchange.import"),
        key=IMPORT_BUTTON,
        type="primary",
        disabled=blocked,
        icon=":material/upload:",
    ):
        result = run_import(
            path, fmt, mapping=mapping, dry_run=False, accept=accept, total=dry_result.total
        )
        if result is None:
            return
        st.session_state[DONE_KEY] = (upload.name, result)
        st.session_state.pop(DRY_KEY, None)
        st.rerun()  # the page now shows the import's outcome, not the stale dry run


# ------------------------------------------------------------------ the export


def export_tab() -> None:
    st.caption(t("interchange.export_intro"))
    with session_scope() as session:
        options = filter_options(session)
    keys = EXPORT_KEYS
    c1, c2, c3 = st.columns(3)
    date_from: date | None = c1.date_input(
        t("interchange.f_from"), value=None, format="DD/MM/YYYY", key=keys["from"]
    )
    date_to: date | None = c2.date_input(
        t("interchange.f_to"), value=None, format="DD/MM/YYYY", key=keys["to"]
    )
    kind = c3.selectbox(
        t("interchange.f_kind"),
        [k.value for k in Kind],
        index=None,
        format_func=lambda v: label("kind", v, lang),
        placeholder=t("common.all"),
        key=keys["kind"],
    )
    bucket = c1.selectbox(
        t("interchange.f_bucket"),
        [b.value for b in Bucket],
        index=None,
        format_func=lambda v: label("bucket", v, lang),
        placeholder=t("common.all"),
        key=keys["bucket"],
    )
    units = distinct_labels(
        [(u.id, f"{u.name} · {label('unit_kind', u.kind.value)}", u.code) for u in options.units]
    )
    unit_id = c2.selectbox(
        t("interchange.f_unit"),
        list(units),
        index=None,
        format_func=lambda i: units[i],
        placeholder=t("common.all"),
        key=keys["unit"],
    )
    districts = distinct_labels([(u.id, u.name, u.code) for u in options.districts])
    district_id = c3.selectbox(
        t("interchange.f_district"),
        list(districts),
        index=None,
        format_func=lambda i: districts[i],
        placeholder=t("common.all"),
        key=keys["district"],
    )
    categories = distinct_labels(
        [
            (
                c.code,
                ("· " if c.parent_code else "") + (c.name_en if lang == "en" else c.name_vi),
                c.code,
            )
            for c in options.categories
        ]
    )
    category_codes = st.multiselect(
        t("interchange.f_category"),
        list(categories),
        format_func=lambda code: categories[code],
        placeholder=t("common.all"),
        key=keys["category"],
    )
    headers = st.radio(
        t("interchange.f_headers"),
        ["field", "vi"],
        format_func=lambda v: t(f"interchange.headers.{v}", lang),
        horizontal=True,
        key=keys["headers"],
    )
    if date_from and date_to and date_from > date_to:
        st.error(t("interchange.bad_period"))
        return
    filt = ReportFilter(
        date_from=date_from,
        date_to=date_to,
        kind=Kind(kind) if kind else None,
        unit_id=unit_id,
        category_codes=tuple(category_codes),
        district_id=district_id,
        bucket=Bucket(bucket) if bucket else None,
    )
    with session_scope() as session:
        matching = count_reports(session, filt)
    if not matching:
        st.info(t("interchange.export_none"))
        return
    st.markdown(t("interchange.export_count", n=fmt_int(matching)))
    today = db.utcnow().astimezone(HANOI_TZ).date()

    def exported(fmt: str) -> bytes:
        """Built only when the button is clicked (Streamlit calls it then)."""
        out = io.BytesIO()
        with session_scope() as session:
            export_reports(
                session,
                fmt=fmt,
                out=out,
                filt=filt,
                lang=lang,
                headers="vi" if headers == "vi" else "field",
            )
        return out.getvalue()

    for column, fmt in zip(st.columns(len(F.FORMATS)), F.FORMATS, strict=True):
        column.download_button(
            t("interchange.download", format=t(f"interchange.format.{fmt}")),
            data=partial(exported, fmt),
            file_name=export_filename(fmt, today),
            mime=MIME_TYPES[fmt],
            on_click="ignore",
            icon=":material/download:",
            key=f"interchange_download_{fmt}",
        )


tab_in, tab_out = st.tabs([t("interchange.tab_import"), t("interchange.tab_export")])
with tab_in:
    import_tab()
with tab_out:
    export_tab()
