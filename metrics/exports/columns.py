"""What an export holds: its options, its columns and the queryset of answers it reads."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connections
from django.db.models import (
    QuerySet,
)
from django.utils.translation import gettext as _

from metrics import selectors
from surveys.models import Response, Survey

logger = logging.getLogger(__name__)

BOM = "\ufeff".encode()
MAX_PROPERTY_COLUMNS = 100
XLSX_MAX_ROWS = 1_048_575  # Excel's sheet limit, less the header row
PROGRESS_EVERY = 5_000

# (header, ORM lookup on Response, kind of value)
BASE_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("response_id", "public_id", "uuid"),
    ("survey", "survey__slug", "text"),
    ("survey_name", "survey__name", "text"),
    ("kind", "survey__kind", "code"),
    ("score", "score", "int"),
    ("category", "category", "category"),
    ("comment", "comment", "text"),
    ("reason", "reason", "text"),
    ("confirmed_via", "confirmed_via", "code"),
    ("answered_at_utc", "answered_at", "utc"),
    ("answered_at_local", "answered_at", "local"),
    ("contact_email", "contact__email", "text"),
    ("contact_name", "contact__name", "text"),
    ("contact_language", "contact__language", "code"),
    ("account_external_id", "account__external_id", "text"),
    ("account_name", "account__name", "text"),
    ("account_plan", "account__plan", "text"),
    ("account_segment", "account__segment", "text"),
    ("account_region", "account__region", "text"),
    ("account_owner", "account__owner__username", "text"),
    ("account_status", "account__status", "code"),
    ("account_mrr", "account__mrr", "money"),
    ("account_arr", "account__mrr", "arr"),
    ("account_currency", "account__currency", "code"),
    # "true" for a suspected bot's answer held out of every score (only in exports that ask
    # for quarantined answers; the default export leaves them out, as the reports do).
    ("quarantined", "quarantined", "bool"),
    # "true" when the answer was ever flagged as a suspected bot (it stays after a release:
    # the evidence), and when it counts in no score (quarantined, or excluded by staff).
    ("suspected_bot", "suspected_bot", "bool"),
    ("excluded", "excluded", "bool"),
)
PROPERTY_PREFIX = "property_"


class ExportError(Exception):
    """An export that cannot be produced as asked; the message is shown to the user."""


# --- Options and filters --------------------------------------------------------------------


@dataclass(frozen=True)
class ExportOptions:
    tz: str = "UTC"
    excel: bool = False  # UTF-8 with a byte-order mark and `;` between cells
    # Quarantined answers (suspected bots): left out as in the reports ("exclude", the
    # default), added ("include") or alone ("only"), with the `quarantined` column saying which.
    quarantined: str = "exclude"

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def delimiter(self) -> str:
        return ";" if self.excel else ","

    def as_dict(self) -> dict:
        return {"tz": self.tz, "excel": self.excel, "quarantined": self.quarantined}

    @classmethod
    def from_dict(cls, data: dict) -> ExportOptions:
        tz = data.get("tz") or settings.TIME_ZONE
        try:
            ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ExportError(_("Unknown time zone: %(tz)s") % {"tz": tz}) from None
        quarantined = data.get("quarantined") or "exclude"
        if quarantined not in selectors.QUARANTINED_CHOICES:
            raise ExportError(
                _("Unknown choice for quarantined answers: %(value)s") % {"value": quarantined}
            )
        return cls(tz=tz, excel=bool(data.get("excel")), quarantined=quarantined)


FILTER_FIELDS = ("plan", "segment", "region", "status", "language")


def filters_as_dict(filters: selectors.Filters) -> dict:
    """The JSON kept on the job and in the audit log; `filters_from_dict` reads it back."""
    return {
        "start": filters.period.start.isoformat() if filters.period.start else None,
        "end": filters.period.end.isoformat() if filters.period.end else None,
        "tz": str(filters.period.tz),
        "kind": filters.kind,
        "surveys": list(filters.surveys),
        "owner": filters.owner,
        **{name: getattr(filters, name) for name in FILTER_FIELDS},
        "property_key": filters.property_key,
        "property_value": filters.property_value,
    }


def filters_from_dict(data: dict) -> selectors.Filters:
    tz = ZoneInfo(data.get("tz") or settings.TIME_ZONE)
    period = selectors.Period(
        dt.date.fromisoformat(data["start"]) if data.get("start") else None,
        dt.date.fromisoformat(data["end"]) if data.get("end") else None,
        tz,
    )
    return selectors.Filters(
        period=period,
        kind=data.get("kind") or "",
        surveys=tuple(data.get("surveys") or ()),
        owner=data.get("owner") or None,
        **{name: data.get(name) or "" for name in FILTER_FIELDS},
        property_key=data.get("property_key") or "",
        property_value=data.get("property_value") or "",
    )


def export_queryset(filters: selectors.Filters, quarantined: str = "exclude") -> QuerySet[Response]:
    """The responses an export holds: exactly what the reports count with these filters (plus
    or only the quarantined ones, when asked).

    Without a survey or a kind, every kind is exported.
    """
    if not filters.surveys and not filters.kind:
        filters = replace(filters, surveys=tuple(Survey.objects.values_list("pk", flat=True)))
        if not filters.surveys:
            return Response.objects.none()
    return selectors.counted_responses(filters=filters, quarantined=quarantined).order_by(
        "answered_at", "pk"
    )


def property_keys(queryset: QuerySet[Response]) -> list[str]:
    """The invitation property names present in the exported rows, sorted (one query)."""
    invitations = queryset.order_by().filter(invitation__isnull=False).values("invitation_id")
    db = queryset.db
    connection = connections[db]
    sql, params = invitations.query.get_compiler(using=db).as_sql()
    statement = (
        # The inner SQL is compiled by the ORM; every value in it is a bound parameter.
        "SELECT DISTINCT k FROM (SELECT jsonb_object_keys(properties) AS k "  # noqa: S608
        "FROM surveys_invitation WHERE jsonb_typeof(properties) = 'object' "
        f"AND properties <> '{{}}'::jsonb AND id IN ({sql})) keys ORDER BY k LIMIT %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(statement, [*params, MAX_PROPERTY_COLUMNS])
        return [row[0] for row in cursor.fetchall()]


def headers(keys: list[str]) -> list[str]:
    # "property_..." never starts a formula: the names need no escaping.
    return [name for name, _lookup, _kind in BASE_COLUMNS] + [
        f"{PROPERTY_PREFIX}{key}" for key in keys
    ]
