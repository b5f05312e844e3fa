"""CSV import of subscription-ledger events: validate every row, then append all or nothing.

Columns: account (the account's external id), external_id (the event's id, unique in the
file), effective_at (ISO 8601 date-time, or YYYY-MM-DD for midnight; without an offset read in
the import's time zone), mrr, currency; optional plan, quantity, renews_on. Each row is checked
with the same rules as `POST /api/v1/subscription-events`; every bad row is listed with its
line number and nothing is written. Re-importing a file adds nothing (events are keyed by
external id); unknown accounts are created.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from zoneinfo import ZoneInfo

from django.conf import settings
from django.utils.translation import gettext as _

from accounts.contact_rows import decimal_text
from accounts.imports import (
    CHUNK,
    ImportFileError,
    ImportResult,
    RowError,
    read_rows,
)

from . import services
from .api import SubscriptionEventInSerializer
from .models import Source, SubscriptionEvent

REQUIRED = ("account", "external_id", "effective_at", "mrr", "currency")
OPTIONAL = ("plan", "quantity", "renews_on")


def _row_data(row: dict[str, str], tz: ZoneInfo) -> dict:
    data = {name: row[name] for name in (*REQUIRED, *OPTIONAL) if row.get(name)}
    if "mrr" in data:
        data["mrr"] = decimal_text(data["mrr"])
    when = data.get("effective_at", "")
    if when:
        try:
            parsed = (
                dt.datetime.combine(dt.date.fromisoformat(when), dt.time.min)
                if len(when) == 10
                else dt.datetime.fromisoformat(when)
            )
        except ValueError:
            pass  # the serializer names the field
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=tz)
            data["effective_at"] = parsed.isoformat()
    return data


def import_events(
    *,
    source,
    actor=None,
    dry_run: bool = False,
    tz: ZoneInfo | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate a CSV of ledger events, then append them all, or nothing if any row is bad.
    Idempotent: importing the same file twice adds nothing the second time."""
    tz = tz or ZoneInfo(settings.TIME_ZONE)
    header, rows = read_rows(source)
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in (*REQUIRED, *OPTIONAL)]
    if missing or unknown:
        raise ImportFileError(
            _("The header needs %(required)s (and may have %(optional)s); %(problem)s.")
            % {
                "required": ", ".join(REQUIRED),
                "optional": ", ".join(OPTIONAL),
                "problem": (
                    _("missing: %(names)s") % {"names": ", ".join(missing)}
                    if missing
                    else _("unknown: %(names)s") % {"names": ", ".join(unknown)}
                ),
            }
        )
    result = ImportResult(dry_run=dry_run)
    events: list[services.EventInput] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        result.rows += 1
        if progress and result.rows % CHUNK == 0:
            progress(result.rows)
        if "__error__" in row:
            result.errors.append(RowError(line, row["__error__"]))
            continue
        serializer = SubscriptionEventInSerializer(data=_row_data(row, tz))
        if not serializer.is_valid():
            reasons = "; ".join(
                f"{field}: {' '.join(str(m) for m in messages)}"
                for field, messages in serializer.errors.items()
            )
            result.errors.append(RowError(line, reasons))
            continue
        data = serializer.validated_data
        if data["external_id"] in seen:
            result.errors.append(
                RowError(
                    line,
                    _("Event %(id)s already appears on line %(other)s.")
                    % {"id": data["external_id"], "other": seen[data["external_id"]]},
                )
            )
            continue
        seen[data["external_id"]] = line
        event = serializer.to_event(data)
        events.append(replace(event, raw={"csv_line": line, **row}))
    if progress:
        progress(result.rows)
    if result.errors:
        return result
    existing = set(
        SubscriptionEvent.objects.filter(source=Source.CSV, external_id__in=list(seen)).values_list(
            "external_id", flat=True
        )
    )
    result.counts = {
        "events_added": len(seen) - len(existing),
        "events_already_imported": len(existing),
    }
    if not dry_run:
        services.record_events(events=events, source=Source.CSV)
        result.applied = True
    return result
