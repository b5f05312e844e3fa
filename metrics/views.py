"""Staff report pages. Plain functions, so access rules can be added as decorators."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from django.conf import settings
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.roles import VIEW_REPORTS, permission_required
from surveys.models import Kind, Survey

from . import charts, revenue_views, scoring, selectors
from .forms import SORTS, AccountListForm, ReportFilterForm
from .models import HealthSettings

ACCOUNTS_PER_PAGE = 50
TIMELINE_PER_PAGE = 50
TILE_KINDS = (Kind.NPS, Kind.CSAT, Kind.CES, Kind.CES1)


@permission_required(VIEW_REPORTS)
def dashboard(request: HttpRequest) -> HttpResponse:
    form = ReportFilterForm(request.GET or None)
    filters = form.filters()
    granularity = (form.is_bound and form.is_valid() and form.cleaned_data["granularity"]) or (
        "month"
    )
    dimension = (form.is_bound and form.is_valid() and form.cleaned_data["group_by"]) or "plan"
    surveys = list(Survey.objects.using(settings.REPORTS_DATABASE).order_by("name"))
    scales: dict[str, set[int]] = {}
    for survey in surveys:
        if not filters.surveys or survey.pk in filters.surveys:
            scales.setdefault(survey.kind, set()).add(survey.scale_max)
    kind_surveys = [s for s in surveys if s.kind == filters.kind]
    selected = next((s for s in kind_surveys if s.pk in filters.surveys), None)
    data = selectors.dashboard(filters=filters, granularity=granularity, dimension=dimension)
    category_survey = selected or (kind_surveys[0] if kind_surveys else None)
    if category_survey is not None:
        scale = list(category_survey.scale)
    else:
        scale = sorted(data.distribution)
    distribution = [
        (
            score,
            data.distribution.get(score, 0),
            category_survey.category_of(score) if category_survey else 0,
        )
        for score in scale
    ]
    peak = max((count for _score, count, _cat in distribution), default=0) or 1
    lo, hi = filters.period.bounds()
    account_filters = selectors.AccountFilters(
        plan=filters.plan,
        segment=filters.segment,
        region=filters.region,
        status=filters.status,
        owner=filters.owner,
    )
    # The revenue table needs each account's category and health, not its model.
    scores = selectors.account_scores(filters=account_filters, since=lo, until=hi)
    # ARR as the subscription ledger had it at the report date (the period's end).
    scores = revenue_views.with_ledger_mrr(scores, at=hi or timezone.now())
    date_format = "%Y-%m" if granularity == "month" else "%Y-%m-%d"
    context = {
        "form": form,
        "filters": filters,
        "kind": filters.kind,
        "is_nps": filters.kind == Kind.NPS,
        "kind_label": Kind(filters.kind).label,
        "survey": selected,
        "surveys": kind_surveys,
        "tiles": _kind_tiles(filters, data, scales, {s.pk: s.kind for s in surveys}),
        "data": data,
        "show_mean": len(scales.get(filters.kind, set())) <= 1,
        "granularity": granularity,
        "date_format": "Y-m" if granularity == "month" else "Y-m-d",
        "trend_chart": charts.trend_chart(filters.kind, data.trend, date_format),
        "distribution": [
            (score, count, 100 * count / peak, category) for score, count, category in distribution
        ],
        "distribution_chart": charts.distribution_chart(distribution),
        "dimension": dimension,
        "dimension_label": selectors.DIMENSIONS[dimension][1],
        # The funnel lists every survey (all kinds) unless one survey is chosen.
        "funnel": selectors.funnel(
            filters=filters if filters.surveys else replace(filters, kind=""), surveys=surveys
        ),
        "revenue": selectors.revenue(scores),
    }
    return render(request, "reports/dashboard.html", context)


def _kind_tiles(
    filters: selectors.Filters,
    data: selectors.Dashboard,
    scales: dict[str, set[int]],
    kinds: dict[int, str],
) -> list[dict]:
    """A tile per kind (CES 1.0 only when it has answers) with the change vs the period before.

    Tiles of the other kinds ignore the survey choice; the chosen kind's tile is the report's.
    """
    current = selectors.kind_summaries(filters=filters, kinds=kinds)
    previous_filters = filters.previous()
    previous = (
        selectors.kind_summaries(filters=previous_filters, kinds=kinds) if previous_filters else {}
    )
    if filters.surveys:
        current[filters.kind] = data.summary
        if previous_filters:
            previous[filters.kind] = selectors.score_summary(filters=previous_filters)
    tiles = []
    for kind in TILE_KINDS:
        result = current[kind]
        before = previous.get(kind)
        if kind == Kind.CES1 and not result["n"] and not (before and before["n"]):
            continue
        tiles.append(
            {
                "kind": kind,
                "label": Kind(kind).label,
                "result": result,
                "previous": before,
                "change": selectors.change(kind, before, result) if before else None,
                # A mean over CSAT surveys with different scales means nothing.
                "show_mean": len(scales.get(kind, set())) <= 1,
                "selected": kind == filters.kind,
            }
        )
    return tiles


def _sort_value(sort: str, row: selectors.AccountScore):
    """The value a column sorts by; None sorts last in both directions."""
    return {
        "name": lambda: row.name.lower(),
        "nps": lambda: row.nps.score,
        "health": lambda: row.health_score,
        # ARR amounts of different currencies are ordered by amount, never added.
        "arr": lambda: row.arr,
        "renewal": lambda: row.renewal_date,
        "last_answer": lambda: row.last_answered_at,
        "owner": lambda: None if row.owner_name is None else row.owner_name.lower(),
    }[sort]()


def sort_rows(
    rows: list[selectors.AccountScore], sort: str, descending: bool
) -> list[selectors.AccountScore]:
    keyed = [(_sort_value(sort, row), row) for row in rows]
    known = [item for item in keyed if item[0] is not None]
    known.sort(key=lambda item: item[0], reverse=descending)
    return [row for _value, row in known] + [row for value, row in keyed if value is None]


@permission_required(VIEW_REPORTS)
def account_list(request: HttpRequest) -> HttpResponse:
    form = AccountListForm(request.GET or None)
    valid = form.is_bound and form.is_valid()
    data = form.cleaned_data if valid else {}
    health_settings = HealthSettings.load()
    # Every matching account is scored (the revenue table sums them all, and health can be
    # filtered and sorted on), but only the page's accounts are loaded as full rows.
    rows = selectors.account_scores(filters=form.account_filters(), health_settings=health_settings)
    if data.get("health"):
        rows = [row for row in rows if row.health_colour == data["health"]]
    if data.get("at_risk"):
        rows = [row for row in rows if row.at_risk]
    sort = data.get("sort") or "name"
    descending = bool(data.get("desc"))
    rows = sort_rows(rows, sort, descending)
    page = Paginator(rows, ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = selectors.account_rows_of(
        list(page.object_list), health_settings=health_settings
    )
    query = request.GET.copy()
    query.pop("page", None)
    sort_query = request.GET.copy()
    for key in ("sort", "desc", "page"):
        sort_query.pop(key, None)
    context = {
        "form": form,
        "page": page,
        "total": len(rows),
        "revenue": selectors.revenue(rows),
        "health_settings": health_settings,
        "query": query.urlencode(),
        "sort_query": sort_query.urlencode(),
        "sort": sort,
        "desc": descending,
        "sorts": SORTS,
    }
    return render(request, "reports/accounts.html", context)


@permission_required(VIEW_REPORTS)
def account_detail(request: HttpRequest, external_id: str) -> HttpResponse:
    health_settings = HealthSettings.load()
    row = selectors.account_row(external_id=external_id, health_settings=health_settings)
    if row is None:
        raise Http404(_("No account with this id."))
    account = row.account
    tz = timezone.get_current_timezone()
    today = timezone.localdate()
    since = timezone.now() - dt.timedelta(days=health_settings.window_days)
    trend_period = selectors.Period(today.replace(day=1) - dt.timedelta(days=700), today, tz)
    trend_period = selectors.Period(trend_period.start.replace(day=1), today, tz)
    trend = selectors.trend(
        filters=selectors.Filters(period=trend_period, kind=Kind.NPS, account=account.pk),
        granularity="month",
    )
    timeline = Paginator(selectors.account_timeline(account=account), TIMELINE_PER_PAGE)
    context = {
        "account": account,
        "row": row,
        "health_settings": health_settings,
        "recent": selectors.account_kind_summaries(account=account, since=since),
        "all_time": selectors.account_kind_summaries(account=account, since=None),
        "trend": trend,
        "trend_chart": charts.trend_chart(Kind.NPS, trend),
        "contacts": selectors.account_contacts(account=account),
        "timeline": timeline.get_page(request.GET.get("page")),
        "component_labels": scoring.HEALTH_COMPONENTS,
        **revenue_views.account_revenue(account),
    }
    return render(request, "reports/account_detail.html", context)
