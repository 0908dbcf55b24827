"""Sub-commands `import` and `import-mapping` of `python -m ihanoi_core`.

`import` reads an Open311 or spreadsheet file in; `import-mapping` writes the skeleton
of a `--mapping` file from a server's services list (one `null` line per service).

    python -m ihanoi_core import requests.json --source hanoi-open311 \\
        --mapping services-map.yaml --lang vi --errors-out loi.csv

Exit codes: 0 every record imported (or already there), 2 the file was refused as a
whole (nothing written), 4 some records were rejected; the summary says whether the
good ones were written (`--accept-partial`) or nothing was. `--dry-run` checks
everything, routes and counts exactly as a real import would, then writes nothing.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import Any, Final

from ihanoi_core.cli import EXIT_OK
from ihanoi_core.config import reference_path
from ihanoi_core.interchange.fields import FORMATS
from ihanoi_core.interchange.importer import (
    BadFileError,
    ImportResult,
    error_messages,
    import_file,
    message,
)
from ihanoi_core.interchange.mapping import skeleton
from ihanoi_core.interchange.readers import ENCODINGS, read_services
from ihanoi_core.interchange.rules import default_rules
from ihanoi_core.reference import read_yaml

EXIT_BAD_FILE: Final = 2
EXIT_ROWS_REJECTED: Final = 4
SHOWN_ERRORS: Final = 200

_TEXT: Final[dict[str, dict[str, str]]] = {
    "summary": {
        "vi": "{file}: định dạng {fmt}{enc} — {total} bản ghi, {imported} nhập mới, "
        "{duplicates} trùng (đã có), {rejected} bị từ chối",
        "en": "{file}: format {fmt}{enc} — {total} records, {imported} new, "
        "{duplicates} duplicates (already there), {rejected} rejected",
    },
    "written": {"vi": "Đã ghi vào cơ sở dữ liệu.", "en": "Written to the database."},
    "partial": {
        "vi": "Đã ghi các bản ghi hợp lệ; các bản ghi bị từ chối KHÔNG được ghi.",
        "en": "The valid records were written; the rejected ones were NOT.",
    },
    "nothing": {
        "vi": "KHÔNG ghi gì (tệp có bản ghi lỗi; dùng --accept-partial để chỉ nhập "
        "các bản ghi hợp lệ).",
        "en": "NOTHING was written (the file has bad records; use --accept-partial "
        "to import the valid ones only).",
    },
    "dry_run": {
        "vi": "Chạy thử (--dry-run): không ghi gì.",
        "en": "Dry run: nothing was written.",
    },
    "no_change": {"vi": "Không có gì mới để ghi.", "en": "Nothing new to write."},
    "unmapped": {
        "vi": "Dịch vụ chưa ánh xạ (vào danh mục mặc định):",
        "en": "Unmapped services (filed under the default category):",
    },
    "refused": {
        "vi": "Tệp bị từ chối, không ghi gì",
        "en": "File refused, nothing written",
    },
    "more": {"vi": "... và {n} lỗi khác", "en": "... and {n} more errors"},
    "errors_out": {"vi": "Danh sách lỗi: {path}", "en": "Error list: {path}"},
    "skeleton": {
        "vi": "Đã ghi {path}: {n} dịch vụ; thay mỗi null bằng một mã danh mục.",
        "en": "Wrote {path}: {n} services; replace each null with a category code.",
    },
}


def _t(key: str, lang: str, **values: Any) -> str:
    return _TEXT[key][lang].format(**values)


def register(sub: Any) -> None:
    p = sub.add_parser("import", help="import Open311 JSON/XML, CSV or XLSX reports")
    p.add_argument("file", metavar="FILE", type=Path)
    p.add_argument("--format", choices=FORMATS, help="default: detected from the content")
    p.add_argument("--dry-run", action="store_true", help="check and count, write nothing")
    p.add_argument("--mapping", type=Path, metavar="MAPPING.yaml", help="service → category")
    p.add_argument(
        "--accept-partial",
        action="store_true",
        help="import the valid records even when some are rejected",
    )
    p.add_argument(
        "--source",
        metavar="NAME",
        help="name of the sending system (with the source id, what makes re-imports "
        "idempotent); default 'import'",
    )
    p.add_argument("--encoding", choices=ENCODINGS, help="CSV/JSON encoding (default: detected)")
    p.add_argument("--lang", choices=("vi", "en"), default="vi")
    p.add_argument("--errors-out", type=Path, metavar="errors.csv", help="write every error")
    p.set_defaults(handler=cmd_import)

    m = sub.add_parser(
        "import-mapping",
        help="write a --mapping skeleton from a server's services.json or services.xml",
    )
    m.add_argument("services", metavar="SERVICES_FILE", type=Path)
    m.add_argument("-o", "--output", type=Path, required=True, metavar="MAPPING.yaml")
    m.add_argument("--force", action="store_true", help="overwrite an existing output file")
    m.add_argument("--lang", choices=("vi", "en"), default="vi")
    m.set_defaults(handler=cmd_import_mapping)


def cmd_import(args: argparse.Namespace) -> int:
    lang: str = args.lang
    _utf8_stdout()
    try:
        result = import_file(
            args.file,
            fmt=args.format,
            source=args.source,
            mapping=args.mapping,
            dry_run=args.dry_run,
            accept_partial=args.accept_partial,
            encoding=args.encoding,
        )
    except BadFileError as exc:
        where = f" ({message('_record', lang)} {exc.record})" if exc.record else ""
        print(
            f"{args.file}: {_t('refused', lang)}{where}: {message(exc.code, lang, exc.detail)}",
            file=sys.stderr,
        )
        if args.errors_out:
            _write_errors(args.errors_out, [[exc.record or "", "", exc.code, exc.detail]], lang)
        return EXIT_BAD_FILE
    print_summary(args.file, result, lang)
    if args.errors_out and result.rejected:
        rows = [[e.record, e.field or "", e.code, e.detail] for e in result.rejected]
        _write_errors(args.errors_out, rows, lang)
        print(_t("errors_out", lang, path=args.errors_out))
    return EXIT_ROWS_REJECTED if result.rejected_records else EXIT_OK


def cmd_import_mapping(args: argparse.Namespace) -> int:
    """One `null` line per service: the user fills in our category codes."""
    lang: str = args.lang
    _utf8_stdout()
    try:
        services = read_services(args.services)
    except BadFileError as exc:
        where = f" ({message('_record', lang)} {exc.record})" if exc.record else ""
        print(
            f"{args.services}: {_t('refused', lang)}{where}: {message(exc.code, lang, exc.detail)}",
            file=sys.stderr,
        )
        return EXIT_BAD_FILE
    output: Path = args.output
    if output.exists() and not args.force:
        print(f"{output}: {message('output_exists', lang)}", file=sys.stderr)
        return EXIT_BAD_FILE
    text = skeleton(
        [(s.code, s.name, s.group) for s in services],
        source_name=args.services.name,
        default_category=default_rules().default_category,
        categories=_category_codes(),
    )
    output.write_text(text, encoding="utf-8")
    print(_t("skeleton", lang, n=len(services), path=output))
    return EXIT_OK


def _category_codes() -> list[tuple[str, str]]:
    """(code, Vietnamese name) of every category, parents before their children."""
    data = read_yaml(reference_path("categories.yaml"))
    out: list[tuple[str, str]] = []
    for parents in data.values():
        for parent in parents:
            out.append((str(parent["code"]), str(parent.get("name_vi", ""))))
            for child in parent.get("children") or []:
                out.append((str(child["code"]), "  " + str(child.get("name_vi", ""))))
    return out


def print_summary(path: Path, result: ImportResult, lang: str) -> None:
    enc = f", {result.encoding}" if result.encoding else ""
    if result.delimiter:
        enc += f", '{result.delimiter}'"
    print(
        _t(
            "summary",
            lang,
            file=path.name,
            fmt=result.format,
            enc=enc,
            total=result.total,
            imported=result.imported,
            duplicates=result.duplicates,
            rejected=result.rejected_records,
        )
    )
    for warning in result.warnings:
        print(f"! {message(warning, lang)}")
    if result.unmapped_services:
        print(_t("unmapped", lang))
        for name, count in result.unmapped_services.items():
            print(f"  {name}: {count}")
    lines = error_messages(result.rejected[:SHOWN_ERRORS], lang)
    for line in lines:
        print(f"  {line}")
    if len(result.rejected) > SHOWN_ERRORS:
        print(_t("more", lang, n=len(result.rejected) - SHOWN_ERRORS))
    if result.dry_run:
        print(_t("dry_run", lang))
    elif result.rejected_records and not result.written and result.imported:
        print(_t("nothing", lang))
    elif result.rejected_records and result.written:
        print(_t("partial", lang))
    elif result.written:
        print(_t("written", lang))
    elif result.rejected_records:
        print(_t("nothing", lang))
    else:
        print(_t("no_change", lang))


def _write_errors(path: Path, rows: list[list[Any]], lang: str) -> None:
    """The error report as CSV (UTF-8 with BOM, so Excel shows the diacritics)."""
    header = (
        ["dong", "truong", "ma_loi", "chi_tiet", "mo_ta"]
        if lang == "vi"
        else ["record", "field", "code", "detail", "message"]
    )
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for record, field, code, detail in rows:
            text = message(str(code), lang)
            writer.writerow([record, field, code, _neutral(str(detail)), text])


def _neutral(text: str) -> str:
    """A detail copied from the file must not become a formula when opened in Excel."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _utf8_stdout() -> None:
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None and (sys.stdout.encoding or "").lower() not in ("utf-8", "utf8"):
        reconfigure(encoding="utf-8")
