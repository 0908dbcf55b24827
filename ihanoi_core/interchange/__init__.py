"""Interchange: Open311 GeoReport v2 and spreadsheet import/export.

`fields` names the canonical columns both directions use; `importer.import_file` reads
files into reports (streaming, all-or-nothing per file unless the user accepts the
good rows only); `exporter.export_reports` writes them out. Header aliases, date
formats and limits are data in `db/reference/interchange.yaml`.
"""

from __future__ import annotations
