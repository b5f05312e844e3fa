"""The revenue report page (`/reports/revenue/`), its CSV exports, and the account page's MRR
history. Reads only; every number comes from `revenue_selectors` and `revenue_scoring`."""

from __future__ import annotations

import csv
import datetime as dt
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pygal
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.models import Account
from accounts.roles import VIEW_REPORTS, permission_required
from outcomes.models import Source
from surveys.models import Kind, Survey

from . import charts, revenue_api, revenue_report
from . import revenue_scoring as rs
from . import revenue_selectors as sel

TOP_MOVERS = 10
MOVEMENT_COLOURS = {
    "start": "#0b3d91",
    "new": "#1a7f37",
    "reactivation": "#2da44e",
    "expansion": "#57ab5a",
    "contraction": "#d4a72c",
    "churn": "#cf222e",
    "end": "#0b3d91",
}


def movement_labels() -> dict[str, str]:
    return {
        "new": _("New"),
        "reactivation": _("Reactivation"),
        "expansion": _("Expansion"),
        "contraction": _("Contraction"),
        "churn": _("Churn"),
    }


def category_labels() -> dict[str, str]:
    return {
        "promoters": _("Promoters"),
        "passives": _("Passives"),
        "detractors": _("Detractors"),
        "satisfied": _("Satisfied"),
        "not_satisfied": _("Not satisfied"),
        "no_answer": _("No answer"),
    }


class RevenueFilterForm(forms.Form):
    start = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    end = forms.DateField(
        label=gettext_lazy("Until (exclusive)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
    )
    tz = forms.CharField(label=gettext_lazy("Time zone"), required=False, max_length=64)
    plan = forms.ChoiceField(label=gettext_lazy("Plan"), required=False)
    segment = forms.ChoiceField(label=gettext_lazy("Segment"), required=False)
    region = forms.ChoiceField(label=gettext_lazy("Region"), required=False)
    owner = forms.ModelChoiceField(
        label=gettext_lazy("Owner"), required=False, queryset=get_user_model().objects.none()
    )
    survey = forms.ModelChoiceField(
        label=gettext_lazy("NPS survey"),
        required=False,
        queryset=Survey.objects.none(),
        to_field_name="slug",
        empty_label=gettext_lazy("All NPS surveys"),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        combos = set(Account.objects.values_list("plan", "segment", "region").distinct())
        for i, name in enumerate(("plan", "segment", "region")):
            values = sorted({combo[i] for combo in combos if combo[i]})
            self.fields[name].choices = [("", _("All"))] + [(v, v) for v in values]
        self.fields["owner"].queryset = get_user_model().objects.filter(is_staff=True)
        self.fields["survey"].queryset = Survey.objects.filter(kind=Kind.NPS).order_by("name")

    def clean_tz(self) -> ZoneInfo:
        value = self.cleaned_data.get("tz") or settings.TIME_ZONE
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise forms.ValidationError(_("Unknown time zone.")) from None

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            self.add_error("end", _("The end date must be after the start."))
        return data

    def window(self) -> sel.Window | None:
        """The period asked for; by default the last 12 complete months. None when invalid."""
        if self.is_bound and not self.is_valid():
            return None
        data = self.cleaned_data if self.is_bound else {}
        tz = data.get("tz") or ZoneInfo(settings.TIME_ZONE)
        this_month = timezone.now().astimezone(tz).date().replace(day=1)
        end = data.get("end") or this_month
        start = data.get("start") or sel.add_months(end.replace(day=1), -12)
        if end <= start:
            return None
        return sel.Window(start, end, tz)

    def filters(self) -> sel.RevenueFilters:
        data = self.cleaned_data if self.is_bound and self.is_valid() else {}
        owner = data.get("owner")
        return sel.RevenueFilters(
            plan=data.get("plan") or "",
            segment=data.get("segment") or "",
            region=data.get("region") or "",
            owner=owner.pk if owner else None,
        )


def waterfall_chart(bridge: rs.Bridge) -> str:
    """start -> new -> reactivation -> expansion -> contraction -> churn -> end, as floating
    bars (an invisible base under each step)."""
    labels = movement_labels()
    steps = [
        (_("Start"), Decimal(0), bridge.mrr_start, "start"),
    ]
    level = bridge.mrr_start
    for kind in ("new", "reactivation", "expansion"):
        amount = getattr(bridge, kind)
        steps.append((labels[kind], level, amount, kind))
        level += amount
    for kind in ("contraction", "churn"):
        amount = getattr(bridge, kind)
        level -= amount
        steps.append((labels[kind], level, amount, kind))
    steps.append((_("End"), Decimal(0), bridge.mrr_end, "end"))
    chart = pygal.StackedBar(
        **charts._config(
            show_legend=False,
            title=_("MRR bridge (%(currency)s)") % {"currency": bridge.currency},
            height=280,
        )
    )
    chart.x_labels = [label for label, _base, _amount, _kind in steps]
    chart.add("", [{"value": float(base), "color": "transparent"} for _l, base, _a, _k in steps])
    chart.add(
        _("MRR"),
        [
            {"value": float(amount), "color": MOVEMENT_COLOURS[kind]}
            for _l, _base, amount, kind in steps
        ],
    )
    return charts._render(chart)


def trend_chart(months: list[dict]) -> str:
    chart = pygal.Line(**charts._config(title=_("Monthly GRR, NRR and logo churn (%)")))
    chart.x_labels = [month["start"].strftime("%Y-%m") for month in months]
    chart.add(_("GRR"), [month["bridge"].grr_pct for month in months])
    chart.add(_("NRR"), [month["bridge"].nrr_pct for month in months])
    chart.add(_("Logo churn"), [month["bridge"].logo_churn_pct for month in months])
    return charts._render(chart)


def _whole_pct(part: Decimal, whole: Decimal) -> int:
    return int((part * 100 / whole).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _cohort_table(
    window: sel.Window, cells: list[sel.CohortCell] | None, currencies: list[str]
) -> dict[str, list[dict]]:
    """Per currency, one row per month's cohort (accounts first paying that month): MRR kept
    after each full month, net (with expansion) and gross (capped at the first MRR), in %."""
    months = window.months()
    if len(months) < 2 or not cells:
        return {}
    table: dict[str, dict[int, dict]] = {}
    for cell in cells:
        rows = table.setdefault(cell.currency, {})
        row = rows.setdefault(
            cell.cohort,
            {"month": months[cell.cohort - 2][0], "accounts": 0, "initial": None, "cells": {}},
        )
        if cell.j == cell.cohort:
            row["accounts"] = cell.accounts
            row["initial"] = cell.mrr
        row["cells"][cell.j - cell.cohort] = cell
    out = {}
    for currency in currencies:
        rows = []
        for cohort in sorted(table.get(currency, {})):
            row = table[currency][cohort]
            span = len(months) + 1 - cohort
            # Whole percentages, net / gross, rounded half up.
            row["values"] = [
                f"{_whole_pct(row['cells'][k].mrr, row['initial'])} / "
                f"{_whole_pct(row['cells'][k].kept, row['initial'])}"
                if k in row["cells"]
                else ""
                for k in range(span + 1)
            ]
            rows.append(row)
        if rows:
            out[currency] = rows
    return out


def revenue_context(form: RevenueFilterForm) -> dict:
    window = form.window()
    if window is None:
        return {"form": form, "invalid": True}
    filters = form.filters()
    survey = form.cleaned_data.get("survey") if form.is_bound else None
    retention_ids, slugs = revenue_api.retention_surveys(survey)
    report = revenue_report.revenue_report(
        window=window,
        filters=filters,
        monthly=True,
        now=timezone.now(),
        with_cohorts=True,
        retention=retention_ids,
        moves_limit=TOP_MOVERS,
    )
    currencies = report.currencies()
    renewals = report.renewals()
    reasons = report.churn_reasons()
    sections = []
    for currency in currencies:
        bridge = report.totals.get(currency) or rs.Bridge(currency)
        months = [
            {"start": a, "end": b, "bridge": per.get(currency) or rs.Bridge(currency)}
            for a, b, per in report.months
        ]
        since, trailing = report.trailing_12m
        ltv, lifetime = report.ltv(currency)
        sections.append(
            {
                "currency": currency,
                "bridge": bridge,
                "ltv": ltv,
                "lifetime": lifetime,
                "renewal": renewals.get(currency) or rs.Renewal(currency),
                "trailing": trailing.get(currency) or rs.Bridge(currency),
                "trailing_since": since,
                "months": months,
                "waterfall": waterfall_chart(bridge),
                "trend_chart": trend_chart(months) if len(months) > 1 else None,
                "reasons": [r for r in reasons if r["currency"] == currency],
            }
        )
    retention = revenue_api.retention_payloads(report.retention, slugs)
    names = category_labels()
    for section in retention.values():
        for group in section["categories"]:
            group["label"] = names[group["category"]]
    return {
        "form": form,
        "window": window,
        "last_day": window.end - dt.timedelta(days=1),
        "sections": sections,
        "cohorts": _cohort_table(window, report.cohorts, currencies),
        "retention": retention,
        "rule": revenue_api.RULE,
        "movers": [
            (kind, label, report.top_movers(kind, TOP_MOVERS))
            for kind, label in movement_labels().items()
            if kind in ("expansion", "contraction", "churn")
        ],
        "query": form.data.urlencode() if form.is_bound else "",
    }


@permission_required(VIEW_REPORTS)
def revenue(request: HttpRequest) -> HttpResponse:
    form = RevenueFilterForm(request.GET or None)
    context = revenue_context(form)
    return render(
        request, "reports/revenue.html", context, status=400 if context.get("invalid") else 200
    )


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _csv_cell(value) -> str:
    """The exports' rule (`metrics.exports.sql._Escape`, applied there in SQL) for cells built in
    Python: a text that a spreadsheet would read as a formula gets a leading single quote."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _csv_response(name: str, header: list[str], rows) -> HttpResponse:
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(header)
    for row in rows:
        writer.writerow([_csv_cell(value) for value in row])
    return response


@permission_required(VIEW_REPORTS)
def revenue_bridge_csv(request: HttpRequest) -> HttpResponse:
    """The bridge per currency for the period and each of its months."""
    form = RevenueFilterForm(request.GET or None)
    window = form.window()
    if window is None:
        return HttpResponse(_("Invalid filters."), status=400, content_type="text/plain")
    report = revenue_report.revenue_report(
        window=window, filters=form.filters(), monthly=True, now=timezone.now(), with_moves=False
    )
    fields = ["mrr_start", "new", "reactivation", "expansion", "contraction", "churn", "mrr_end"]
    header = ["period_start", "period_end", "currency", *fields, "accounts_start",
              "accounts_churned", "logo_churn_pct", "grr_pct", "nrr_pct", "arpa"]  # fmt: skip
    rows = []
    periods = [(window.start, window.end, report.totals), *report.months]
    for start, end, per in periods:
        for currency in sorted(per):
            b = per[currency]
            rows.append(
                [
                    start,
                    end,
                    currency,
                    *(rs.money(getattr(b, f)) for f in fields),
                    b.accounts_start,
                    b.accounts_churned,
                    b.logo_churn_pct,
                    b.grr_pct,
                    b.nrr_pct,
                    b.arpa,
                ]  # fmt: skip
            )
    return _csv_response(f"mrr-bridge-{window.start}-{window.end}.csv", header, rows)


@permission_required(VIEW_REPORTS)
def revenue_movements_csv(request: HttpRequest) -> HttpResponse:
    """One row per account that moved in the period: its start and end MRR and movement."""
    form = RevenueFilterForm(request.GET or None)
    window = form.window()
    if window is None:
        return HttpResponse(_("Invalid filters."), status=400, content_type="text/plain")
    moves = sel.sections(
        boundaries=[],
        pairs=[window.bounds],
        filters=form.filters(),
        moves=True,
        renewals=(window.start, window.end),
    ).moves
    header = ["account_external_id", "account_name", "movement", "currency", "mrr_start",
              "mrr_end", "amount", "churn_reason"]  # fmt: skip
    rows = [
        [
            m.external_id,
            m.name,
            m.kind,
            m.currency,
            rs.money(m.s),
            rs.money(m.e),
            rs.money(m.amount),
            m.churn_reason if m.kind == "churn" else "",
        ]  # fmt: skip
        for m in sorted(moves, key=lambda m: (m.kind or "", -m.amount, m.external_id))
        if m.kind
    ]
    return _csv_response(f"mrr-movements-{window.start}-{window.end}.csv", header, rows)


def with_ledger_mrr(rows: list, *, at: dt.datetime) -> list:
    """Account score rows with their ARR and currency as the ledger had them at `at` (the
    report date), so revenue-weighted NPS and ARR at risk describe the report's period."""
    ledger = sel.mrr_at(instant=at, account_ids=[row.pk for row in rows])
    out = []
    for row in rows:
        if row.pk in ledger:
            mrr, currency = ledger[row.pk]
            row = replace(row, arr=mrr * 12, currency=currency)
        out.append(row)
    return out


def account_revenue(account: Account) -> dict:
    """The account page's MRR history: the ledger with each event's movement, and a chart."""
    history = sel.account_history(account_id=account.pk)
    labels = movement_labels()
    sources = dict(Source.choices)
    for row in history:
        row["movement_label"] = labels.get(row["movement"], "")
        row["source_label"] = sources.get(row["source"], row["source"])
    chart = None
    if len(history) > 1:
        line = pygal.DateTimeLine(
            **charts._config(
                title=_("MRR over time"),
                show_legend=False,
                x_value_formatter=lambda value: value.strftime("%Y-%m-%d"),
                height=240,
                include_x_axis=True,  # from 0, so a small change does not look like a fall
            )
        )
        points = [(row["effective_at"], float(row["mrr"])) for row in reversed(history)]
        # A step line: the MRR holds until the next event.
        steps = []
        for i, (when, value) in enumerate(points):
            if i:
                steps.append((when, points[i - 1][1]))
            steps.append((when, value))
        steps.append((timezone.now(), points[-1][1]))
        line.add(_("MRR"), steps)
        chart = charts._render(line)
    return {"revenue_history": history, "revenue_chart": chart}
