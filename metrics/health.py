"""The health score over time: settings versions, daily snapshots, the history and its
reasons, the 30-day trend, the churn backtest and the account alert rules.

Snapshots are written by a daily beat task (`take_snapshots`, idempotent per account and day)
and can be backfilled for past days (`manage.py snapshot_health --days N`): a past day is
scored as of its end, from the answers, tickets, usage and ledger as they were then (seats and
segments are today's). Each snapshot names the settings version it was computed with.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, connections, transaction
from django.utils import timezone

from accounts.models import Account
from followups.account_alerts import fire_account_alert
from followups.models import AlertRule
from outcomes.models import SubscriptionEvent
from outcomes.usage import ACTIVE_USERS

from . import health_scoring as hs
from . import scoring, selectors, support_selectors
from .models import HealthSettings, HealthSettingsVersion, HealthSnapshot

HISTORY_DAYS = 365
BACKTEST_HORIZON_DAYS = 90
TREND_DAYS = 30


# --- Versions -----------------------------------------------------------------------------------


def current_version(
    *, health_settings: HealthSettings | None = None, user=None
) -> HealthSettingsVersion:
    """The version of the configuration in force, recorded as a new version when it differs
    from the latest one. Idempotent."""
    health_settings = health_settings or HealthSettings.load()
    config = health_settings.config()
    for _attempt in range(3):
        latest = HealthSettingsVersion.objects.order_by("-number").first()
        if latest is not None and latest.config == config:
            return latest
        try:
            with transaction.atomic():
                return HealthSettingsVersion.objects.create(
                    number=(latest.number + 1) if latest else 1,
                    config=config,
                    created_by=user if getattr(user, "pk", None) else None,
                )
        except IntegrityError:
            continue  # another process recorded the same number first; look again
    raise RuntimeError("could not record the health settings version")


# --- Snapshots ----------------------------------------------------------------------------------


def day_end(day: dt.date) -> dt.datetime:
    """The instant a day's snapshot is scored at: the end of the day in the installation's
    time zone, or now for today."""
    end = dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time.min, timezone.get_default_timezone()
    )
    return min(end, timezone.now())


def _components(health: scoring.Health) -> dict:
    return {
        c.name: [None if c.value is None else round(c.value, 2), round(c.share, 4)]
        for c in health.components
    }


def _alive(account: Account, reference: dt.datetime) -> bool:
    """Not churned at the reference (a churn dated later still leaves the day scored)."""
    if account.status != Account.Status.CHURNED:
        return True
    return account.churned_at is not None and account.churned_at > reference


def take_snapshots(*, day: dt.date | None = None) -> int:
    """Store each account's health for a day (default today), as of the end of that day.
    Idempotent: an account that already has a snapshot for the day keeps it. Accounts churned
    by then, and accounts without any data, get none. Returns how many were stored."""
    day = day or timezone.localdate()
    reference = day_end(day)
    health_settings = HealthSettings.load()
    version = current_version(health_settings=health_settings)
    rows = selectors.account_rows(reference=reference, health_settings=health_settings)
    snapshots = [
        HealthSnapshot(
            account=row.account,
            day=day,
            score=round(row.health.score, 2),
            colour=row.health.colour or "",
            components=_components(row.health),
            version=version,
        )
        for row in rows
        if row.health.score is not None and _alive(row.account, reference)
    ]
    before = HealthSnapshot.objects.filter(day=day).count()
    HealthSnapshot.objects.bulk_create(snapshots, batch_size=1000, ignore_conflicts=True)
    return HealthSnapshot.objects.filter(day=day).count() - before


def backfill(*, days: int, until: dt.date | None = None) -> int:
    """Snapshots for each of the `days` days up to `until` (default yesterday) that lack them."""
    until = until or timezone.localdate() - dt.timedelta(days=1)
    stored = 0
    for back in range(days - 1, -1, -1):
        stored += take_snapshots(day=until - dt.timedelta(days=back))
    return stored


@dataclass
class HistoryPoint:
    day: dt.date
    score: float | None
    colour: str
    version: int
    reasons: list[hs.Reason] = field(default_factory=list)
    change: float | None = None


def account_history(*, account: Account, days: int = HISTORY_DAYS) -> list[HistoryPoint]:
    """The account's snapshots of the last `days` days, oldest first, each with the reasons
    its score moved since the previous one (a change of at least half a point, of colour, or
    of settings version)."""
    since = timezone.localdate() - dt.timedelta(days=days)
    rows = list(
        HealthSnapshot.objects.using(settings.REPORTS_DATABASE)
        .filter(account=account, day__gte=since)
        .order_by("day")
        .values_list("day", "score", "colour", "components", "version__number")
    )
    points: list[HistoryPoint] = []
    previous = None
    for day, score, colour, components, version in rows:
        point = HistoryPoint(day, score, colour, version)
        if previous is not None:
            _day, before_score, before_colour, before_components, before_version = previous
            moved = (
                score is not None and before_score is not None and abs(score - before_score) >= 0.5
            )
            if moved or colour != before_colour or version != before_version:
                point.change = (
                    None if score is None or before_score is None else score - before_score
                )
                point.reasons = hs.change_reasons(
                    before_components,
                    components,
                    version_before=before_version,
                    version_after=version,
                )
        points.append(point)
        previous = (day, score, colour, components, version)
    return points


def scores_on(*, day: dt.date, account_ids: list[int]) -> dict[int, float | None]:
    """Each account's snapshot score on a day (accounts without one are left out)."""
    return dict(
        HealthSnapshot.objects.using(settings.REPORTS_DATABASE)
        .filter(day=day, account_id__in=account_ids)
        .values_list("account_id", "score")
    )


def trends(*, scores: dict[int, float | None]) -> dict[int, tuple[str | None, float | None]]:
    """The 30-day trend of each account: (arrow, the score 30 days before) from the snapshot
    of 30 days ago and the score now."""
    then = scores_on(
        day=timezone.localdate() - dt.timedelta(days=TREND_DAYS), account_ids=list(scores)
    )
    return {pk: (hs.trend(score, then.get(pk)), then.get(pk)) for pk, score in scores.items()}


# --- Backtest -----------------------------------------------------------------------------------


@dataclass
class Backtest:
    day: dt.date
    horizon_days: int
    source: str  # "recomputed" (the current settings) or "snapshots" (the settings then)
    accounts: int = 0
    churned: int = 0
    auc: float | None = None
    colours: list[hs.ColourChurn] = field(default_factory=list)
    components: list[dict] = field(default_factory=list)
    no_score: int = 0
    error: str = ""


def paying_then_churned(*, start: dt.datetime, end: dt.datetime) -> dict[int, bool]:
    """Accounts paying at `start` (MRR > 0 in the ledger) -> whether they churned by `end`
    (MRR 0), as the revenue reports count logo churn."""
    table = SubscriptionEvent._meta.db_table
    sql = f"""
        SELECT a.id, e.mrr
        FROM {Account._meta.db_table} a
        JOIN LATERAL (
            SELECT mrr FROM {table} s
            WHERE s.account_id = a.id AND s.effective_at < %s
            ORDER BY s.effective_at DESC, s.id DESC LIMIT 1
        ) b ON b.mrr > 0
        JOIN LATERAL (
            SELECT mrr FROM {table} s
            WHERE s.account_id = a.id AND s.effective_at < %s
            ORDER BY s.effective_at DESC, s.id DESC LIMIT 1
        ) e ON TRUE
    """  # noqa: S608 - table names from the models; values are parameters
    with connections[settings.REPORTS_DATABASE].cursor() as cursor:
        cursor.execute(sql, [start, end])
        return {account_id: mrr == 0 for account_id, mrr in cursor.fetchall()}


def backtest(
    *, day: dt.date, source: str = "recomputed", horizon_days: int = BACKTEST_HORIZON_DAYS
) -> Backtest:
    """How the health of the accounts paying at the end of `day` foretold churn within the
    next `horizon_days`: churn per colour and the ROC AUC of the score and of each component.
    `recomputed` scores that day with the current settings; `snapshots` reads that day's
    snapshots (the settings then in force)."""
    result = Backtest(day=day, horizon_days=horizon_days, source=source)
    start = dt.datetime.combine(
        day + dt.timedelta(days=1), dt.time.min, timezone.get_default_timezone()
    )
    end = start + dt.timedelta(days=horizon_days)
    if end > timezone.now():
        result.error = "horizon"
        return result
    outcome = paying_then_churned(start=start, end=end)
    scored: list[tuple[int, float | None, str, dict]] = []
    if source == "snapshots":
        for account_id, score, colour, components in HealthSnapshot.objects.filter(
            day=day, account_id__in=list(outcome)
        ).values_list("account_id", "score", "colour", "components"):
            values = {name: pair[0] for name, pair in components.items()}
            scored.append((account_id, score, colour, values))
    else:
        rows = selectors.account_rows(reference=start)
        for row in rows:
            if row.account.pk in outcome:
                values = {c.name: c.value for c in row.health.components}
                scored.append((row.account.pk, row.health.score, row.health.colour or "", values))
    with_score = [item for item in scored if item[1] is not None]
    result.no_score = len(outcome) - len(with_score)
    result.accounts = len(with_score)
    result.churned = sum(outcome[pk] for pk, *_rest in with_score)
    result.auc = hs.roc_auc([(score, outcome[pk]) for pk, score, _c, _v in with_score])
    result.colours = hs.churn_by_colour(
        [(colour, outcome[pk]) for pk, _s, colour, _v in with_score]
    )
    for name in scoring.HEALTH_COMPONENTS:
        pairs = [(v[name], outcome[pk]) for pk, _s, _c, v in with_score if v.get(name) is not None]
        result.components.append(
            {
                "name": name,
                "leading": name in scoring.LEADING,
                "accounts": len(pairs),
                "auc": hs.roc_auc(pairs),
            }
        )
    return result


# --- Account alert rules ------------------------------------------------------------------------


def account_rule_matches(rule: AlertRule, *, day: dt.date, facts: dict) -> dict[int, list[dict]]:
    """The accounts an account rule matches on a day, with the reasons (every condition set
    on the rule must hold). `facts` is `rule_facts(day=...)`."""
    today, before, month_ago = facts["today"], facts["yesterday"], facts["month_ago"]
    candidates = set(today)
    reasons: dict[int, list[dict]] = {pk: [] for pk in candidates}
    if rule.on_health_red:
        for pk in list(candidates):
            score, colour = today[pk]
            was = before.get(pk, (None, ""))[1]
            if colour == "red" and was != "red":
                reasons[pk].append({"kind": "health_red", "score": score, "before": was or None})
            else:
                candidates.discard(pk)
    if rule.health_drop_points is not None:
        for pk in list(candidates):
            score = today[pk][0]
            then = month_ago.get(pk, (None, ""))[0]
            if score is not None and then is not None and then - score >= rule.health_drop_points:
                reasons[pk].append(
                    {
                        "kind": "health_drop",
                        "score": score,
                        "before": then,
                        "points": round(then - score, 1),
                    }
                )
            else:
                candidates.discard(pk)
    if rule.usage_drop_pct is not None:
        usage = facts["usage"]
        for pk in list(candidates):
            trend = usage[pk].trend(ACTIVE_USERS) if pk in usage else None
            if trend is not None and trend <= -rule.usage_drop_pct:
                reasons[pk].append({"kind": "usage_drop", "pct": round(-trend, 1)})
            else:
                candidates.discard(pk)
    if rule.renewal_within_days is not None:
        accounts = facts["accounts"]
        for pk in list(candidates):
            renewal, _mrr, detractor = accounts.get(pk, (None, None, False))
            days = None if renewal is None else (renewal - day).days
            red = today[pk][1] == "red"
            if days is not None and 0 <= days <= rule.renewal_within_days and (detractor or red):
                reasons[pk].append(
                    {
                        "kind": "renewal",
                        "renewal_date": renewal.isoformat(),
                        "days": days,
                        "detractor": detractor,
                    }
                )
            else:
                candidates.discard(pk)
    if rule.mrr_above is not None:
        accounts = facts["accounts"]
        candidates = {
            pk for pk in candidates if pk in accounts and accounts[pk][1] > rule.mrr_above
        }
    return {pk: reasons[pk] for pk in sorted(candidates)}


def rule_facts(*, day: dt.date) -> dict:
    """What the account rules read, once for all rules: snapshots of the day, the day before
    and 30 days before; usage trends; renewal dates, MRR and NPS category."""

    def on(when: dt.date) -> dict[int, tuple[float | None, str]]:
        return {
            pk: (score, colour)
            for pk, score, colour in HealthSnapshot.objects.filter(day=when).values_list(
                "account_id", "score", "colour"
            )
        }

    today = on(day)
    scores = selectors.account_scores(reference=day_end(day))
    return {
        "today": today,
        "yesterday": on(day - dt.timedelta(days=1)),
        "month_ago": on(day - dt.timedelta(days=TREND_DAYS)),
        "usage": support_selectors.account_usage(as_of=day - dt.timedelta(days=1)),
        "accounts": {
            row.pk: (row.renewal_date, row.arr / 12, row.category == -1) for row in scores
        },
    }


def evaluate_account_rules(*, day: dt.date | None = None) -> int:
    """Fire every active account rule for the accounts it matches on a day (default today,
    after its snapshots). Idempotent: returns the number of alerts newly fired."""
    day = day or timezone.localdate()
    rules = [rule for rule in AlertRule.objects.filter(active=True) if rule.is_account_rule]
    if not rules:
        return 0
    facts = rule_facts(day=day)
    fired = 0
    for rule in rules:
        for account_id, reasons in account_rule_matches(rule, day=day, facts=facts).items():
            if fire_account_alert(rule_id=rule.pk, account_id=account_id, day=day, reasons=reasons):
                fired += 1
    return fired


def daily(*, day: dt.date | None = None) -> dict:
    """The beat task's work: today's snapshots, then the account rules on them."""
    day = day or timezone.localdate()
    return {"snapshots": take_snapshots(day=day), "alerts": evaluate_account_rules(day=day)}
