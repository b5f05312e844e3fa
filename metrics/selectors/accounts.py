"""Account reads: each account's scores, health, windows and revenue; one account's page."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from accounts.models import Account, Contact
from metrics import scoring
from metrics.health_inputs import NO_INPUTS, HealthInputs, health_inputs
from metrics.models import HealthSettings
from surveys.models import Kind, Response

from .account_counts import _ACCOUNT_ZERO, account_counts, latest_category
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
