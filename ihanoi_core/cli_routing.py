"""Sub-commands `route` and `load-boundaries` of `python -m ihanoi_core`.

Contract (used by scripts and by the city's integrators):

- `route LAT LON [--on DATE]` prints one JSON object
  `{"unit_code", "unit_name", "ward_code", "ward_name"}`; before 1 July 2025 the unit
  is the district, from then on the commune (and the ward fields repeat it). Outside Hà
  Nội it prints `{"unit_code": null, "reason": "outside_hanoi"}` and exits 3.
- `route --batch [--on DATE]` reads `lat,lon` lines on stdin and writes
  `lat,lon,unit_code,unit_name` CSV lines in the same order (empty unit fields outside
  Hà Nội). A malformed line is written back with empty unit fields and reported on
  stderr with its line number; a first line `lat,lon` is treated as a header. Exit 0
  unless every data line was malformed (then 1): one bad row must not stop a batch.
- `--on` defaults to today in Asia/Ho_Chi_Minh. Bad arguments print one line, exit 2.
- Boundaries: those loaded into the database when one is configured and reachable
  (see `load-boundaries`), else the defaults; routing works with no database at all.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import math
import sys
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO

from ihanoi_core import boundaries, config
from ihanoi_core.errors import BoundaryFileError
from ihanoi_core.routing import ParsedFeature, Router, default_router, parse_boundary_file

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_OUTSIDE = 3
BATCH_CHUNK = 5_000
COVERAGE_WARNING_SHARE = 0.95


def register(subparsers: Any) -> None:
    """Add `route` and `load-boundaries`; each sets `handler(args) -> exit code`."""
    p = subparsers.add_parser(
        "route",
        help="route a point (or lat,lon lines on stdin with --batch) to its unit",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("lat", nargs="?", help="latitude in degrees (WGS84), e.g. 21.0288")
    p.add_argument("lon", nargs="?", help="longitude in degrees (WGS84), e.g. 105.8525")
    p.add_argument("--on", type=_parse_date, help="report date (default: today in Hà Nội)")
    p.add_argument("--batch", action="store_true", help="read lat,lon lines from stdin")
    p.add_argument(
        "--default-boundaries",
        action="store_true",
        help="ignore boundaries loaded into the database",
    )
    p.set_defaults(handler=cmd_route)

    p = subparsers.add_parser(
        "load-boundaries",
        help="load an official boundary GeoJSON file into the database",
        description=(
            "Validate a GeoJSON FeatureCollection of official boundaries and store it;"
            " from --valid-from on it replaces the default boundaries of its layout."
            " A file with any problem is rejected whole and nothing changes."
        ),
    )
    p.add_argument("file", type=Path, help="GeoJSON FeatureCollection (EPSG:4326, lon/lat)")
    p.add_argument(
        "--layout",
        required=True,
        choices=[layout.id for layout in boundaries.admin_layouts()],
        help="2024: districts (and wards with parent_code); 2025: communes",
    )
    p.add_argument(
        "--valid-from", required=True, type=_parse_date, help="first day the file applies"
    )
    p.add_argument("--dry-run", action="store_true", help="validate only, store nothing")
    p.set_defaults(handler=cmd_load_boundaries)


def _parse_date(text: str) -> date:
    """ISO (2025-08-01) or Vietnamese (01/08/2025) date."""
    for fmt in ("%Y-%m-%d", "%d/%m/%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD or DD/MM/YYYY): {text!r}")


def _today_in_hanoi() -> date:
    return datetime.now(config.HANOI_TZ).date()


def _coordinate(text: str | None, what: str, limit: float) -> float:
    """A finite number within ±limit, else ValueError with a sentence for people."""
    if text is None:
        raise ValueError(f"missing {what}")
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"{what} must be a number, got {text!r}") from None
    if not math.isfinite(value) or abs(value) > limit:
        raise ValueError(f"{what} {text} is out of range (-{limit:g}..{limit:g})")
    return value


def _parse_point(lat_text: str | None, lon_text: str | None) -> tuple[float, float]:
    lat = _coordinate(lat_text, "latitude", 90.0)
    lon = _coordinate(lon_text, "longitude", 180.0)
    return lat, lon


def _database_configured() -> bool:
    """True if a database is set up: DATABASE_URL, or an existing embedded SQLite file.

    Checked first so `route` never creates an empty SQLite file as a side effect.
    """
    from sqlalchemy.engine import make_url

    url = make_url(config.database_url())
    if url.get_backend_name() == "sqlite":
        database = url.database or ""
        return database not in ("", ":memory:") and Path(database).is_file()
    return True


def router_for_cli(use_database: bool = True, stderr: TextIO | None = None) -> Router:
    """The database's boundaries when usable, else the defaults (with a note on stderr)."""
    if not use_database or not _database_configured():
        return default_router()
    try:
        from ihanoi_core.db import session_scope
        from ihanoi_core.routing import router_for

        with session_scope() as session:
            return router_for(session)
    except Exception as exc:  # any database problem: routing must still work
        print(
            f"note: database not usable ({type(exc).__name__}); using the default boundaries",
            file=stderr or sys.stderr,
        )
        return default_router()


def cmd_route(args: argparse.Namespace) -> int:
    """Route one point or, with --batch, stdin lines."""
    on: date = args.on or _today_in_hanoi()
    if args.batch:
        if args.lat is not None or args.lon is not None:
            print("error: --batch reads stdin; do not also give LAT LON", file=sys.stderr)
            return EXIT_USAGE
        router = router_for_cli(not args.default_boundaries)
        return route_batch(router, on, sys.stdin, sys.stdout, sys.stderr)
    try:
        lat, lon = _parse_point(args.lat, args.lon)
    except ValueError as exc:
        print(f"error: {exc} (usage: route LAT LON [--on DATE])", file=sys.stderr)
        return EXIT_USAGE
    result = router_for_cli(not args.default_boundaries).route(lat, lon, on)
    if result.unit_code is None:
        print(json.dumps({"unit_code": None, "reason": result.reason}))
        return EXIT_OUTSIDE
    payload = {
        "unit_code": result.unit_code,
        "unit_name": result.unit_name,
        "ward_code": result.ward_code,
        "ward_name": result.ward_name,
    }
    print(json.dumps(payload, ensure_ascii=False))
    return EXIT_OK


def _chunks(lines: TextIO, size: int) -> Iterator[list[tuple[int, str]]]:
    numbered = enumerate((line.rstrip("\r\n") for line in lines), start=1)
    while chunk := list(itertools.islice(numbered, size)):
        yield chunk


def route_batch(router: Router, on: date, source: TextIO, out: TextIO, err: TextIO) -> int:
    """The `route --batch` loop: streams in chunks so any input size fits in memory."""
    writer = csv.writer(out, lineterminator="\n")
    data_lines = bad_lines = 0
    for chunk in _chunks(source, BATCH_CHUNK):
        parsed: list[tuple[list[str], tuple[float, float] | None]] = []
        for number, line in chunk:
            fields = next(csv.reader([line]), [])
            if number == 1 and [f.strip().lower() for f in fields] in (
                ["lat", "lon"],
                ["latitude", "longitude"],
            ):
                writer.writerow([*(f.strip() for f in fields), "unit_code", "unit_name"])
                continue
            data_lines += 1
            echo = [f.strip() for f in fields] if len(fields) == 2 else [line, ""]
            try:
                if not line.strip():
                    raise ValueError("empty line")
                if len(fields) != 2:
                    raise ValueError(f"expected 'lat,lon', got {len(fields)} field(s)")
                parsed.append((echo, _parse_point(fields[0].strip(), fields[1].strip())))
            except ValueError as exc:
                bad_lines += 1
                print(f"line {number}: {exc}", file=err)
                parsed.append((echo, None))
        points = [p for _, p in parsed if p is not None]
        results = iter(router.route_many(points, on))
        for echo, point in parsed:
            if point is None:
                writer.writerow([*echo, "", ""])
                continue
            result = next(results)
            writer.writerow([*echo, result.unit_code or "", result.unit_name or ""])
    out.flush()
    if data_lines and bad_lines == data_lines:
        print(f"error: all {data_lines} line(s) were malformed", file=err)
        return EXIT_FAILED
    return EXIT_OK


def cmd_load_boundaries(args: argparse.Namespace) -> int:
    """Validate, then store, an official boundary file (one transaction)."""
    from sqlalchemy.exc import SQLAlchemyError

    path: Path = args.file
    try:
        features = parse_boundary_file(path, args.layout)
        coverage = coverage_note(features, args.valid_from)
        if args.dry_run:
            print(f"ok: {len(features)} features of layout {args.layout} would be loaded")
            if coverage:
                print(coverage, file=sys.stderr)
            return EXIT_OK
        from ihanoi_core.db import session_scope, utcnow
        from ihanoi_core.routing import load_boundary_file

        with session_scope() as session:
            count = load_boundary_file(session, path, args.layout, args.valid_from, utcnow())
    except BoundaryFileError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except SQLAlchemyError as exc:
        first = str(exc).splitlines()[0] if str(exc) else ""
        print(f"error: database: {type(exc).__name__}: {first}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"loaded {count} features of layout {args.layout} from {path.name},"
        f" used from {args.valid_from.isoformat()}"
    )
    if coverage:
        print(coverage, file=sys.stderr)
    return EXIT_OK


def coverage_note(features: Sequence[ParsedFeature], valid_from: date) -> str | None:
    """A warning when a file covers much less than the city.

    A loaded file replaces the default of its layout, so a partial file makes the rest
    of the city "outside_hanoi" from its date; the operator should know before relying
    on it.
    """
    import shapely

    covered = boundaries.area_km2(shapely.union_all([f.geometry for f in features]))
    city = sum(boundaries.area_km2(d.geometry) for d in boundaries.hanoi_boundaries().districts)
    if covered >= COVERAGE_WARNING_SHARE * city:
        return None
    return (
        f"warning: the file covers {covered:,.1f} km² of Hà Nội's {city:,.0f} km²;"
        f" from {valid_from.isoformat()} reports elsewhere are routed as outside_hanoi"
    )
