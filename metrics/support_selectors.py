"""Support and adoption reads: one-pass SQL over tickets, usage and onboarding milestones.

Support figures are aggregates of the tickets created in [start, end) of the viewer's time
zone, in one statement: counts with FILTER, times with `percentile_cont` (one sort gives the
median and the 90th percentile), breakdowns as GROUPING SETS of the same scan. The covering
index `ticket_created_metrics` holds every column the summary reads, so a period is an
index-only range scan (the report's breakdowns by assignee and plan read the rows). The plan is
the ticket's copy of its account's (`outcomes.ticket_plan`): no join of the accounts but for
the segment and owner filters. Definitions: `metrics/support_scoring.py`.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections, transaction

from accounts.models import Account
from outcomes.models import Onboarding, Ticket, UsageRecord
from outcomes.usage import ACTIVE_USERS
from surveys.models import Invitation, Kind, Response, Survey

from . import support_rollups
from . import support_scoring as ss
from .rollup_pieces import next_month
from .ticket_rollups import flags_sql, minutes_sql

TICKETS = Ticket._meta.db_table
ACCOUNTS = Account._meta.db_table
USAGE = UsageRecord._meta.db_table
ONBOARDING = Onboarding._meta.db_table
RESPONSES = Response._meta.db_table
INVITATIONS = Invitation._meta.db_table
DIMENSIONS = ("channel", "assignee", "plan", "month")
USAGE_DAYS = 30


@dataclass(frozen=True)
class SupportFilters:
    """Tickets created in [start, end) of `tz`, of the accounts (and channel) chosen."""

    start: dt.date
    end: dt.date
    tz: ZoneInfo
    account: int | None = None
    plan: str = ""
    segment: str = ""
    owner: int | None = None
    channel: str = ""

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return (
            dt.datetime.combine(self.start, dt.time.min, self.tz),
            dt.datetime.combine(self.end, dt.time.min, self.tz),
        )

    @property
    def needs_accounts(self) -> bool:
        return bool(self.plan or self.segment or self.owner)


@contextmanager
def _cursor(*, tuned: bool = True):
    """A cursor on the reports database. Tuned (statements over many accounts): PostgreSQL's
    JIT off (they take milliseconds to a few hundred; compiling them would take longer) and
    room for the sorts, both for this transaction only. One account's reads need neither."""
    alias = settings.REPORTS_DATABASE
    if not tuned:
        with connections[alias].cursor() as cursor:
            yield cursor
        return
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', '64MB', true)"
        )
        yield cursor


def _where(filters: SupportFilters) -> tuple[str, str, list]:
    """(join, where, params) for the tickets the filters choose."""
    lo, hi = filters.bounds
    clauses = ["t.created_at >= %s", "t.created_at < %s"]
    params: list = [lo, hi]
    if filters.account:
        clauses.append("t.account_id = %s")
        params.append(filters.account)
    if filters.channel:
        clauses.append("t.channel = %s")
        params.append(filters.channel)
    if filters.plan:
        # The ticket's copy of its account's plan (outcomes.ticket_plan).
        clauses.append("t.plan = %s")
        params.append(filters.plan)
    if filters.segment:
        clauses.append("a.segment = %s")
        params.append(filters.segment)
    if filters.owner:
        clauses.append("a.owner_id = %s")
        params.append(filters.owner)
    join = ""
    if filters.segment or filters.owner:
        join = f"LEFT JOIN {ACCOUNTS} a ON a.id = t.account_id"
    return join, " AND ".join(clauses), params


FIGURES = """
    COUNT(*), COUNT(*) FILTER (WHERE t.solved), COUNT(*) FILTER (WHERE t.ever_solved),
    COUNT(*) FILTER (WHERE t.reopened), COUNT(*) FILTER (WHERE t.fcr),
    COUNT(t.reply), AVG(t.reply),
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY t.reply),
    COUNT(t.resolution), AVG(t.resolution),
    percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY t.resolution)
"""


def _times(n, mean, quantiles) -> ss.TimeStats:
    if not n:
        return ss.TimeStats(0, None, None, None)
    return ss.TimeStats(n, float(mean), float(quantiles[0]), float(quantiles[1]))


def _summary(values: tuple) -> ss.SupportSummary:
    created, solved, ever, reopened, fcr, rn, rmean, rq, sn, smean, sq = values
    return ss.SupportSummary(
        created=created,
        solved=solved,
        ever_solved=ever,
        reopened=reopened,
        fcr=fcr,
        first_reply=_times(rn, rmean, rq),
        resolution=_times(sn, smean, sq),
    )


def _source(filters: SupportFilters, *, extra: str = "") -> tuple[str, list]:
    join, where, params = _where(filters)
    # Narrow rows (the sorts of the percentiles move them), times as float8: date_part, not
    # EXTRACT, whose numeric result made every comparison of the sorts several times slower.
    flags = "".join(f"({sql}) AS {name}, " for name, sql in flags_sql("t").items())
    sql = f"""
        SELECT t.channel, t.assignee, {flags}
               {minutes_sql("first_reply_at", "t")} AS reply,
               {minutes_sql("solved_at", "t")} AS resolution{extra}
        FROM {TICKETS} t {join}
        WHERE {where}
    """  # noqa: S608 - table and column names from the models; values are parameters
    return sql, params


def support_summary(*, filters: SupportFilters) -> ss.SupportSummary:
    """The support figures of the tickets the filters choose: from the ticket rollups when the
    filters allow (`metrics.support_rollups`), else one statement over the tickets."""
    if support_rollups.readable(filters):
        with _cursor() as cursor:
            return support_rollups.summary(cursor, filters)
    source, params = _source(filters)
    with _cursor(tuned=not filters.account) as cursor:
        cursor.execute(f"SELECT {FIGURES} FROM ({source}) t", params)  # noqa: S608
        return _summary(cursor.fetchone())


@dataclass
class SupportReport:
    summary: ss.SupportSummary
    by: dict[str, list[tuple[object, ss.SupportSummary]]] = field(default_factory=dict)


def support_report(*, filters: SupportFilters) -> SupportReport:
    """The summary and its breakdowns (channel, assignee, plan, month of creation in the
    viewer's time zone): from the ticket rollups when the filters allow
    (`metrics.support_rollups`), else one scan of the tickets, GROUPING SETS."""
    if support_rollups.readable_page(filters):
        return _sorted(_report_from_rollups(filters))
    extra = ", t.plan, date_trunc('month', t.created_at AT TIME ZONE %s)::date AS month"
    source, params = _source(filters, extra=extra)
    params = [str(filters.tz), *params]
    sql = f"""
        SELECT GROUPING(t.channel, t.assignee, t.plan, t.month), t.channel, t.assignee,
               t.plan, t.month, {FIGURES}
        FROM ({source}) t
        GROUP BY GROUPING SETS ((), (t.channel), (t.assignee), (t.plan), (t.month))
    """  # noqa: S608
    # GROUPING() sets a bit for each column left out, the first column the highest.
    masks = {0b1111: None, 0b0111: "channel", 0b1011: "assignee", 0b1101: "plan", 0b1110: "month"}
    report = SupportReport(summary=ss.summarize([]), by={name: [] for name in DIMENSIONS})
    with _cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            mask, channel, assignee, plan, month, *figures = row
            dimension = masks[mask]
            summary = _summary(tuple(figures))
            if dimension is None:
                report.summary = summary
            else:
                key = {"channel": channel, "assignee": assignee, "plan": plan, "month": month}[
                    dimension
                ]
                report.by[dimension].append((key, summary))
    return _sorted(report)


def _report_from_rollups(filters: SupportFilters) -> SupportReport:
    months = []
    month = filters.start.replace(day=1)
    while month < filters.end:
        months.append(month)
        month = next_month(month)
    with _cursor() as cursor:
        return SupportReport(
            summary=support_rollups.summary(cursor, filters),
            by={
                **support_rollups.breakdowns(cursor, filters),
                "month": support_rollups.by_month(cursor, filters, months),
            },
        )


def _sorted(report: SupportReport) -> SupportReport:
    for name, rows in report.by.items():
        if name == "month":
            rows.sort(key=lambda item: item[0])
        else:
            rows.sort(key=lambda item: (-item[1].created, item[0] or ""))
    return report


# --- CSAT per ticket --------------------------------------------------------------------------


def csat_by_ticket(*, filters: SupportFilters, survey_ids: list[int] | None = None) -> dict:
    """CSAT of the answers joined to the period's tickets, by first-reply bucket, channel and
    assignee. An answer is joined to the ticket its invitation names (`properties.ticket`, else
    `event_id`) at the answer's account; quarantined and excluded answers do not count."""
    if survey_ids is None:
        survey_ids = list(
            Survey.objects.using(settings.REPORTS_DATABASE)
            .filter(kind=Kind.CSAT)
            .values_list("pk", flat=True)
        )
    empty = {"total": ss.csat_share(0, 0), "reply_bucket": [], "channel": [], "assignee": []}
    if not survey_ids:
        return empty
    join, where, params = _where(filters)
    reply = "date_part('epoch', t.first_reply_at - t.created_at) / 60"
    buckets = " ".join(
        f"WHEN {reply} < {upper} THEN '{key}'" for key, upper in ss.REPLY_BUCKETS if upper
    )
    # From the answers (far fewer than the tickets) to their tickets by (account, id): an
    # index probe each, never a pass over the period's tickets.
    sql = f"""
        SELECT GROUPING(x.bucket, x.channel, x.assignee), x.bucket, x.channel, x.assignee,
               COUNT(*), COUNT(*) FILTER (WHERE x.category = 1)
        FROM (
            SELECT r.category, t.channel, t.assignee,
                   CASE WHEN t.first_reply_at IS NULL THEN '{ss.NO_REPLY}' {buckets}
                        ELSE '{ss.REPLY_BUCKETS[-1][0]}' END AS bucket
            FROM {RESPONSES} r
            JOIN {INVITATIONS} i ON i.id = r.invitation_id
            JOIN {TICKETS} t ON t.account_id = r.account_id
                 AND t.external_id = COALESCE(i.properties ->> 'ticket', i.event_id)
            {join}
            WHERE NOT r.excluded AND r.survey_id = ANY(%s) AND {where}
        ) x
        GROUP BY GROUPING SETS ((), (x.bucket), (x.channel), (x.assignee))
    """  # noqa: S608 - names from the models, bucket labels from constants; values are params
    masks = {0b111: "total", 0b011: "reply_bucket", 0b101: "channel", 0b110: "assignee"}
    out: dict = {key: [] for key in ("reply_bucket", "channel", "assignee")}
    out["total"] = ss.csat_share(0, 0)
    with _cursor() as cursor:
        cursor.execute(sql, [survey_ids, *params])
        for mask, bucket, channel, assignee, answers, satisfied in cursor.fetchall():
            share = ss.csat_share(satisfied, answers)
            name = masks[mask]
            if name == "total":
                out["total"] = share
            else:
                key = {"reply_bucket": bucket, "channel": channel, "assignee": assignee}[name]
                out[name].append((key, share))
    order = {key: i for i, (key, _upper) in enumerate(ss.REPLY_BUCKETS)} | {ss.NO_REPLY: 99}
    out["reply_bucket"].sort(key=lambda item: order[item[0]])
    out["channel"].sort(key=lambda item: (-item[1]["answers"], item[0]))
    out["assignee"].sort(key=lambda item: (-item[1]["answers"], item[0]))
    return out


# --- One account ------------------------------------------------------------------------------


def monthly_ticket_counts(
    *, account: Account, months: list[dt.date], tz: ZoneInfo
) -> list[tuple[dt.date, int]]:
    """Tickets created per calendar month (first days in `months`, in order), zeros included."""
    if not months:
        return []
    lo = dt.datetime.combine(months[0], dt.time.min, tz)
    last = months[-1]
    following = dt.date(last.year + (last.month == 12), last.month % 12 + 1, 1)
    hi = dt.datetime.combine(following, dt.time.min, tz)
    sql = f"""
        SELECT date_trunc('month', created_at AT TIME ZONE %s)::date, COUNT(*)
        FROM {TICKETS}
        WHERE account_id = %s AND created_at >= %s AND created_at < %s
        GROUP BY 1
    """  # noqa: S608
    with _cursor(tuned=False) as cursor:
        cursor.execute(sql, [str(tz), account.pk, lo, hi])
        counts = dict(cursor.fetchall())
    return [(month, counts.get(month, 0)) for month in months]


# --- Usage and adoption -----------------------------------------------------------------------


@dataclass(frozen=True)
class AccountUsage:
    account_id: int
    seats: int | None
    active_users: float | None  # the latest active_users value in the last 30 days
    adoption_pct: float | None
    # metric -> (last 30 days, prior 30 days, trend %)
    metrics: dict[str, tuple[float, float, float | None]]

    def trend(self, metric: str = ACTIVE_USERS) -> float | None:
        values = self.metrics.get(metric)
        return None if values is None else values[2]


def usage_windows(as_of: dt.date) -> tuple[dt.date, dt.date, dt.date]:
    """(first day of the prior window, first day of the last window, last day): two windows
    of 30 days, the last ending with `as_of` (the last complete day)."""
    return (
        as_of - dt.timedelta(days=2 * USAGE_DAYS - 1),
        as_of - dt.timedelta(days=USAGE_DAYS - 1),
        as_of,
    )


def account_usage(
    *, as_of: dt.date, account_ids: list[int] | None = None
) -> dict[int, AccountUsage]:
    """Per account with usage in the 60 days ending `as_of` or with seats: adoption and the
    trend of each metric (sum of the last 30 days / the prior 30 - 1). One statement."""
    prior_start, last_start, last_day = usage_windows(as_of)
    account_clause = "" if account_ids is None else "AND u.account_id = ANY(%s)"
    seats_clause = "" if account_ids is None else "AND id = ANY(%s)"
    sql = f"""
        WITH u AS (
            SELECT u.account_id, u.metric,
                   SUM(u.value) FILTER (WHERE u.day >= %s) AS last30,
                   SUM(u.value) FILTER (WHERE u.day < %s) AS prior30,
                   (ARRAY_AGG(u.value ORDER BY u.day DESC) FILTER (
                        WHERE u.day >= %s AND u.metric = %s))[1] AS latest
            FROM {USAGE} u
            WHERE u.day >= %s AND u.day <= %s {account_clause}
            GROUP BY u.account_id, u.metric
        )
        SELECT u.account_id, u.metric, u.last30, u.prior30, u.latest, a.seats
        FROM u JOIN {ACCOUNTS} a ON a.id = u.account_id
        UNION ALL
        SELECT id, NULL, NULL, NULL, NULL, seats FROM {ACCOUNTS}
        WHERE seats IS NOT NULL {seats_clause}
    """  # noqa: S608
    params: list = [last_start, last_start, last_start, ACTIVE_USERS, prior_start, last_day]
    if account_ids is not None:
        params.append(account_ids)
    if account_ids is not None:
        params.append(account_ids)
    rows: dict[int, dict] = {}
    with _cursor(tuned=account_ids is None or len(account_ids) > 100) as cursor:
        cursor.execute(sql, params)
        for account_id, metric, last30, prior30, latest, seats in cursor.fetchall():
            entry = rows.setdefault(account_id, {"seats": seats, "latest": None, "metrics": {}})
            if metric is None:
                continue
            last, prior = float(last30 or 0), float(prior30 or 0)
            entry["metrics"][metric] = (last, prior, ss.usage_trend_pct(last, prior))
            if metric == ACTIVE_USERS and latest is not None:
                entry["latest"] = float(latest)
    return {
        account_id: AccountUsage(
            account_id=account_id,
            seats=entry["seats"],
            active_users=entry["latest"],
            adoption_pct=ss.adoption_pct(entry["latest"], entry["seats"]),
            metrics=entry["metrics"],
        )
        for account_id, entry in rows.items()
    }


def daily_usage(*, account: Account, metric: str, start: dt.date, end: dt.date) -> list[tuple]:
    """(day, value) of one account's metric for days in [start, end], in order."""
    return list(
        UsageRecord.objects.using(settings.REPORTS_DATABASE)
        .filter(account=account, metric=metric, day__gte=start, day__lte=end)
        .order_by("day")
        .values_list("day", "value")
    )


def implementation_times(*, dimension: str) -> list[dict]:
    """Implementation time (go-live - kickoff) and time to first value (first value -
    kickoff), in days, per plan or per owner: n, mean, median, p90; plus accounts still
    onboarding (kickoff, no go-live)."""
    group = {"plan": "COALESCE(a.plan, '')", "owner": "a.owner_id"}[dimension]
    sql = f"""
        SELECT GROUPING({group}), {group},
               COUNT(*) FILTER (WHERE o.kickoff_on IS NOT NULL AND o.go_live_on IS NULL),
               COUNT(o.go_live_on - o.kickoff_on),
               AVG(o.go_live_on - o.kickoff_on),
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY o.go_live_on - o.kickoff_on),
               COUNT(o.first_value_on - o.kickoff_on),
               AVG(o.first_value_on - o.kickoff_on),
               percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
                    ORDER BY o.first_value_on - o.kickoff_on)
        FROM {ONBOARDING} o JOIN {ACCOUNTS} a ON a.id = o.account_id
        GROUP BY GROUPING SETS ((), ({group}))
    """  # noqa: S608
    out = []
    with _cursor() as cursor:
        cursor.execute(sql)
        for mask, key, onboarding, n, mean, q, vn, vmean, vq in cursor.fetchall():
            out.append(
                {
                    "total": bool(mask),
                    "key": key,
                    "onboarding": onboarding,
                    "implementation": _days(n, mean, q),
                    "time_to_value": _days(vn, vmean, vq),
                }
            )
    out.sort(key=lambda row: (not row["total"], -row["implementation"]["n"], str(row["key"])))
    return out


def _days(n, mean, quantiles) -> dict:
    stats = _times(n, mean, quantiles)
    return {"n": stats.n, **stats.payload()}
