"""Account reads: each account's scores, health, windows and revenue; one account's page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import Count, Max, Q, QuerySet, Sum
from django.utils import timezone

from accounts.models import Account, Contact
from metrics import scoring
from metrics.health_inputs import NO_INPUTS, HealthInputs, health_inputs
from metrics.models import HealthSettings
from surveys.models import Kind, Response, Survey

from . import rollups
from .scores import NO_ANSWERS, score_aggregates, score_result

# --- Accounts -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AccountFilters:
    plan: str = ""
    segment: str = ""
    region: str = ""
    status: str = ""
    owner: int | None = None
    currency: str = ""
    search: str = ""
    renewing_within_days: int | None = None
    external_id: str = ""


@dataclass
class AccountRow:
    account: Account
    nps: scoring.Nps
    category: int | None  # of the account's most recent NPS answer in the category window
    csat: scoring.Proportion
    ces: scoring.Proportion
    ces_mean: float | None
    last_answered_at: dt.datetime | None
    health: scoring.Health
    arr: Decimal = field(init=False)

    def __post_init__(self) -> None:
        self.arr = self.account.arr

    @property
    def at_risk(self) -> bool:
        return self.category == -1 or self.health.colour == "red"

    @property
    def status(self) -> str:
        return self.account.status

    @property
    def currency(self) -> str:
        return self.account.currency


def filtered_accounts(*, filters: AccountFilters) -> QuerySet[Account]:
    qs = Account.objects.using(settings.REPORTS_DATABASE).select_related("owner")
    for name in ("plan", "segment", "region", "status", "currency", "external_id"):
        value = getattr(filters, name)
        if value:
            qs = qs.filter(**{name: value})
    if filters.owner:
        qs = qs.filter(owner_id=filters.owner)
    if filters.search:
        qs = qs.filter(Q(name__icontains=filters.search) | Q(external_id__icontains=filters.search))
    if filters.renewing_within_days is not None:
        today = timezone.localdate()
        qs = qs.filter(
            renewal_date__gte=today,
            renewal_date__lte=today + dt.timedelta(days=filters.renewing_within_days),
        )
    return qs


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


def _health_values(
    counts: dict,
    *,
    inputs: HealthInputs,
    health_settings: HealthSettings,
    now: dt.datetime,
) -> dict[str, float | None]:
    """The health components' inputs (0..100 or None) from an account's answer counts and its
    outcome inputs (tickets, usage, ledger: `health_inputs`)."""
    n = counts["nps_n"]
    promoters, detractors = counts["nps_promoters"], counts["nps_detractors"]
    last = counts["last_answered_at"]
    days_since = None if last is None else (now - last).total_seconds() / 86400
    return {
        "nps": scoring.nps_points(promoters, n - promoters - detractors, detractors),
        "csat": scoring.pct(counts["csat_satisfied"], counts["csat_n"]),
        "ces": scoring.pct(counts["ces_agree"], counts["ces_n"]),
        "recency": scoring.recency_points(
            days_since, health_settings.recency_full_days, health_settings.recency_zero_days
        ),
        "support": scoring.support_points(inputs.open_tickets, health_settings.tickets_at_zero),
        "adoption": scoring.adoption_points(inputs.adoption_pct),
        "revenue": scoring.revenue_points(
            inputs.mrr_now, inputs.mrr_before, health_settings.revenue_drop_at_zero
        ),
    }


def _row(
    account: Account,
    counts: dict,
    health_settings: HealthSettings,
    now: dt.datetime,
    inputs: HealthInputs = NO_INPUTS,
) -> AccountRow:
    n = counts["nps_n"]
    promoters, detractors = counts["nps_promoters"], counts["nps_detractors"]
    passives = n - promoters - detractors
    nps_result = scoring.nps(promoters, passives, detractors)
    csat = scoring.proportion(counts["csat_satisfied"], counts["csat_n"])
    ces = scoring.proportion(counts["ces_agree"], counts["ces_n"])
    last = counts["last_answered_at"]
    values = _health_values(counts, inputs=inputs, health_settings=health_settings, now=now)
    return AccountRow(
        account=account,
        nps=nps_result,
        category=latest_category(counts),
        csat=csat,
        ces=ces,
        ces_mean=scoring.mean_score(counts["ces_n"], float(counts["ces_total"] or 0)),
        last_answered_at=last,
        health=scoring.health(
            values,
            health_settings.weights_for(account.segment),
            red_below=health_settings.red_below,
            green_from=health_settings.green_from,
        ),
    )


@dataclass(frozen=True)
class AccountWindows:
    """The windows an account list is computed over, all ending at `reference` (exclusive):
    scores and health over the health settings' window; the NPS category from the most recent
    NPS answer in ACCOUNT_CATEGORY_DAYS (DESIGN.md). Shown next to the numbers."""

    reference: dt.datetime
    health_since: dt.datetime
    category_since: dt.datetime

    @classmethod
    def ending(cls, reference: dt.datetime, health_settings: HealthSettings) -> AccountWindows:
        return cls(
            reference=reference,
            health_since=reference - dt.timedelta(days=health_settings.window_days),
            category_since=reference - dt.timedelta(days=settings.ACCOUNT_CATEGORY_DAYS),
        )


def account_windows(
    *, reference: dt.datetime | None = None, health_settings: HealthSettings | None = None
) -> AccountWindows:
    """The windows of an account list as of `reference` (default now; never in the future)."""
    now = timezone.now()
    return AccountWindows.ending(
        min(reference or now, now), health_settings or HealthSettings.load()
    )


def _window_counts(
    *,
    filters: AccountFilters | None,
    reference: dt.datetime | None,
    health_settings: HealthSettings | None,
) -> tuple[
    QuerySet[Account], dict[int, dict], HealthSettings, AccountWindows, dict[int, HealthInputs]
]:
    """The matching accounts and their counts (with what their NPS category is read from), with
    the health settings and the windows they were computed for, ending at `reference` (default
    now). The last answer (for recency) is looked for as far back as recency can still score."""
    filters = filters or AccountFilters()
    health_settings = health_settings or HealthSettings.load()
    windows = account_windows(reference=reference, health_settings=health_settings)
    accounts = filtered_accounts(filters=filters)
    counts = account_counts(
        accounts=accounts if filters != AccountFilters() else None,
        since=windows.health_since,
        until=windows.reference,
        last_answer_since=windows.reference - dt.timedelta(days=health_settings.recency_zero_days),
        category_since=windows.category_since,
    )
    inputs = health_inputs(
        reference=windows.reference,
        revenue_days=health_settings.revenue_days,
        account_ids=(
            None
            if filters == AccountFilters()
            else list(accounts.order_by().values_list("pk", flat=True))
        ),
    )
    return accounts, counts, health_settings, windows, inputs


def account_rows(
    *,
    filters: AccountFilters | None = None,
    reference: dt.datetime | None = None,
    health_settings: HealthSettings | None = None,
) -> list[AccountRow]:
    """Each matching account with rolling scores and health as of `reference` (default now).
    Four queries, whatever the size.

    For many accounts, `account_scores` (no models, no health components) is much cheaper.
    """
    accounts, counts, health_settings, windows, inputs = _window_counts(
        filters=filters, reference=reference, health_settings=health_settings
    )
    return [
        _row(
            account,
            counts.get(account.pk, _ACCOUNT_ZERO),
            health_settings,
            windows.reference,
            inputs.get(account.pk, NO_INPUTS),
        )
        for account in accounts
    ]


@dataclass(slots=True)
class AccountScore:
    """An account's NPS, category and health from its counts, without the model or the health
    components: what lists filter, sort and sum over. `account_rows_of` gives full `AccountRow`s."""

    pk: int
    name: str
    status: str
    currency: str
    arr: Decimal
    renewal_date: dt.date | None
    owner_name: str | None
    nps: scoring.Nps
    category: int | None
    health_score: float | None
    health_colour: str | None
    last_answered_at: dt.datetime | None
    counts: dict
    now: dt.datetime
    inputs: HealthInputs = NO_INPUTS

    @property
    def at_risk(self) -> bool:
        return self.category == -1 or self.health_colour == "red"


def account_scores(
    *,
    filters: AccountFilters | None = None,
    reference: dt.datetime | None = None,
    health_settings: HealthSettings | None = None,
) -> list[AccountScore]:
    """The same scores as `account_rows` (same window rules, same arithmetic) for every
    matching account, in the accounts' order: one grouped query for the counts, one for the
    account columns and categories, then a few arithmetic steps per account."""
    accounts, counts, health_settings, windows, inputs = _window_counts(
        filters=filters, reference=reference, health_settings=health_settings
    )
    now = windows.reference
    red_below, green_from = health_settings.red_below, health_settings.green_from
    result = []
    for (
        pk,
        name,
        status,
        currency,
        mrr,
        renewal_date,
        owner_name,
        segment,
    ) in accounts.order_by(*Account._meta.ordering, "pk").values_list(
        "pk",
        "name",
        "status",
        "currency",
        "mrr",
        "renewal_date",
        f"owner__{get_user_model().USERNAME_FIELD}",  # what get_username() gives
        "segment",
    ):
        own = counts.get(pk, _ACCOUNT_ZERO)
        outcome = inputs.get(pk, NO_INPUTS)
        n = own["nps_n"]
        promoters, detractors = own["nps_promoters"], own["nps_detractors"]
        score = scoring.health_score(
            _health_values(own, inputs=outcome, health_settings=health_settings, now=now),
            health_settings.weights_for(segment),
        )
        result.append(
            AccountScore(
                pk=pk,
                name=name,
                status=status,
                currency=currency,
                arr=mrr * 12,  # Account.arr
                renewal_date=renewal_date,
                owner_name=owner_name,
                nps=scoring.nps(promoters, n - promoters - detractors, detractors),
                category=latest_category(own),
                health_score=score,
                health_colour=scoring.health_colour(score, red_below, green_from),
                last_answered_at=own["last_answered_at"],
                counts=own,
                now=now,
                inputs=outcome,
            )
        )
    return result


def account_row(*, external_id: str, health_settings: HealthSettings) -> AccountRow | None:
    """One account's row (scores, health) by its external id; None when there is none."""
    if "\x00" in external_id:
        return None  # no id holds one, and PostgreSQL refuses it in a query
    rows = account_rows(
        filters=AccountFilters(external_id=external_id), health_settings=health_settings
    )
    return rows[0] if rows else None


def account_rows_of(
    scores: list[AccountScore], *, health_settings: HealthSettings
) -> list[AccountRow]:
    """Full rows (models, health components) for a few scored accounts, e.g. one page:
    one query, and the very counts and clock the scores were computed from."""
    accounts = (
        Account.objects.using(settings.REPORTS_DATABASE)
        .select_related("owner")
        .in_bulk([score.pk for score in scores])
    )
    return [
        _row(accounts[score.pk], score.counts, health_settings, score.now, score.inputs)
        for score in scores
        if score.pk in accounts
    ]


@dataclass
class CurrencyRevenue:
    currency: str
    accounts: int = 0
    arr: Decimal = Decimal("0")
    arr_promoter: Decimal = Decimal("0")
    arr_passive: Decimal = Decimal("0")
    arr_detractor: Decimal = Decimal("0")
    arr_no_answer: Decimal = Decimal("0")
    arr_at_risk: Decimal = Decimal("0")
    weighted_pairs: list[tuple[float, float]] = field(default_factory=list)

    @property
    def revenue_weighted_nps(self) -> float | None:
        return scoring.weighted_nps(self.weighted_pairs)


def revenue(rows: list[AccountRow] | list[AccountScore]) -> list[CurrencyRevenue]:
    """ARR by account NPS category, ARR at risk and revenue-weighted NPS, per currency.

    Currencies are never added together (no exchange rates): one line per currency, the
    largest ARR first. Churned accounts hold no ARR. An account's category is that of its most
    recent NPS answer in the category window (`latest_category`; none: "no answer").
    Revenue-weighted NPS is the mean of the accounts' own NPS (health window) weighted by their
    ARR, so an account counts once however many of its contacts answer. ARR at risk: detractor
    accounts (by that category) and accounts whose health is red, as of the same date.
    """
    by_currency: dict[str, CurrencyRevenue] = {}
    for row in rows:
        if row.status == Account.Status.CHURNED:
            continue
        line = by_currency.setdefault(row.currency, CurrencyRevenue(row.currency))
        line.accounts += 1
        line.arr += row.arr
        if row.category == 1:
            line.arr_promoter += row.arr
        elif row.category == 0:
            line.arr_passive += row.arr
        elif row.category == -1:
            line.arr_detractor += row.arr
        else:
            line.arr_no_answer += row.arr
        if row.at_risk:
            line.arr_at_risk += row.arr
        if row.nps.score is not None and row.arr > 0:
            line.weighted_pairs.append((row.nps.score, float(row.arr)))
    return sorted(by_currency.values(), key=lambda line: (-line.arr, line.currency))


# --- One account ----------------------------------------------------------------------------


def account_kind_summaries(*, account: Account, since: dt.datetime | None) -> dict[str, dict]:
    """The account's score per kind (NPS, CSAT, CES 2.0, CES 1.0) since a date: one query."""
    qs = Response.objects.using(settings.REPORTS_DATABASE).filter(account=account, excluded=False)
    if since:
        qs = qs.filter(answered_at__gte=since)
    rows = {
        row["survey__kind"]: row
        for row in qs.values("survey__kind").annotate(**score_aggregates()).order_by()
    }
    return {kind: score_result(kind, rows.get(kind, NO_ANSWERS)) for kind in Kind.values}


def account_contacts(*, account: Account) -> QuerySet[Contact]:
    """The account's contacts with their counted answers and last answer time (erased contacts,
    kept only as anonymous rows for the counts, are not listed)."""
    counted = Q(responses__excluded=False)
    return (
        Contact.objects.using(settings.REPORTS_DATABASE)
        .filter(account=account, erased_at__isnull=True)
        .annotate(
            answers=Count("responses", filter=counted),
            last_answered_at=Max("responses__answered_at", filter=counted),
        )
        .order_by("email")
    )


def account_timeline(*, account: Account) -> QuerySet[Response]:
    """Every answer of the account's contacts, newest first (quarantined and excluded ones
    too, marked)."""
    return (
        Response.objects.using(settings.REPORTS_DATABASE)
        .filter(account=account)
        .select_related("survey", "contact")
        .order_by("-answered_at", "-pk")
    )
