"""The health history on the account page (chart and the reason for each change) and the
30-day trend arrows of the accounts list. Reads only: `metrics.health`."""

from __future__ import annotations

import copy

import pygal
from django.utils.translation import gettext as _

from accounts.models import Account

from . import charts, health
from .models import HealthSettings

# The score, then the red and green thresholds in their colours.
HISTORY_STYLE = copy.copy(charts._STYLE)
HISTORY_STYLE.colors = ("#0b3d91", "#cf222e", "#1a7f37")


def component_labels() -> dict[str, str]:
    return {
        "nps": _("NPS category of recent answers"),
        "csat": _("CSAT"),
        # xgettext:no-python-format
        "ces": _("CES (% agree)"),
        "recency": _("Response recency"),
        "support": _("Open support tickets"),
        "adoption": _("Adoption (active users / seats)"),
        "revenue": _("Revenue trend (MRR)"),
    }


def reason_text(reason, labels: dict[str, str]) -> str:
    if reason.kind == "settings":
        return _("Settings changed (v%(before)s to v%(after)s).") % {
            "before": reason.before,
            "after": reason.after,
        }
    name = labels.get(reason.name, reason.name)
    if reason.kind == "appeared":
        return _("%(name)s now has data (%(value)s): %(points)+.1f points.") % {
            "name": name,
            "value": f"{reason.after:.0f}",
            "points": reason.points,
        }
    if reason.kind == "gone":
        return _("%(name)s has no data any more: %(points)+.1f points.") % {
            "name": name,
            "points": reason.points,
        }
    return _("%(name)s %(before)s → %(after)s: %(points)+.1f points.") % {
        "name": name,
        "before": f"{reason.before:.0f}",
        "after": f"{reason.after:.0f}",
        "points": reason.points,
    }


def history_chart(points: list[health.HistoryPoint], settings: HealthSettings):
    scored = [(point.day, point.score) for point in points if point.score is not None]
    if len(scored) < 2:
        return None
    chart = pygal.DateLine(
        **charts._config(
            title=_("Health score, daily snapshots"),
            range=(0, 100),
            height=260,
            dots_size=1,
            x_value_formatter=lambda day: day.strftime("%Y-%m-%d"),
            x_label_rotation=30,
            x_labels_major_count=8,
            show_minor_x_labels=False,
            style=HISTORY_STYLE,
        )
    )
    chart.add(_("Health"), scored, stroke_style={"width": 2})
    first, last = scored[0][0], scored[-1][0]
    chart.add(
        _("Red below"),
        [(first, settings.red_below), (last, settings.red_below)],
        show_dots=False,
        stroke_style={"dasharray": "4, 4"},
    )
    chart.add(
        _("Green from"),
        [(first, settings.green_from), (last, settings.green_from)],
        show_dots=False,
        stroke_style={"dasharray": "4, 4"},
    )
    return charts._render(chart)


def account_health(account: Account, health_settings: HealthSettings) -> dict:
    """The account page's health history: a chart of the snapshots, and the changes, newest
    first, each with its reasons."""
    points = health.account_history(account=account)
    labels = component_labels()
    changes = [
        {
            "day": point.day,
            "score": point.score,
            "colour": point.colour,
            "change": point.change,
            "reasons": [reason_text(reason, labels) for reason in point.reasons],
        }
        for point in reversed(points)
        if point.reasons or point.change
    ]
    return {
        "health_chart": history_chart(points, health_settings),
        "health_changes": changes[:30],
        "health_snapshots": len(points),
        "component_names": labels,
    }


def with_trends(rows: list) -> list:
    """Give each row of a page of accounts `health_trend`: (arrow, score 30 days before)."""
    found = health.trends(scores={row.account.pk: row.health.score for row in rows})
    for row in rows:
        row.health_trend = found.get(row.account.pk, (None, None))
    return rows
