"""An export's filters and options in words, for its page (what the file holds)."""

from __future__ import annotations

import datetime as dt

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

from surveys.models import Kind, Survey

from .models import ExportJob


def filters_used(job: ExportJob) -> list[tuple[str, str]]:
    """(label, value) pairs of every filter and option set on the job, in the form's order."""
    data, options = job.filters or {}, job.options or {}
    rows: list[tuple[str, str]] = []
    start, end = data.get("start"), data.get("end")
    if start or end:
        last = (dt.date.fromisoformat(end) - dt.timedelta(days=1)).isoformat() if end else "…"
        rows.append((_("Period"), f"{start or '…'} – {last}"))
    else:
        rows.append((_("Period"), _("All time")))
    rows.append((_("Time zone"), options.get("tz") or data.get("tz") or ""))
    rows.append((_("Score"), str(Kind(data["kind"]).label) if data.get("kind") else _("All kinds")))
    if data.get("surveys"):
        names = Survey.objects.filter(pk__in=data["surveys"]).values_list("name", flat=True)
        rows.append((_("Survey"), ", ".join(sorted(names))))
    labels = {
        "plan": _("Plan"),
        "segment": _("Segment"),
        "region": _("Region"),
        "status": _("Account status"),
        "language": _("Language"),
    }
    for key, label in labels.items():
        if data.get(key):
            rows.append((label, str(data[key])))
    if data.get("owner"):
        owner = get_user_model().objects.filter(pk=data["owner"]).first()
        rows.append((_("Owner"), owner.get_username() if owner else str(data["owner"])))
    if data.get("property_key"):
        rows.append((_("Property"), f"{data['property_key']} = {data.get('property_value', '')}"))
    quarantined = {
        "exclude": _("Left out, as the reports do"),
        "include": _("Included, marked in the quarantined column"),
        "only": _("Only them"),
    }
    rows.append(
        (
            _("Quarantined answers (suspected bots)"),
            quarantined.get(options.get("quarantined") or "exclude", ""),
        )
    )
    if options.get("excel"):
        rows.append((_("Format"), _("Excel-friendly CSV (byte-order mark, semicolons)")))
    return rows
