"""Hostile and broken files: each is refused with a clear reason or imported safely,
never crashes the import, never leaves part of a file in the database, and a huge file
is streamed in bounded memory."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from ihanoi_core.interchange.importer import BadFileError, import_file, preview_file
from ihanoi_core.models import Report

HANOI = {"lat": 21.0245, "long": 105.8522}


def _request(i: int, **extra: object) -> dict[str, object]:
    base: dict[str, object] = {
        "service_request_id": f"H-{i}",
        "status": "open",
        "description": f"Phản ánh {i}",
        "requested_datetime": "2024-08-05T08:15:00+07:00",
        **HANOI,
    }
    base.update(extra)
    return base


def _count(session: Session) -> int:
    session.rollback()
    return session.exec(select(sa.func.count()).select_from(Report)).one()


def _refused(path: Path, engine: sa.Engine, **kwargs: object) -> BadFileError:
    with pytest.raises(BadFileError) as refused:
        import_file(path, engine=engine, **kwargs)  # type: ignore[arg-type]
    return refused.value


XML_HEAD = '<?xml version="1.0" encoding="utf-8"?>\n'
REQUEST_XML = (
    "<request><service_request_id>X-{i}</service_request_id><status>open</status>"
    "<description>{text}</description>"
    "<requested_datetime>2024-08-05T08:15:00+07:00</requested_datetime>"
    "<lat>21.0245</lat><long>105.8522</long></request>"
)


def test_billion_laughs_is_refused(tmp_path: Path, engine: sa.Engine, session: Session) -> None:
    lol = "".join(f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
    body = (
        XML_HEAD
        + f'<!DOCTYPE service_requests [<!ENTITY lol0 "lol">{lol}]>'
        + "<service_requests>"
        + REQUEST_XML.format(i=1, text="&lol9;")
        + "</service_requests>"
    )
    path = tmp_path / "lol.xml"
    path.write_text(body, encoding="utf-8")
    assert _refused(path, engine).code == "xml_forbidden"
    assert _count(session) == 0


def test_external_entity_is_refused(tmp_path: Path, engine: sa.Engine) -> None:
    body = (
        XML_HEAD
        + '<!DOCTYPE r [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        + "<service_requests>"
        + REQUEST_XML.format(i=1, text="&xxe;")
        + "</service_requests>"
    )
    path = tmp_path / "xxe.xml"
    path.write_text(body, encoding="utf-8")
    assert _refused(path, engine).code == "xml_forbidden"


@pytest.mark.parametrize("suffix", [".csv", ".json", ".xml", ".xlsx"])
def test_binary_garbage_is_refused(suffix: str, tmp_path: Path, engine: sa.Engine) -> None:
    path = tmp_path / f"garbage{suffix}"
    path.write_bytes(bytes(range(256)) * 64)
    assert _refused(path, engine).code in ("binary_file", "bad_xlsx")


def test_truncated_xml_writes_nothing(tmp_path: Path, engine: sa.Engine, session: Session) -> None:
    records = "".join(REQUEST_XML.format(i=i, text="ok") for i in range(5000))
    body = XML_HEAD + "<service_requests>" + records + "</service_requests>"
    path = tmp_path / "cut.xml"
    path.write_text(body[: len(body) - 300], encoding="utf-8")  # cut inside record 4999
    refused = _refused(path, engine, accept_partial=True)
    assert refused.code == "truncated_file"
    assert _count(session) == 0  # 4,998 good records read and written, then rolled back


def test_truncated_json_writes_nothing(tmp_path: Path, engine: sa.Engine) -> None:
    text = json.dumps([_request(i) for i in range(3)])
    path = tmp_path / "cut.json"
    path.write_text(text[:-40], encoding="utf-8")
    refused = _refused(path, engine)
    assert (refused.code, refused.record) == ("truncated_file", 3)


def test_http_status_line_before_xml_is_skipped(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    body = (
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml; charset=utf-8\r\n\r\n"
        + XML_HEAD
        + "<service_requests>"
        + REQUEST_XML.format(i=1, text="ok")
        + "</service_requests>"
    )
    path = tmp_path / "saved_response.xml"
    path.write_text(body, encoding="utf-8")
    result = import_file(path, engine=engine)
    assert (result.imported, result.warnings) == (1, ("http_header_skipped",))
    assert _count(session) == 1


def test_latin1_bytes_declared_as_utf8(tmp_path: Path, engine: sa.Engine, session: Session) -> None:
    body = (
        XML_HEAD
        + "<service_requests>"
        + REQUEST_XML.format(i=1, text="Café près de l'église")
        + "</service_requests>"
    )
    path = tmp_path / "latin1.xml"
    path.write_bytes(body.encode("latin-1"))
    refused = _refused(path, engine)
    assert refused.code == "bad_encoding"
    assert "0xe9" in refused.detail and "--encoding" in refused.detail
    result = import_file(path, engine=engine, encoding="latin-1")
    assert result.imported == 1
    session.rollback()
    assert session.exec(select(Report.description)).one() == "Café près de l'église"


def test_duplicate_keys_with_different_values_reject_the_record(
    tmp_path: Path, engine: sa.Engine
) -> None:
    good = json.dumps(_request(1))
    dup = json.dumps(_request(2))[:-1] + ', "lat": 20.5}'  # "lat" twice, two values
    same = json.dumps(_request(3))[:-1] + ', "lat": 21.0245}'  # repeated, same value
    path = tmp_path / "dup.json"
    path.write_text(f"[{good},{dup},{same}]", encoding="utf-8")
    result = import_file(path, engine=engine, accept_partial=True)
    assert [(e.record, e.field, e.code) for e in result.rejected] == [(2, "lat", "duplicate_key")]
    assert result.imported == 2


def test_placeholder_and_swapped_coordinates(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    half = _request(3)
    del half["long"]  # half a location
    records = [
        _request(1, lat=0, long=0),  # a placeholder: imported without a location
        _request(2, lat=105.8522, long=21.0245),  # swapped: rejected, said so
        half,
        _request(4, requested_datetime="2024-08-05 08:15"),  # no zone: Hanoi time
    ]
    path = tmp_path / "coords.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    result = import_file(path, engine=engine, accept_partial=True)
    assert [(e.record, e.field, e.code) for e in result.rejected] == [
        (2, "lat", "coordinates_swapped"),
        (3, "long", "location_incomplete"),
    ]
    assert set(result.warnings) == {"zero_coordinates", "naive_datetime"}
    session.rollback()
    placeholder = session.exec(select(Report).where(Report.source_ref == "H-1")).one()
    assert (placeholder.lat, placeholder.lon, placeholder.routing_flag) == (
        None,
        None,
        "no_location",
    )


def test_gigantic_csv_line_is_refused_without_holding_it(tmp_path: Path, engine: sa.Engine) -> None:
    path = tmp_path / "huge_line.csv"
    with path.open("w", encoding="utf-8") as fh:
        fh.write("service_request_id,description\nA-1,")
        fh.write("x" * 5_000_000)
        fh.write("\n")
    tracemalloc.start()
    refused = _refused(path, engine)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert (refused.code, refused.record) == ("line_too_long", 2)
    assert peak < 12_000_000  # the 1 MiB limit plus a chunk, not 5 MB of text x copies


def test_a_200_mb_file_is_streamed_in_bounded_memory(
    tmp_path: Path, engine: sa.Engine, session: Session
) -> None:
    """Three records separated by 200 MB of blanks: read through, never held."""
    path = tmp_path / "big.json"
    blank = b" " * (1 << 20)
    with path.open("wb") as fh:
        fh.write(b"[" + json.dumps(_request(1)).encode())
        for _ in range(100):
            fh.write(blank)
        fh.write(b"," + json.dumps(_request(2)).encode())
        for _ in range(100):
            fh.write(blank)
        fh.write(b"," + json.dumps(_request(3)).encode() + b"]")
    assert path.stat().st_size > 200_000_000
    tracemalloc.start()
    result = import_file(path, engine=engine, source="big")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert (result.total, result.imported) == (3, 3)
    assert peak < 40_000_000  # routing tables included; the file itself is 200 MB
    assert _count(session) == 3


def test_script_in_description_is_kept_as_text(tmp_path: Path, engine: sa.Engine) -> None:
    path = tmp_path / "xss.json"
    payload = '<script>alert("x")</script> =HYPERLINK("http://evil")'
    path.write_text(json.dumps([_request(1, description=payload)]), encoding="utf-8")
    preview = preview_file(path)
    assert preview.rows[0]["description"] == payload  # data, shown escaped by the UI
    assert import_file(path, engine=engine).imported == 1


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b'[{"code": 403, "description": "api_key missing"}]', "open311_error_response"),
        (b'{"service_requests": [1, 2]', "truncated_file"),
        (b"<services><service/></services>", "services_document"),
        (b'[{"a": 0x1}]', "json_syntax"),  # (a bare 001 is read as "001": test_import_open311)
        (b'[{"a": "x"} {"b": 1}]', "json_syntax"),
    ],
)
def test_other_bad_files(content: bytes, code: str, tmp_path: Path, engine: sa.Engine) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    assert _refused(path, engine).code == code
