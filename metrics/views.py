"""Staff report pages. Plain functions, so access rules can be added as decorators."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Count, Max, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.roles import VIEW_REPORTS, permission_required
from surveys.models import Kind, Survey

from . import charts, health_views, revenue_views, selectors, support_views
from .forms import SORTS, AccountListForm, ReportFilterForm
from .models import HealthSettings

ACCOUNTS_PER_PAGE = 50
TIMELINE_PER_PAGE = 50
TILE_KINDS = (Kind.NPS, Kind.CSAT, Kind.CES, Kind.CES1)


@permission_required(VIEW_REPORTS)
def dashboard(request: HttpRequest) -> HttpResponse:
    form = ReportFilterForm(request.GET or None)
    if form.is_bound and not form.is_valid():
        # Never numbers for other filters than the ones shown: the errors, and nothing else.
        return render(
            request, "reports/dashboard.html", {"form": form, "invalid": True}, status=400
        )
    data_in = form.cleaned_data if form.is_bound else {}
    filters = form.filters()
    granularity = data_in.get("granularity") or "month"
    dimension = data_in.get("group_by") or "plan"
    window = data_in.get("window")
    surveys = list(Survey.objects.using(settings.REPORTS_DATABASE).order_by("name"))
    scales: dict[str, set[int]] = {}
    for survey in surveys:
        if not filters.surveys or survey.pk in filters.surveys:
            scales.setdefault(survey.kind, set()).add(survey.scale_max)
    kind_surveys = [s for s in surveys if s.kind == filters.kind]
    selected = next((s for s in kind_surveys if s.pk in filters.surveys), None)
    data = selectors.dashboard(filters=filters, granularity=granularity, dimension=dimension)
    trend = (
        selectors.trend(filters=filters, granularity=granularity, window_days=window)
        if window
        else data.trend
    )
    lo, hi = filters.period.bounds()
    account_filters = selectors.AccountFilters(
        plan=filters.plan,
        segment=filters.segment,
        region=filters.region,
        status=filters.status,
        owner=filters.owner,
    )
    # The revenue table: every account as of the period's end, by the one category rule.
    health_settings = HealthSettings.load()
    windows = selectors.account_windows(reference=hi, health_settings=health_settings)
    scores = selectors.account_scores(
        filters=account_filters, reference=windows.reference, health_settings=health_settings
    )
    # ARR as the subscription ledger had it at the report date (the period's end).
    scores = revenue_views.with_ledger_mrr(scores, at=windows.reference)
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
        "trend": trend,
        "window": window,
        "show_mean": len(scales.get(filters.kind, set())) <= 1,
        "granularity": granularity,
        "date_format": "Y-m" if granularity == "month" else "Y-m-d",
        "trend_chart": charts.trend_chart(
            filters.kind,
            trend,
            date_format,
            buckets=selectors.buckets(filters.period, granularity),
        ),
        "distributions": _distributions(
            [selected] if selected else kind_surveys, data.survey_distributions
        ),
        "dimension": dimension,
        "dimension_label": selectors.DIMENSIONS[dimension][1],
        # The funnel lists every survey (all kinds) unless one survey is chosen.
        "funnel": selectors.funnel(
            filters=filters if filters.surveys else replace(filters, kind=""), surveys=surveys
        ),
        "revenue": selectors.revenue(scores),
        "windows": windows,
        "health_settings": health_settings,
        "category_days": settings.ACCOUNT_CATEGORY_DAYS,
    }
    return render(request, "reports/dashboard.html", context)


def _distributions(surveys: list[Survey], counts: dict[int, dict[int, int]]) -> list[dict]:
    """Answers per score, one table and chart per scale: surveys on different scales (a CSAT
    1-5 and a CSAT 1-10) are never merged, and each point is coloured by its own scale's
    categories."""
    by_scale: dict[tuple[int, int], list[Survey]] = {}
    for survey in surveys:
        by_scale.setdefault((survey.scale_min, survey.scale_max), []).append(survey)
    result = []
    for (low, high), members in sorted(by_scale.items()):
        totals = {
            score: sum(counts.get(survey.pk, {}).get(score, 0) for survey in members)
            for score in range(low, high + 1)
        }
        if not any(totals.values()) and len(by_scale) > 1:
            continue
        points = [(score, count, members[0].category_of(score)) for score, count in totals.items()]
        peak = max(totals.values(), default=0) or 1
        result.append(
            {
                "scale": f"{low}–{high}",
                "surveys": members,
                "n": sum(totals.values()),
                "rows": [
                    (score, count, 100 * count / peak, category)
                    for score, count, category in points
                ],
                "chart": charts.distribution_chart(points),
            }
        )
    return result


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
    if form.is_bound and not form.is_valid():
        return render(request, "reports/accounts.html", {"form": form, "invalid": True}, status=400)
    data = form.cleaned_data if form.is_bound else {}
    health_settings = HealthSettings.load()
    windows = selectors.account_windows(health_settings=health_settings)
    # Every matching account is scored (the revenue table sums them all, and health can be
    # filtered and sorted on), but only the page's accounts are loaded as full rows.
    rows = selectors.account_scores(
        filters=form.account_filters(),
        reference=windows.reference,
        health_settings=health_settings,
    )
    if data.get("health"):
        rows = [row for row in rows if row.health_colour == data["health"]]
    if data.get("at_risk"):
        rows = [row for row in rows if row.at_risk]
    sort = data.get("sort") or "name"
    descending = bool(data.get("desc"))
    rows = sort_rows(rows, sort, descending)
    page = Paginator(rows, ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    page.object_list = health_views.with_trends(
        selectors.account_rows_of(list(page.object_list), health_settings=health_settings)
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
        "windows": windows,
        "category_days": settings.ACCOUNT_CATEGORY_DAYS,
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
    # Each answer links to its follow-up, with the replies emailed from it.
    timeline = Paginator(
        selectors.account_timeline(account=account)
        .select_related("followup")
        .annotate(
            replies_sent=Count("followup__replies", filter=Q(followup__replies__status="sent")),
            last_reply_at=Max("followup__replies__sent_at"),
        ),
        TIMELINE_PER_PAGE,
    )
    recent = selectors.account_kind_summaries(account=account, since=since)
    all_time = selectors.account_kind_summaries(account=account, since=None)
    context = {
        "recent": recent,
        "all_time": all_time,
        "nps_pair": (recent[Kind.NPS], all_time[Kind.NPS]),
        "csat_pair": (recent[Kind.CSAT], all_time[Kind.CSAT]),
        "ces_pair": (recent[Kind.CES], all_time[Kind.CES]),
        "account": account,
        "row": row,
        "health_settings": health_settings,
        "category_days": settings.ACCOUNT_CATEGORY_DAYS,
        "trend": trend,
        # Months without answers are gaps: the line never joins months that are not adjacent.
        "trend_chart": charts.trend_chart(
            Kind.NPS, trend, buckets=selectors.buckets(trend_period, "month")
        ),
        "contacts": selectors.account_contacts(account=account),
        "timeline": timeline.get_page(request.GET.get("page")),
        **revenue_views.account_revenue(account),
        **support_views.account_outcomes(account),
        **health_views.account_health(account, health_settings),
    }
    return render(request, "reports/account_detail.html", context)
