"""The canonical field names of an interchange record, shared by import and export.

The 17 GeoReport v2 fields keep their Open311 spelling so that other cities' tools read
our files unchanged; our own state travels in `ihanoi_`-prefixed fields, which are
valid JSON keys, XML element names and CSV headers alike, and which a foreign Open311
consumer simply ignores. A record carrying `ihanoi_status` is one of our own exports
and is restored exactly (round trip); a record without it is a foreign report.
"""

from __future__ import annotations

from typing import Final

# --- Open311 GeoReport v2 (service request fields, in the spec's order)
SERVICE_REQUEST_ID: Final = "service_request_id"
STATUS: Final = "status"
STATUS_NOTES: Final = "status_notes"
SERVICE_NAME: Final = "service_name"
SERVICE_CODE: Final = "service_code"
DESCRIPTION: Final = "description"
AGENCY_RESPONSIBLE: Final = "agency_responsible"
SERVICE_NOTICE: Final = "service_notice"
REQUESTED_DATETIME: Final = "requested_datetime"
UPDATED_DATETIME: Final = "updated_datetime"
EXPECTED_DATETIME: Final = "expected_datetime"
ADDRESS: Final = "address"
ADDRESS_ID: Final = "address_id"
ZIPCODE: Final = "zipcode"
LAT: Final = "lat"
LONG: Final = "long"
MEDIA_URL: Final = "media_url"

OPEN311_FIELDS: Final[tuple[str, ...]] = (
    SERVICE_REQUEST_ID,
    STATUS,
    STATUS_NOTES,
    SERVICE_NAME,
    SERVICE_CODE,
    DESCRIPTION,
    AGENCY_RESPONSIBLE,
    SERVICE_NOTICE,
    REQUESTED_DATETIME,
    UPDATED_DATETIME,
    EXPECTED_DATETIME,
    ADDRESS,
    ADDRESS_ID,
    ZIPCODE,
    LAT,
    LONG,
    MEDIA_URL,
)

# Open311 status values (the spec knows only these two).
OPEN311_OPEN: Final = "open"
OPEN311_CLOSED: Final = "closed"

# --- our extension (unit/district/ward/category are CODES, never names or ids)
PREFIX: Final = "ihanoi_"
IHANOI_CODE: Final = "ihanoi_code"
IHANOI_KIND: Final = "ihanoi_kind"
IHANOI_TITLE: Final = "ihanoi_title"
IHANOI_STATUS: Final = "ihanoi_status"
IHANOI_PRIORITY: Final = "ihanoi_priority"
IHANOI_CATEGORY: Final = "ihanoi_category"
IHANOI_UNIT: Final = "ihanoi_unit"
IHANOI_DISTRICT: Final = "ihanoi_district"
IHANOI_WARD: Final = "ihanoi_ward"
IHANOI_RECEIVED_DATETIME: Final = "ihanoi_received_datetime"
IHANOI_ARRIVED_DATETIME: Final = "ihanoi_arrived_datetime"
IHANOI_DUE_DATETIME: Final = "ihanoi_due_datetime"
IHANOI_RECEIPT_DUE_DATETIME: Final = "ihanoi_receipt_due_datetime"
IHANOI_FINISHED_DATETIME: Final = "ihanoi_finished_datetime"
IHANOI_RESULT: Final = "ihanoi_result"
IHANOI_IS_PUBLIC: Final = "ihanoi_is_public"
IHANOI_RATING: Final = "ihanoi_rating"
IHANOI_RATED_DATETIME: Final = "ihanoi_rated_datetime"
IHANOI_BOUNCE_COUNT: Final = "ihanoi_bounce_count"
IHANOI_ROUTING_FLAG: Final = "ihanoi_routing_flag"
IHANOI_SOURCE: Final = "ihanoi_source"
# The refusals "not our function" in the report's history, oldest first, as
# `UNITCODE@ISO-8601-time` entries joined by RETURNED_BY_SEPARATOR
# ("002@2024-08-05T09:00:00+07:00;SXD@2024-08-06T14:30:00+07:00"): per-unit
# "returned as not ours" counts are read from the history, so they travel with it.
IHANOI_RETURNED_BY: Final = "ihanoi_returned_by"
RETURNED_BY_SEPARATOR: Final = ";"
RETURNED_BY_AT: Final = "@"

IHANOI_FIELDS: Final[tuple[str, ...]] = (
    IHANOI_CODE,
    IHANOI_KIND,
    IHANOI_TITLE,
    IHANOI_STATUS,
    IHANOI_PRIORITY,
    IHANOI_CATEGORY,
    IHANOI_UNIT,
    IHANOI_DISTRICT,
    IHANOI_WARD,
    IHANOI_RECEIVED_DATETIME,
    IHANOI_ARRIVED_DATETIME,
    IHANOI_DUE_DATETIME,
    IHANOI_RECEIPT_DUE_DATETIME,
    IHANOI_FINISHED_DATETIME,
    IHANOI_RESULT,
    IHANOI_IS_PUBLIC,
    IHANOI_RATING,
    IHANOI_RATED_DATETIME,
    IHANOI_BOUNCE_COUNT,
    IHANOI_RETURNED_BY,
    IHANOI_ROUTING_FLAG,
    IHANOI_SOURCE,
)

# Fields read from a report's history, not its row (`history_fields.py`); they sit
# before a never-empty column, which spreadsheet readers need to see full rows.
HISTORY_FIELDS: Final[tuple[str, ...]] = (IHANOI_RETURNED_BY,)

# Every column of an export, in file order (Open311 first, then ours).
ALL_FIELDS: Final[tuple[str, ...]] = OPEN311_FIELDS + IHANOI_FIELDS
KNOWN_FIELDS: Final[frozenset[str]] = frozenset(ALL_FIELDS)

# Fields holding a date-time (ISO 8601 with offset on export).
DATETIME_FIELDS: Final[frozenset[str]] = frozenset(
    {
        REQUESTED_DATETIME,
        UPDATED_DATETIME,
        EXPECTED_DATETIME,
        IHANOI_RECEIVED_DATETIME,
        IHANOI_ARRIVED_DATETIME,
        IHANOI_DUE_DATETIME,
        IHANOI_RECEIPT_DUE_DATETIME,
        IHANOI_FINISHED_DATETIME,
        IHANOI_RATED_DATETIME,
    }
)

# XML: the root and record element names of a GeoReport v2 requests document.
XML_ROOT: Final = "service_requests"
XML_RECORD: Final = "request"

# Formats, as spelled on the command line (`--format`) and in `ImportBatch.format`.
FORMAT_OPEN311_JSON: Final = "open311-json"
FORMAT_OPEN311_XML: Final = "open311-xml"
FORMAT_CSV: Final = "csv"
FORMAT_XLSX: Final = "xlsx"
FORMATS: Final[tuple[str, ...]] = (
    FORMAT_OPEN311_JSON,
    FORMAT_OPEN311_XML,
    FORMAT_CSV,
    FORMAT_XLSX,
)


def is_own_record(record: dict[str, object]) -> bool:
    """A record from our own export (restored exactly) rather than a foreign report."""
    value = record.get(IHANOI_STATUS)
    return value is not None and str(value).strip() != ""
