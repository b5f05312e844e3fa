"""Each account's answer counts over a window: per kind, from the rollups (or the answers
when the rollups are off), with its last answer and the category of its latest NPS answer.
What the account lists, the revenue table and health score from (`accounts`)."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import connections
from django.db.models import Count, Max, Q, QuerySet, Sum

from accounts.models import Account
from surveys.models import Kind, Response, Survey

from . import rollups

_ACCOUNT_ZERO = {
    "nps_n": 0,
    "nps_promoters": 0,
    "nps_detractors": 0,
    "csat_n": 0,
    "csat_satisfied": 0,
    "ces_n": 0,
    "ces_agree": 0,
    "ces_total": 0,
    "last_answered_at": None,
    "nps_last_detractor": None,
    "nps_last_passive": None,
    "nps_last_promoter": None,
}


def account_counts(
    *,
    accounts: QuerySet[Account] | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    last_answer_since: dt.datetime | None,
    category_since: dt.datetime | None = None,
) -> dict[int, dict]:
    """Per account id: counted answers per kind in [since, until), the last answer time
    (looked for back to `last_answer_since`) and, per NPS category, the time of the latest
    NPS answer of that category since `category_since` (`latest_category` reads the account's
    category from them). One query grouped by account over responses."""
    kinds = dict(
        Survey.objects.using(settings.REPORTS_DATABASE).values_list("pk", "kind").order_by()
    )

    def of_kind(kind: str) -> list[int]:
        return [pk for pk, survey_kind in kinds.items() if survey_kind == kind]

    if rollups.enabled():
        return _rolled_account_counts(
            kinds,
            accounts=accounts,
            since=since,
            until=until,
            last_answer_since=last_answer_since,
            category_since=category_since,
        )
    # Every response has a survey: listing them all is no filter, but lets the partial index
    # `response_counted` (survey, answered_at, category, score, account) serve the whole
    # query as an index-only scan instead of reading the table.
    qs = Response.objects.using(settings.REPORTS_DATABASE).filter(
        excluded=False, account_id__isnull=False, survey_id__in=list(kinds)
    )
    if accounts is not None:
        qs = qs.filter(account_id__in=accounts.order_by().values("pk"))
    window = Q()
    if since is not None:
        window = Q(answered_at__gte=since)
        lower = min(
            bound for bound in (since, last_answer_since, category_since) if bound is not None
        )
        qs = qs.filter(answered_at__gte=lower)
    if until is not None:
        qs = qs.filter(answered_at__lt=until)
    any_nps = Q(survey_id__in=of_kind(Kind.NPS))
    if category_since is not None:
        any_nps &= Q(answered_at__gte=category_since)
    nps = window & Q(survey_id__in=of_kind(Kind.NPS))
    csat = window & Q(survey_id__in=of_kind(Kind.CSAT))
    ces = window & Q(survey_id__in=of_kind(Kind.CES))
    rows = (
        qs.values("account_id")
        .annotate(
            nps_n=Count("category", filter=nps),
            nps_promoters=Count("category", filter=nps & Q(category=1)),
            nps_detractors=Count("category", filter=nps & Q(category=-1)),
            csat_n=Count("category", filter=csat),
            csat_satisfied=Count("category", filter=csat & Q(category=1)),
            ces_n=Count("category", filter=ces),
            ces_agree=Count("category", filter=ces & Q(category=1)),
            ces_total=Sum("score", filter=ces),
            last_answered_at=Max("answered_at"),
            **{
                key: Max("answered_at", filter=any_nps & Q(category=code))
                for code, key in LATEST_BY_CATEGORY
            },
        )
        .order_by()
    )
    return {row.pop("account_id"): row for row in rows}


def _rolled_account_counts(
    kinds: dict[int, str],
    *,
    accounts: QuerySet[Account] | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    last_answer_since: dt.datetime | None,
    category_since: dt.datetime | None,
) -> dict[int, dict]:
    """`account_counts` from the rollups (the counts per kind in [since, until)) and one probe
    per account down the index of its answers (its last answer, and its latest NPS answer with
    its category): the cost grows with the accounts and the window, not with the answers."""
    counts: dict[int, dict] = {}
    by_kind = {
        kind: [pk for pk, survey_kind in kinds.items() if survey_kind == kind]
        for kind in (Kind.NPS, Kind.CSAT, Kind.CES)
    }
    for account_id, own in rollups.account_kind_counts(
        since, until, by_kind, accounts=accounts
    ).items():
        counts[account_id] = {
            **_ACCOUNT_ZERO,
            "nps_n": own["nps_n"],
            "nps_promoters": own["nps_positive"],
            "nps_detractors": own["nps_negative"],
            "csat_n": own["csat_n"],
            "csat_satisfied": own["csat_positive"],
            "ces_n": own["ces_n"],
            "ces_agree": own["ces_positive"],
            "ces_total": own["ces_total"],
        }
    lower = since
    if since is not None:
        lower = min(b for b in (since, last_answer_since, category_since) if b is not None)
    nps_since = category_since if category_since is not None else lower
    for account_id, last, latest, category in _latest_answers(
        kinds, accounts=accounts, lower=lower, nps_since=nps_since, until=until
    ):
        row = counts.setdefault(account_id, dict(_ACCOUNT_ZERO))
        row["last_answered_at"] = last
        if latest is not None:
            row[dict(LATEST_BY_CATEGORY)[category]] = latest
    return counts


def _latest_answers(
    kinds: dict[int, str],
    *,
    accounts: QuerySet[Account] | None,
    lower: dt.datetime | None,
    nps_since: dt.datetime | None,
    until: dt.datetime | None,
) -> list[tuple[int, dt.datetime, dt.datetime | None, int | None]]:
    """(account id, its last counted answer in [lower, until), its latest counted NPS answer
    in [nps_since, until) and that answer's category) of each account with an answer. A tie
    at the same instant goes to the lower category (detractor first), as `latest_category`
    reads it. One index probe per account and survey (`response_account_latest`: account,
    survey, time), so an account's answers to other surveys are never walked through."""
    nps = [pk for pk, kind in kinds.items() if kind == Kind.NPS]

    def window(since: dt.datetime | None) -> tuple[str, list]:
        sql, params = "", []
        if since is not None:
            sql, params = " AND r.answered_at >= %s", [since]
        if until is not None:
            sql, params = f"{sql} AND r.answered_at < %s", [*params, until]
        return sql, params

    any_window, any_params = window(lower)
    nps_window, nps_params = window(nps_since)
    where, where_params = "", []
    if accounts is not None:
        subquery, where_params = accounts.order_by().values("pk").query.sql_with_params()
        where = f"WHERE a.id IN ({subquery})"
    answers = Response._meta.db_table
    sql = f"""
        SELECT a.id, last.answered_at, latest.answered_at, latest.category
        FROM {Account._meta.db_table} a
        JOIN LATERAL (
            SELECT max(p.answered_at) AS answered_at
            FROM unnest(%s::bigint[]) AS s(id)
            CROSS JOIN LATERAL (
                SELECT r.answered_at FROM {answers} r
                WHERE r.account_id = a.id AND r.survey_id = s.id AND NOT r.excluded
                      {any_window}
                ORDER BY r.answered_at DESC LIMIT 1
            ) p
        ) last ON last.answered_at IS NOT NULL
        LEFT JOIN LATERAL (
            SELECT p.answered_at, p.category
            FROM unnest(%s::bigint[]) AS s(id)
            CROSS JOIN LATERAL (
                SELECT r.answered_at, r.category FROM {answers} r
                WHERE r.account_id = a.id AND r.survey_id = s.id AND NOT r.excluded
                      {nps_window}
                ORDER BY r.answered_at DESC, r.category LIMIT 1
            ) p
            ORDER BY p.answered_at DESC, p.category LIMIT 1
        ) latest ON true
        {where}
    """
    params = [list(kinds), *any_params, nps, *nps_params, *where_params]
    with connections[settings.REPORTS_DATABASE].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# The time of an account's latest NPS answer of each category, detractor first: should two
# answers share one instant, the more cautious category wins.
LATEST_BY_CATEGORY = ((-1, "nps_last_detractor"), (0, "nps_last_passive"), (1, "nps_last_promoter"))


def latest_category(counts: dict) -> int | None:
    """The account's NPS category: that of its most recent counted NPS answer in the category
    window (the one rule for the revenue table, ARR at risk and at-risk lists); None for no
    answer. Read from three per-category maxima of the grouped query, so no query per account."""
    category, latest = None, None
    for code, key in LATEST_BY_CATEGORY:
        when = counts.get(key)
        if when is not None and (latest is None or when > latest):
            category, latest = code, when
    return category
