"""Server-side SVG charts (pygal), inlined in the page: no JavaScript, no CDN.

Every chart is decorative next to its data table, which is the accessible alternative; the
SVG gets a title and the tables carry the numbers.
"""

from __future__ import annotations

import pygal
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from pygal.style import Style

from surveys.models import Kind

from . import scoring

CATEGORY_COLOURS = {1: "#1a7f37", 0: "#9a6700", -1: "#cf222e"}

_STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#212529",
    foreground_strong="#212529",
    foreground_subtle="#6c757d",
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    colors=("#0b3d91", "#5b7bb8", "#5b7bb8"),
    label_font_size=11,
    major_label_font_size=11,
    legend_font_size=11,
    value_font_size=10,
    tooltip_font_size=11,
)


def _config(**kwargs) -> dict:
    return {
        "style": _STYLE,
        "js": [],  # pygal links its tooltip script from a CDN by default
        "disable_xml_declaration": True,
        "explicit_size": False,
        "show_legend": True,
        "legend_at_bottom": True,
        "width": 760,
        "height": 300,
        "margin": 8,
        # pygal cuts long labels ("2026-11…") by default: dates and names are shown whole.
        "truncate_label": -1,
        "truncate_legend": -1,
        **kwargs,
    }


def _render(chart) -> SafeString:
    # pygal builds the SVG with an XML library, so labels and titles are escaped.
    return mark_safe(chart.render(is_unicode=True))  # noqa: S308


def headline(kind: str, row: dict) -> tuple[float | None, tuple[float, float] | None]:
    """The number a chart plots for a kind: NPS, or the top-box / agree percentage."""
    if kind == Kind.NPS:
        return row["nps"].score, row["nps"].ci95
    return row["share"].pct, row["share"].ci95


def trend_chart(
    kind: str,
    rows: list[dict],
    date_format: str = "%Y-%m",
    *,
    buckets: list | None = None,
) -> SafeString | None:
    """Line of the score per period with its 95% interval drawn as dashed bounds.

    With `buckets` (every period of the range), periods without answers are gaps: the line is
    broken there, never drawn straight across months or days that had no answers.
    """
    if not rows:
        return None
    by_bucket = {row["bucket"]: row for row in rows}
    axis = buckets if buckets else [row["bucket"] for row in rows]
    lo_axis, hi_axis = (-100, 100) if kind == Kind.NPS else (0, 100)
    chart = pygal.Line(
        **_config(
            # xgettext:no-python-format
            title=_("Trend with 95% interval"),
            range=(lo_axis, hi_axis),
            x_label_rotation=0 if len(axis) <= 12 else 45,
            show_minor_x_labels=len(axis) <= 24,
            x_labels_major_every=max(1, len(axis) // 12),
            dots_size=3,
            allow_interruptions=True,
        )
    )
    chart.x_labels = [bucket.strftime(date_format) for bucket in axis]
    scores, lows, highs = [], [], []
    for bucket in axis:
        row = by_bucket.get(bucket)
        score, ci = headline(kind, row) if row else (None, None)
        scores.append(scoring.rounded(score))
        lows.append(None if ci is None else scoring.rounded(ci[0]))
        highs.append(None if ci is None else scoring.rounded(ci[1]))
    chart.add(_("NPS") if kind == Kind.NPS else _("Score %"), scores, stroke_style={"width": 3})
    # xgettext:no-python-format
    chart.add(_("95% lower"), lows, show_dots=False, stroke_style={"dasharray": "4, 4"})
    # xgettext:no-python-format
    chart.add(_("95% upper"), highs, show_dots=False, stroke_style={"dasharray": "4, 4"})
    return _render(chart)


def distribution_chart(points: list[tuple[int, int, int]]) -> SafeString | None:
    """Answers per scale point, each bar coloured by its category. points: (score, n, cat)."""
    if not any(count for _score, count, _category in points):
        return None
    chart = pygal.Bar(
        **_config(title=_("Answers per score"), show_legend=False, height=260, width=520)
    )
    chart.x_labels = [str(score) for score, _count, _category in points]
    chart.add(
        _("Answers"),
        [
            {"value": count, "color": CATEGORY_COLOURS.get(category, "#6c757d")}
            for _score, count, category in points
        ],
    )
    return _render(chart)
