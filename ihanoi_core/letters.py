"""The overdue reminder letter the city office sends to units (công văn đôn đốc).

On 23/9/2024 the Văn phòng UBND Thành phố wrote to the 39 units that had iHanoi reports
overdue and not handled, asking them to check and handle them and to report back by
a date. This module writes that letter from the database: one document with the
administrative letter layout of Nghị định 30/2020/NĐ-CP (authority and national motto
side by side, number, "V/v" subject, place and date, addressees, body, recipients
and signature block), followed by the list of every overdue report per unit.

Two outputs with the same content: `.docx` (python-docx), for the office to edit,
number and sign, and `.pdf` (fpdf2), for reading and archiving. The PDF embeds a
TrueType font with Vietnamese diacritics (DejaVu, Debian's `fonts-dejavu-core`): a
PDF's standard fonts cannot show "Hạnh phúc". A missing font is a clear
`FontNotFound`, never a letter with empty boxes.

The wording is the letter's template, in Vietnamese because the letter is a
Vietnamese document; it is one frozen dataclass (`LetterWording`), so another issuing
office or a new decree changes data, not code. Number and signature stay blank for
the office: only a person can give a letter its number and sign it.
"""

from __future__ import annotations

import io
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final, Literal

from docx import Document
from docx.document import Document as DocxDocument
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt
from docx.styles.style import ParagraphStyle
from docx.table import _Cell
from docx.text.paragraph import Paragraph
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos
from fpdf.fonts import FontFace
from sqlmodel import Session

from ihanoi_core.config import HANOI_TZ
from ihanoi_core.errors import IHanoiError
from ihanoi_core.performance import OverdueReport, overdue_reports
from ihanoi_core.text import fold
from ihanoi_core.vocab import UnitKind

LetterFormat = Literal["docx", "pdf"]
FORMATS: Final[tuple[LetterFormat, ...]] = ("docx", "pdf")
MIME_TYPES: Final[dict[LetterFormat, str]] = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}

NATION: Final = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO: Final = "Độc lập - Tự do - Hạnh phúc"
DOTS_NUMBER: Final = "........"
DOTS_DATE: Final = "ngày ..... tháng ..... năm ......."
DOTS_SHORT_DATE: Final = "..../..../......"
_ALIGN: Final = {
    "C": WD_ALIGN_PARAGRAPH.CENTER,
    "L": WD_ALIGN_PARAGRAPH.LEFT,
    "J": WD_ALIGN_PARAGRAPH.JUSTIFY,
}

# Font files searched for the PDF, in order: DejaVu Serif looks closest to the Times
# New Roman the decree prescribes; DejaVu Sans is the fallback. Both are in Debian's
# fonts-dejavu-core (`apt-get install fonts-dejavu-core`).
FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
    Path("/usr/local/share/fonts/dejavu"),
    Path.home() / ".local/share/fonts",
    Path("/Library/Fonts"),
    Path("C:/Windows/Fonts"),
)
FONT_FAMILIES: Final[tuple[tuple[str, str, str], ...]] = (
    # family, regular file, bold file
    ("DejaVuSerif", "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf"),
    ("DejaVuSans", "DejaVuSans.ttf", "DejaVuSans-Bold.ttf"),
)
_ITALIC_FILES: Final[dict[str, str]] = {
    "DejaVuSerif": "DejaVuSerif-Italic.ttf",
    "DejaVuSans": "DejaVuSans-Oblique.ttf",
}


class FontNotFound(IHanoiError):
    """No TrueType font with Vietnamese letters was found for the PDF."""

    def __init__(self, searched: Sequence[Path]) -> None:
        where = ", ".join(str(p) for p in searched)
        super().__init__(
            "no DejaVu font for the PDF letter (install Debian's fonts-dejavu-core); "
            f"searched: {where}"
        )
        self.searched = tuple(searched)


# ------------------------------------------------------------------ wording


@dataclass(frozen=True)
class LetterWording:
    """The letter's fixed texts, modelled on the city office's letter of 23/9/2024."""

    authority: str = "UBND THÀNH PHỐ HÀ NỘI"
    office: str = "VĂN PHÒNG"
    office_name: str = "Văn phòng UBND Thành phố"
    number_suffix: str = "/VP-TTĐT"
    place: str = "Hà Nội"
    subject: str = "V/v các phản ánh, kiến nghị trên ứng dụng iHanoi quá hạn chưa được xử lý"
    greeting: str = "Kính gửi:"
    to_departments: str = "Thủ trưởng, Giám đốc các Sở, ban, ngành, đơn vị thuộc Thành phố"
    to_districts: str = "Chủ tịch UBND các quận, huyện, thị xã"
    to_communes: str = "Chủ tịch UBND các phường, xã"
    basis: str = (
        "Để thực hiện nghiêm chỉ đạo của Chủ tịch UBND Thành phố về giải quyết phản ánh, "
        "kiến nghị phục vụ người dân, tổ chức trên ứng dụng iHanoi"
    )
    ask_handle: str = (
        "Chỉ đạo các cơ quan, đơn vị khẩn trương kiểm tra, xử lý dứt điểm các phản ánh, "
        "kiến nghị quá hạn nêu tại Danh sách kèm theo; gửi kết quả về {office_name} "
        "trước ngày {reply_by} để tổng hợp, báo cáo UBND Thành phố theo quy định."
    )
    ask_prevent: str = (
        "Quán triệt, đôn đốc cán bộ, công chức kịp thời tiếp nhận, xử lý các phản ánh, "
        "kiến nghị của người dân trên địa bàn; tránh tình trạng chậm, muộn, quá hạn và "
        "bảo đảm chất lượng giải quyết để nhận được sự đánh giá hài lòng của người dân."
    )
    closing: str = "{office_name} thông báo để các cơ quan, đơn vị biết, thực hiện./."
    cc_title: str = "Nơi nhận:"
    cc: tuple[str, ...] = (
        "- Như trên;",
        "- Chủ tịch UBND Thành phố (để báo cáo);",
        "- Lưu: VT, TTĐT.",
    )
    signer: tuple[str, ...] = ("KT. CHÁNH VĂN PHÒNG", "PHÓ CHÁNH VĂN PHÒNG")
    appendix_title: str = "DANH SÁCH PHẢN ÁNH, KIẾN NGHỊ QUÁ HẠN CHƯA ĐƯỢC XỬ LÝ"
    summary_title: str = "I. TỔNG HỢP THEO ĐƠN VỊ"
    detail_title: str = "II. CHI TIẾT THEO ĐƠN VỊ"
    summary_headers: tuple[str, ...] = ("STT", "Đơn vị", "Số PAKN quá hạn", "Quá hạn lâu nhất")
    detail_headers: tuple[str, ...] = (
        "STT",
        "Mã PAKN",
        "Nội dung phản ánh, kiến nghị",
        "Ngày tiếp nhận",
        "Hạn xử lý",
        "Số ngày quá hạn",
    )


DEFAULT_WORDING: Final = LetterWording()


# ------------------------------------------------------------------ data


@dataclass(frozen=True)
class LetterUnit:
    """One addressed unit and its overdue reports, longest overdue first."""

    unit_id: int
    unit_code: str
    name: str  # as addressed: "UBND quận Hoàn Kiếm", "Sở Xây dựng"
    kind: UnitKind
    reports: tuple[OverdueReport, ...]

    @property
    def longest_days(self) -> int:
        return max((r.days_overdue for r in self.reports), default=0)


@dataclass(frozen=True)
class OverdueLetterData:
    """Everything the letter says; built by `build_overdue_letter`, rendered twice.

    `letter_date` None leaves the date line dotted for the office to fill in, as the
    number always is; `reply_by` None leaves the answer date dotted.
    """

    as_of: datetime
    date_from: date | None
    date_to: date | None
    units: tuple[LetterUnit, ...]
    letter_date: date | None = None
    reply_by: date | None = None
    number: str = ""  # blank: the office numbers the letter when it signs it
    wording: LetterWording = field(default=DEFAULT_WORDING)

    @property
    def report_count(self) -> int:
        return sum(len(u.reports) for u in self.units)

    @property
    def is_empty(self) -> bool:
        return not self.units


def build_overdue_letter(
    session: Session,
    *,
    as_of: datetime,
    date_from: date | None,
    date_to: date | None,
    unit_ids: Sequence[int] | None = None,
    letter_date: date | None = None,
    reply_by: date | None = None,
    wording: LetterWording = DEFAULT_WORDING,
) -> OverdueLetterData:
    """The letter for the reports submitted in the period and overdue at `as_of`.

    Every overdue report is listed (no limit: the letter is the record of what was
    asked). Units with most overdue reports come first. The city office itself is not
    addressed: reports it holds wait for its own dispatchers, not for a letter.
    `letter_date` defaults to the Hanoi day of `as_of`.
    """
    rows = overdue_reports(
        session,
        as_of=as_of,
        date_from=date_from,
        date_to=date_to,
        unit_ids=unit_ids,
        limit=None,
    )
    grouped: dict[int, list[OverdueReport]] = {}
    for row in rows:
        if row.unit_kind is not UnitKind.CITY_OFFICE:
            grouped.setdefault(row.unit_id, []).append(row)
    units = [
        LetterUnit(
            unit_id=uid,
            unit_code=reports[0].unit_code,
            name=reports[0].formal_unit_name,
            kind=reports[0].unit_kind,
            reports=tuple(sorted(reports, key=lambda r: (r.due_at, r.code))),
        )
        for uid, reports in grouped.items()
    ]
    units.sort(key=lambda u: (-len(u.reports), fold(u.name), u.unit_code))  # "Đ" after "D"
    return OverdueLetterData(
        as_of=as_of,
        date_from=date_from,
        date_to=date_to,
        units=tuple(units),
        letter_date=letter_date or as_of.astimezone(HANOI_TZ).date(),
        reply_by=reply_by,
        wording=wording,
    )


# ------------------------------------------------------------ the letter's text


def vn_date_words(d: date | None) -> str:
    """ "ngày 05 tháng 02 năm 2024", "ngày 23 tháng 9 năm 2024" (Nghị định 30/2020).

    Days below 10 and the months January and February take a leading zero; the rest
    are written as they are. None gives the dotted blank.
    """
    if d is None:
        return DOTS_DATE
    month = f"{d.month:02d}" if d.month < 3 else str(d.month)
    return f"ngày {d.day:02d} tháng {month} năm {d.year}"


def _short(d: date | None) -> str:
    return DOTS_SHORT_DATE if d is None else f"{d:%d/%m/%Y}"


def _moment(t: datetime) -> str:
    local = t.astimezone(HANOI_TZ)
    return f"{local:%H} giờ {local:%M} ngày {local:%d/%m/%Y}"


def _period(data: OverdueLetterData) -> str:
    if data.date_from and data.date_to:
        return f"gửi từ ngày {_short(data.date_from)} đến ngày {_short(data.date_to)}"
    if data.date_from:
        return f"gửi từ ngày {_short(data.date_from)}"
    if data.date_to:
        return f"gửi đến ngày {_short(data.date_to)}"
    return ""


def _nfc(text: str) -> str:
    """One spelling for every letter: a decomposed "ạ" would not match "ạ" in a search."""
    return unicodedata.normalize("NFC", text)


@dataclass(frozen=True)
class LetterText:
    """The letter as lines and paragraphs: what both renderers lay out, word for word."""

    authority: str
    office: str
    number_line: str
    subject: str
    nation: str
    motto: str
    date_line: str
    greeting: str
    addressees: tuple[str, ...]  # one name, or "- group;" lines (the last ends with ".")
    paragraphs: tuple[str, ...]
    cc_title: str
    cc: tuple[str, ...]
    signer: tuple[str, ...]
    appendix_title: str
    appendix_subtitle: str
    appendix_scope: str
    summary_title: str
    summary_headers: tuple[str, ...]
    summary_rows: tuple[tuple[str, ...], ...]
    detail_title: str
    detail_headers: tuple[str, ...]
    sections: tuple[tuple[str, tuple[tuple[str, ...], ...]], ...]


def _addressee_groups(units: Sequence[LetterUnit], w: LetterWording) -> tuple[str, ...]:
    kinds = {u.kind for u in units}
    groups = []
    if kinds & {UnitKind.DEPARTMENT, UnitKind.CITY_OFFICE}:
        groups.append(w.to_departments)
    if UnitKind.DISTRICT in kinds:
        groups.append(w.to_districts)
    if kinds & {UnitKind.COMMUNE, UnitKind.WARD}:
        groups.append(w.to_communes)
    return tuple(groups)


def _dash_lines(items: Sequence[str]) -> tuple[str, ...]:
    """ "- a;", "- b." : how a list of addressees is written under "Kính gửi:"."""
    return tuple(f"- {item}{'.' if i == len(items) - 1 else ';'}" for i, item in enumerate(items))


def letter_text(data: OverdueLetterData) -> LetterText:
    """Compose the letter's words from the data (pure: no database, no layout)."""
    w = data.wording
    units = data.units
    names = ", ".join(u.name for u in units)
    period = _period(data)
    scope = f"trong số các phản ánh, kiến nghị {period}, " if period else ""
    if units:
        finding = (
            f"Qua theo dõi, đánh giá kết quả giải quyết phản ánh, kiến nghị (PAKN) của các cơ "
            f"quan, đơn vị trên ứng dụng iHanoi, tính đến {_moment(data.as_of)}, {scope}còn "
            f"{data.report_count} PAKN quá hạn chưa được xử lý tại {len(units)} đơn vị, gồm: "
            f"{names} (chi tiết tại Danh sách kèm theo)."
        )
    else:
        finding = (
            f"Qua theo dõi, đánh giá kết quả giải quyết phản ánh, kiến nghị (PAKN) của các cơ "
            f"quan, đơn vị trên ứng dụng iHanoi, tính đến {_moment(data.as_of)}, {scope}không "
            f"có PAKN nào quá hạn chưa được xử lý."
        )
    if len(units) == 1:
        addressees: tuple[str, ...] = (units[0].name,)
        whom = units[0].name
    else:
        addressees = _addressee_groups(units, w)
        whom = "; ".join(addressees) + " có tên tại Danh sách kèm theo"
    paragraphs = [finding]
    if units:
        paragraphs += [
            f"{w.basis}, {w.office_name} đề nghị {whom}:",
            "1. " + w.ask_handle.format(office_name=w.office_name, reply_by=_short(data.reply_by)),
            "2. " + w.ask_prevent,
        ]
    paragraphs.append(w.closing.format(office_name=w.office_name))

    number = data.number or DOTS_NUMBER
    place_date = f"{w.place}, {vn_date_words(data.letter_date)}"
    summary_rows = tuple(
        (str(i), u.name, str(len(u.reports)), f"{u.longest_days} ngày")
        for i, u in enumerate(units, start=1)
    )
    summary_rows += (("", "Tổng cộng", str(data.report_count), ""),)
    sections = tuple(
        (
            f"{i}. {u.name}: {len(u.reports)} phản ánh, kiến nghị",
            tuple(
                (
                    str(j),
                    r.code,
                    r.title,
                    f"{r.received_at.astimezone(HANOI_TZ):%d/%m/%Y}",
                    f"{r.due_at.astimezone(HANOI_TZ):%d/%m/%Y %H:%M}",
                    str(r.days_overdue),
                )
                for j, r in enumerate(u.reports, start=1)
            ),
        )
        for i, u in enumerate(units, start=1)
    )
    sent = vn_date_words(data.letter_date)
    text = LetterText(
        authority=w.authority,
        office=w.office,
        number_line=f"Số: {number}{w.number_suffix}",
        subject=w.subject,
        nation=NATION,
        motto=MOTTO,
        date_line=place_date,
        greeting=w.greeting,
        addressees=addressees if len(addressees) == 1 else _dash_lines(addressees),
        paragraphs=tuple(paragraphs),
        cc_title=w.cc_title,
        cc=w.cc,
        signer=w.signer,
        appendix_title=w.appendix_title,
        appendix_subtitle=(
            f"(Kèm theo Công văn số {number}{w.number_suffix} {sent} của {w.office_name})"
        ),
        appendix_scope=(
            f"Số liệu tính đến {_moment(data.as_of)}"
            + (f"; phản ánh, kiến nghị {period}" if period else "")
        ),
        summary_title=w.summary_title,
        summary_headers=w.summary_headers,
        summary_rows=summary_rows,
        detail_title=w.detail_title,
        detail_headers=w.detail_headers,
        sections=sections,
    )
    return _normalized(text)


def _normalized(text: LetterText) -> LetterText:
    def n(value: Any) -> Any:
        if isinstance(value, str):
            return _nfc(value)
        if isinstance(value, tuple):
            return tuple(n(v) for v in value)
        return value

    return replace(text, **{k: n(v) for k, v in vars(text).items()})


def letter_filename(day: date, fmt: LetterFormat) -> str:
    """An ASCII file name (mail systems mangle others): cong-van-pakn-qua-han-2024-09-23."""
    return f"cong-van-pakn-qua-han-{day.isoformat()}.{fmt}"


# ------------------------------------------------------------------ .docx


def overdue_letter_docx(data: OverdueLetterData) -> bytes:
    """The letter as a Word document (A4, Times New Roman 13, the decree's margins)."""
    text = letter_text(data)
    doc = Document()
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21.0), Cm(29.7)
    section.top_margin, section.bottom_margin = Cm(2.0), Cm(2.0)
    section.left_margin, section.right_margin = Cm(3.0), Cm(1.5)
    normal = doc.styles["Normal"]
    assert isinstance(normal, ParagraphStyle)
    normal.font.name = "Times New Roman"
    normal.font.size = Pt(13)
    normal.paragraph_format.space_after = Pt(0)
    doc.core_properties.title = text.subject
    doc.core_properties.author = data.wording.office_name

    header = doc.add_table(rows=1, cols=2)
    header.alignment = WD_TABLE_ALIGNMENT.CENTER
    header.autofit = False
    left, right = header.rows[0].cells
    left.width, right.width = Cm(6.5), Cm(10.0)
    _docx_para(left, text.authority, align="C", size=12, reuse=True)
    _docx_para(left, text.office, align="C", bold=True, size=12, rule_cm=1.8, after=6)
    _docx_para(left, text.number_line, align="C", after=2)
    _docx_para(left, text.subject, align="C", size=12)
    _docx_para(right, text.nation, align="C", bold=True, size=12, reuse=True)
    _docx_para(right, text.motto, align="C", bold=True, rule_cm=1.9, after=6)
    _docx_para(right, text.date_line, align="C", italic=True)

    doc.add_paragraph()
    if len(text.addressees) == 1:
        _docx_para(doc, f"{text.greeting} {text.addressees[0]}", align="C", after=6)
    else:
        _docx_para(doc, text.greeting, left_indent=3.0)
        for line in text.addressees:
            _docx_para(doc, line, left_indent=4.5)
        doc.add_paragraph()
    for content in text.paragraphs:
        _docx_para(doc, content, align="J", first_indent=1.0, after=6)

    doc.add_paragraph()
    footer = doc.add_table(rows=1, cols=2)
    footer.autofit = False
    cc_cell, sign_cell = footer.rows[0].cells
    cc_cell.width, sign_cell.width = Cm(8.0), Cm(8.5)
    _docx_para(cc_cell, text.cc_title, bold=True, italic=True, size=12, reuse=True)
    for line in text.cc:
        _docx_para(cc_cell, line, size=11)
    for i, line in enumerate(text.signer):
        _docx_para(sign_cell, line, align="C", bold=True, reuse=i == 0)
    for _ in range(4):  # room for the signature and the seal
        _docx_para(sign_cell, "")

    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)
    _docx_para(doc, text.appendix_title, align="C", bold=True, after=2)
    _docx_para(doc, text.appendix_subtitle, align="C", italic=True, size=12, after=2)
    _docx_para(doc, text.appendix_scope, align="C", italic=True, size=12, after=12)
    if text.sections:
        _docx_para(doc, text.summary_title, bold=True, after=4)
        _docx_table(doc, text.summary_headers, text.summary_rows, (1.2, 9.3, 3.0, 3.0), "CLCC")
        _docx_para(doc, "", after=6)
        _docx_para(doc, text.detail_title, bold=True, after=4)
        for heading, rows in text.sections:
            _docx_para(doc, heading, bold=True, after=4)
            _docx_table(doc, text.detail_headers, rows, (1.1, 3.3, 6.0, 2.2, 2.4, 1.5), "CLLCCC")
            _docx_para(doc, "", after=6)

    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()


def _docx_para(
    container: DocxDocument | _Cell,
    content: str,
    *,
    align: str = "",
    bold: bool = False,
    italic: bool = False,
    size: float | None = None,
    first_indent: float | None = None,
    left_indent: float | None = None,
    after: float = 0,
    rule_cm: float | None = None,
    reuse: bool = False,
) -> None:
    """One paragraph with one run. `reuse`: write into a new cell's empty first paragraph
    (a table cell always starts with one), so the text sits at the top of the cell."""
    if reuse and isinstance(container, _Cell):
        p = container.paragraphs[0]
    else:
        p = container.add_paragraph()
    if align:
        p.alignment = _ALIGN[align]
    fmt = p.paragraph_format
    fmt.space_after = Pt(after)
    if first_indent is not None:
        fmt.first_line_indent = Cm(first_indent)
    if left_indent is not None:
        fmt.left_indent = Cm(left_indent)
    run = p.add_run(content)
    run.bold, run.italic = bold, italic
    if size is not None:
        run.font.size = Pt(size)
    if rule_cm is not None:
        _rule_under(p, rule_cm)


def _rule_under(paragraph: Paragraph, indent_cm: float) -> None:
    """The short line under the office name and the motto: a bottom border on an
    indented paragraph, so it follows the text and survives editing in Word."""
    fmt = paragraph.paragraph_format
    fmt.left_indent = Cm(indent_cm)
    fmt.right_indent = Cm(indent_cm)
    p_pr = paragraph._p.get_or_add_pPr()
    borders = OxmlElement("w:pBdr")
    bottom = OxmlElement("w:bottom")
    for key, value in (("w:val", "single"), ("w:sz", "6"), ("w:space", "1"), ("w:color", "000000")):
        bottom.set(qn(key), value)
    borders.append(bottom)
    p_pr.append(borders)


def _docx_table(
    doc: DocxDocument,
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    widths_cm: Sequence[float],
    aligns: str,
) -> None:
    """A bordered table, headings bold and centred, cells aligned per `aligns` (C/L)."""
    table = doc.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    table.autofit = False

    def fill(cells: Sequence[_Cell], values: Sequence[str], heading: bool) -> None:
        for cell, value, width, align in zip(cells, values, widths_cm, aligns, strict=True):
            cell.width = Cm(width)
            p = cell.paragraphs[0]
            p.alignment = _ALIGN["C" if heading else align]
            run = p.add_run(value)
            run.bold = heading
            run.font.size = Pt(11)

    fill(table.rows[0].cells, headers, True)
    for values in rows:
        fill(table.add_row().cells, values, False)


# ------------------------------------------------------------------ .pdf


@dataclass(frozen=True)
class PdfFont:
    """A font family found on disk for the PDF (italic falls back to regular)."""

    family: str
    regular: Path
    bold: Path
    italic: Path | None


def find_pdf_font(dirs: Sequence[Path] | None = None) -> PdfFont:
    """The first DejaVu family (Serif, then Sans) with regular and bold files, searched
    in `dirs` (default `FONT_DIRS`, read at call time so a deployment can extend it)."""
    searched: list[Path] = []
    for family, regular_name, bold_name in FONT_FAMILIES:
        for folder in FONT_DIRS if dirs is None else dirs:
            regular, bold = folder / regular_name, folder / bold_name
            searched.append(regular)
            if regular.is_file() and bold.is_file():
                italic = folder / _ITALIC_FILES[family]
                return PdfFont(family, regular, bold, italic if italic.is_file() else None)
    raise FontNotFound(searched)


def prepare_pdf(pdf: FPDF, font: PdfFont, family: str, *, title: str, author: str) -> None:
    """Embed `font` as `family` (regular, bold, italic) and name the document: what every
    PDF of the console starts with, so the letter and the weekly report embed alike."""
    pdf.add_font(family, "", str(font.regular))
    pdf.add_font(family, "B", str(font.bold))
    pdf.add_font(family, "I", str(font.italic or font.regular))
    pdf.set_title(title)
    pdf.set_author(author)
    pdf.set_creator("iHanoi console")


def pdf_font_available(dirs: Sequence[Path] | None = None) -> bool:
    """Whether `overdue_letter_pdf` can run here (the UI disables the button if not)."""
    try:
        find_pdf_font(dirs)
    except FontNotFound:
        return False
    return True


def overdue_letter_pdf(data: OverdueLetterData, *, font: PdfFont | None = None) -> bytes:
    """The letter as a PDF with the font embedded (A4, the decree's margins)."""
    font = font or find_pdf_font()
    text = letter_text(data)
    fam = "Letter"

    class _Pdf(FPDF):
        def header(self) -> None:
            # Page numbers from page 2 on, at the top centre (Nghị định 30/2020).
            if self.page_no() > 1:
                self.set_font(fam, "", 11)
                self.set_y(10)
                self.cell(0, 5, str(self.page_no()), align=Align.C)
                self.set_y(self.t_margin)

    pdf = _Pdf(orientation="P", unit="mm", format="A4")
    pdf.set_margins(left=30, top=20, right=15)
    pdf.set_auto_page_break(auto=True, margin=20)
    prepare_pdf(pdf, font, fam, title=text.subject, author=data.wording.office_name)
    pdf.add_page()

    epw = pdf.epw
    left_w, right_w = 64.0, epw - 64.0
    top = pdf.get_y()
    x0 = pdf.l_margin

    def centered(x: float, w: float, content: str, style: str, size: float, h: float) -> None:
        pdf.set_font(fam, style, size)
        pdf.set_x(x)
        pdf.multi_cell(w, h, content, align=Align.C, new_x=XPos.LEFT, new_y=YPos.NEXT)

    def rule(x: float, w: float, content: str, style: str, size: float) -> None:
        pdf.set_font(fam, style, size)
        length = pdf.get_string_width(content)
        y = pdf.get_y() + 0.6
        pdf.set_line_width(0.3)
        pdf.line(x + (w - length) / 2, y, x + (w + length) / 2, y)
        pdf.set_y(y + 2.4)

    pdf.set_y(top)
    centered(x0, left_w, text.authority, "", 11, 5.5)
    centered(x0, left_w, text.office, "B", 11, 5.5)
    rule(x0, left_w, text.office, "B", 11)
    centered(x0, left_w, text.number_line, "", 12, 6)
    centered(x0, left_w, text.subject, "", 11, 5)
    left_bottom = pdf.get_y()

    pdf.set_y(top)
    centered(x0 + left_w, right_w, text.nation, "B", 11, 5.5)
    centered(x0 + left_w, right_w, text.motto, "B", 12.5, 5.5)
    rule(x0 + left_w, right_w, text.motto, "B", 12.5)
    centered(x0 + left_w, right_w, text.date_line, "I", 12.5, 6)
    pdf.set_y(max(left_bottom, pdf.get_y()) + 6)

    pdf.set_font(fam, "", 13)
    if len(text.addressees) == 1:
        pdf.multi_cell(epw, 6.5, f"{text.greeting} {text.addressees[0]}", align=Align.C)
    else:
        pdf.set_x(x0 + 25)
        pdf.cell(25, 6.5, text.greeting)
        for line in text.addressees:
            pdf.set_x(x0 + 50)
            pdf.multi_cell(epw - 50, 6.5, line, align=Align.L)
    pdf.ln(3)
    with pdf.text_columns(text_align=Align.J, line_height=1.15) as cols:
        for content in text.paragraphs:
            with cols.paragraph(first_line_indent=10, bottom_margin=2) as par:
                par.write(content)
    pdf.ln(4)

    if pdf.will_page_break(45):
        pdf.add_page()
    block_top = pdf.get_y()
    pdf.set_font(fam, "B", 11.5)
    pdf.set_x(x0)
    pdf.cell(70, 5.5, text.cc_title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(fam, "", 10.5)
    for line in text.cc:
        pdf.set_x(x0)
        pdf.cell(70, 5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_y(block_top)
    for line in text.signer:
        centered(x0 + 70, epw - 70, line, "B", 12.5, 6)

    pdf.add_page()
    centered(x0, epw, text.appendix_title, "B", 12, 6.5)
    centered(x0, epw, text.appendix_subtitle, "I", 11.5, 5.5)
    centered(x0, epw, text.appendix_scope, "I", 11.5, 5.5)
    pdf.ln(4)
    heading_style = FontFace(emphasis="BOLD")
    if text.sections:
        pdf.set_font(fam, "B", 12)
        pdf.cell(0, 6, text.summary_title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(1)
        pdf.set_font(fam, "", 10.5)
        with pdf.table(
            width=epw,
            align=Align.L,
            col_widths=(12, 83, 35, 35),
            text_align=(Align.C, Align.L, Align.C, Align.C),
            line_height=5.5,
            headings_style=heading_style,
        ) as table:
            for values in (text.summary_headers, *text.summary_rows):
                row = table.row()
                for value in values:
                    row.cell(value)
        pdf.ln(5)
        pdf.set_font(fam, "B", 12)
        pdf.cell(0, 6, text.detail_title, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for heading, rows in text.sections:
            pdf.ln(2)
            if pdf.will_page_break(25):
                pdf.add_page()
            pdf.set_font(fam, "B", 11.5)
            pdf.multi_cell(epw, 6, heading, align=Align.L, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
            pdf.set_font(fam, "", 9.5)
            with pdf.table(
                width=epw,
                align=Align.L,
                col_widths=(11, 37, 48, 23, 27, 19),
                text_align=(Align.C, Align.L, Align.L, Align.C, Align.C, Align.C),
                line_height=5,
                headings_style=heading_style,
            ) as table:
                for values in (text.detail_headers, *rows):
                    row = table.row()
                    for value in values:
                        row.cell(value)
    return bytes(pdf.output())


# ------------------------------------------------------------------ one call


def render_overdue_letter(
    session: Session,
    *,
    fmt: LetterFormat,
    as_of: datetime,
    date_from: date | None,
    date_to: date | None,
    unit_ids: Sequence[int] | None = None,
    letter_date: date | None = None,
    reply_by: date | None = None,
) -> bytes:
    """Build and render in one call: what a download button runs when it is clicked."""
    data = build_overdue_letter(
        session,
        as_of=as_of,
        date_from=date_from,
        date_to=date_to,
        unit_ids=unit_ids,
        letter_date=letter_date,
        reply_by=reply_by,
    )
    return overdue_letter_docx(data) if fmt == "docx" else overdue_letter_pdf(data)
