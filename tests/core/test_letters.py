"""The overdue reminder letter, on the city of test_performance (AS_OF = Fri 9 Aug 11:00).

Overdue at AS_OF among reports submitted 15/07-09/08: Ba Đình H (12 days) and I (11),
Hoàn Kiếm C (11) and D (9), Sở Xây dựng K (5); G is overdue at the city office, which
writes the letter and is not one of its addressees. O (Hoàn Kiếm) is older than the
period. The letter is re-opened (python-docx) or its text extracted (pdftotext) and
read as a person would.
"""

from __future__ import annotations

import io
import shutil
import subprocess
import unicodedata
from datetime import date
from pathlib import Path

import docx
import pytest
from sqlmodel import Session

from ihanoi_core import letters
from ihanoi_core.cli import main as cli_main
from ihanoi_core.letters import (
    FontNotFound,
    OverdueLetterData,
    build_overdue_letter,
    find_pdf_font,
    letter_text,
    overdue_letter_docx,
    overdue_letter_pdf,
    vn_date_words,
)
from tests.core.test_performance import AS_OF, PAST, PERIOD, OverdueCity, build_overdue_city

HEADER = (
    "UBND THÀNH PHỐ HÀ NỘI",
    "VĂN PHÒNG",
    "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM",
    "Độc lập - Tự do - Hạnh phúc",
    "Hà Nội, ngày 09 tháng 8 năm 2024",
    "V/v các phản ánh, kiến nghị trên ứng dụng iHanoi quá hạn chưa được xử lý",
)
UNITS = ("UBND quận Ba Đình", "UBND quận Hoàn Kiếm", "Sở Xây dựng")


def letter(session: Session, **kw: object) -> tuple[OverdueCity, OverdueLetterData]:
    city = build_overdue_city(session)
    data = build_overdue_letter(
        session,
        as_of=AS_OF,
        date_from=PERIOD[0],
        date_to=PERIOD[1],
        **kw,  # type: ignore[arg-type]
    )
    return city, data


def docx_text(content: bytes) -> str:
    """All the text of a .docx, paragraphs and table cells, in document order enough."""
    document = docx.Document(io.BytesIO(content))
    parts = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            parts.extend(cell.text for cell in row.cells)
    return "\n".join(parts)


def pdf_text(content: bytes, tmp_path: Path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    path = tmp_path / "letter.pdf"
    path.write_bytes(content)
    done = subprocess.run(
        ["pdftotext", "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True
    )
    # pdftotext breaks lines where the PDF does; a person reads through them.
    return " ".join(done.stdout.decode("utf-8").split())


# ------------------------------------------------------------------ the data


def test_the_letter_lists_each_unit_and_its_overdue_reports(session: Session) -> None:
    city, data = letter(session)
    got = [(u.name, [(r.code, r.days_overdue) for r in u.reports]) for u in data.units]
    assert got == [
        ("UBND quận Ba Đình", [(city.codes["H"], 12), (city.codes["I"], 11)]),
        ("UBND quận Hoàn Kiếm", [(city.codes["C"], 11), (city.codes["D"], 9)]),
        ("Sở Xây dựng", [(city.codes["K"], 5)]),
    ]
    assert (data.report_count, data.letter_date, data.is_empty) == (5, date(2024, 8, 9), False)
    assert data.units[0].longest_days == 12


def test_the_letter_can_be_written_to_chosen_units(session: Session) -> None:
    city, nobody = letter(session, unit_ids=[])
    assert nobody.is_empty  # an empty choice of units: nobody to write to
    only = build_overdue_letter(
        session, as_of=AS_OF, date_from=None, date_to=None, unit_ids=[city.units["002"]]
    )
    # Without a period O (due 15/07, 25 days late) is listed too.
    assert [r.code for r in only.units[0].reports] == [city.codes[k] for k in ("O", "C", "D")]
    text = letter_text(only)
    assert text.addressees == ("UBND quận Hoàn Kiếm",)  # one unit: addressed by name
    assert "Văn phòng UBND Thành phố đề nghị UBND quận Hoàn Kiếm:" in text.paragraphs[1]


def test_a_letter_for_a_past_moment_lists_what_was_overdue_then(session: Session) -> None:
    city = build_overdue_city(session)
    data = build_overdue_letter(session, as_of=PAST, date_from=PERIOD[0], date_to=PERIOD[1])
    # On 31 Jul at 12:00 B was approved but not yet published, 3 h past its deadline.
    assert [(u.name, [r.code for r in u.reports]) for u in data.units] == [
        ("UBND quận Ba Đình", [city.codes["H"], city.codes["I"]]),
        ("UBND quận Hoàn Kiếm", [city.codes["C"], city.codes["B"]]),
    ]
    assert data.letter_date == date(2024, 7, 31)


def test_nothing_overdue_makes_an_empty_letter(session: Session) -> None:
    build_overdue_city(session)
    data = build_overdue_letter(
        session, as_of=AS_OF, date_from=date(2024, 8, 5), date_to=date(2024, 8, 11)
    )
    assert data.is_empty and data.report_count == 0
    text = letter_text(data)
    assert "không có PAKN nào quá hạn" in text.paragraphs[0]
    assert overdue_letter_docx(data)[:2] == b"PK"  # still renders, for a preview
    assert overdue_letter_pdf(data)[:5] == b"%PDF-"


# ------------------------------------------------------------------ the words


@pytest.mark.parametrize(
    ("day", "words"),
    [
        (date(2024, 9, 23), "ngày 23 tháng 9 năm 2024"),
        (date(2024, 2, 5), "ngày 05 tháng 02 năm 2024"),
        (date(2024, 1, 15), "ngày 15 tháng 01 năm 2024"),
        (date(2024, 12, 1), "ngày 01 tháng 12 năm 2024"),
        (None, "ngày ..... tháng ..... năm ......."),
    ],
)
def test_dates_are_written_as_the_decree_says(day: date | None, words: str) -> None:
    assert vn_date_words(day) == words


def test_the_wording_says_when_for_which_period_and_how_many(session: Session) -> None:
    _, data = letter(session, reply_by=date(2024, 8, 16))
    text = letter_text(data)
    first = text.paragraphs[0]
    assert "tính đến 11 giờ 00 ngày 09/08/2024" in first
    assert "gửi từ ngày 15/07/2024 đến ngày 09/08/2024" in first
    assert "còn 5 PAKN quá hạn chưa được xử lý tại 3 đơn vị" in first
    assert "UBND quận Ba Đình, UBND quận Hoàn Kiếm, Sở Xây dựng" in first
    assert "trước ngày 16/08/2024" in text.paragraphs[2]
    # A district and a department: both groups of the city's addressees, dashed.
    assert text.addressees == (
        "- Thủ trưởng, Giám đốc các Sở, ban, ngành, đơn vị thuộc Thành phố;",
        "- Chủ tịch UBND các quận, huyện, thị xã.",
    )
    assert text.number_line == "Số: ......../VP-TTĐT"  # the office numbers it when signing
    assert text.paragraphs[-1].endswith("biết, thực hiện./.")


# ------------------------------------------------------------------ .docx


def test_docx_reopens_with_header_units_and_codes(session: Session) -> None:
    city, data = letter(session)
    content = overdue_letter_docx(data)
    text = docx_text(content)
    for line in (*HEADER, *UNITS, "Kính gửi:", "Nơi nhận:", "KT. CHÁNH VĂN PHÒNG"):
        assert line in text, line
    for key in ("H", "I", "C", "D", "K"):
        assert city.codes[key] in text, key
        assert city.titles[key] in text, key
    # G is overdue at the city office itself, O before the period: neither is listed.
    assert city.codes["G"] not in text and city.codes["O"] not in text
    assert "29/07/2024 10:00" in text  # H's deadline
    assert unicodedata.is_normalized("NFC", text)


def test_docx_is_a4_with_the_decrees_margins(session: Session) -> None:
    _, data = letter(session)
    document = docx.Document(io.BytesIO(overdue_letter_docx(data)))
    section = document.sections[0]
    assert section.page_width is not None and section.page_height is not None
    assert (round(section.page_width.cm, 1), round(section.page_height.cm, 1)) == (21.0, 29.7)
    assert section.left_margin is not None and round(section.left_margin.cm, 1) == 3.0
    detail = document.tables[-1]  # Sở Xây dựng's reports
    assert [c.text for c in detail.rows[0].cells] == list(data.wording.detail_headers)
    assert [c.text for c in detail.rows[1].cells][1:3] == [
        data.units[2].reports[0].code,
        "Chậm cấp giấy phép xây dựng nhà ở riêng lẻ",
    ]


# ------------------------------------------------------------------ .pdf


def test_pdf_embeds_a_vietnamese_font(session: Session) -> None:
    _, data = letter(session)
    content = overdue_letter_pdf(data)
    assert content.startswith(b"%PDF-")
    assert b"/FontFile2" in content  # the TrueType program itself is embedded
    assert b"DejaVu" in content


def test_pdf_text_has_header_units_and_codes(session: Session, tmp_path: Path) -> None:
    city, data = letter(session)
    text = pdf_text(overdue_letter_pdf(data), tmp_path)
    for line in (*HEADER, *UNITS, "Kính gửi:"):
        assert line in text, line
    for key in ("H", "I", "C", "D", "K"):
        assert city.codes[key] in text, key
    assert city.codes["G"] not in text
    assert "DANH SÁCH PHẢN ÁNH, KIẾN NGHỊ QUÁ HẠN CHƯA ĐƯỢC XỬ LÝ" in text


def test_pdf_fonts_are_found_or_a_clear_error_is_raised(tmp_path: Path) -> None:
    with pytest.raises(FontNotFound, match="fonts-dejavu-core") as caught:
        find_pdf_font([tmp_path])
    assert tmp_path / "DejaVuSerif.ttf" in caught.value.searched
    assert not letters.pdf_font_available([tmp_path])

    installed = find_pdf_font()  # this machine has fonts-dejavu-core (Makefile system-deps)
    only_sans = tmp_path / "sans"
    only_sans.mkdir()
    for name in ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf"):
        shutil.copy(installed.regular.parent / name, only_sans / name)
    font = find_pdf_font([only_sans])
    assert (font.family, font.italic) == ("DejaVuSans", None)  # italic falls back to regular


def test_pdf_with_the_sans_fallback_renders(session: Session, tmp_path: Path) -> None:
    _, data = letter(session)
    installed = find_pdf_font()
    sans = letters.PdfFont(
        "DejaVuSans",
        installed.regular.parent / "DejaVuSans.ttf",
        installed.regular.parent / "DejaVuSans-Bold.ttf",
        None,
    )
    text = pdf_text(overdue_letter_pdf(data, font=sans), tmp_path)
    assert "Độc lập - Tự do - Hạnh phúc" in text


# ------------------------------------------------------------------ CLI


def test_cli_writes_the_letter(
    session: Session,
    db_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    city = build_overdue_city(session)
    session.commit()
    monkeypatch.setenv("DATABASE_URL", db_url)
    out = tmp_path / "cong-van.docx"
    args = ["overdue-letter", "--as-of", "2024-08-09T11:00", "--from", "15/07/2024"]
    code = cli_main([*args, "--to", "2024-08-09", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "5 overdue reports at 3 units" in capsys.readouterr().out
    assert city.codes["K"] in docx_text(out.read_bytes())

    pdf = tmp_path / "sxd.pdf"
    assert cli_main([*args, "--unit", "SXD", "--format", "pdf", "-o", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF-")

    nothing = tmp_path / "none.docx"
    assert cli_main(["overdue-letter", "--as-of", "2024-07-01", "-o", str(nothing)]) == 1
    assert not nothing.exists()
    assert "no letter written" in capsys.readouterr().err

    assert cli_main([*args, "--unit", "NOPE", "-o", str(out)]) == 1
    assert "unknown handling unit code 'NOPE'" in capsys.readouterr().err
    assert cli_main([*args, "-o", str(tmp_path / "letter.txt")]) == 2
