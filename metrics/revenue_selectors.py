"""Revenue reads on the subscription ledger: one-pass SQL over `outcomes_subscriptionevent`.

Every statement starts from the same grid: each account's state (MRR, currency, whether it ever
paid) at a sorted list of instants ("boundaries"), each the latest event before the instant,
found from the ledger months by an index probe or two per account and boundary, so a report
costs accounts x boundaries probes however many events the ledger holds. Bridges, cohorts,
movers and retention by category are aggregates over pairs of boundaries of that grid.
"""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections, transaction
from django.db.models import Exists, OuterRef, Subquery

from accounts.models import Account
from outcomes.models import SubscriptionEvent

from . import revenue_scoring as rs

EVENTS = "outcomes_subscriptionevent"
MONTHS = "metrics_ledgermonth"  # metrics.ledger_months


@dataclass(frozen=True)
class RevenueFilters:
    """Which accounts count (their current attributes), as on the dashboard."""

    plan: str = ""
    segment: str = ""
    region: str = ""
    owner: int | None = None
    account: int | None = None


@dataclass(frozen=True)
class Window:
    """[start, end) in the viewer's time zone, from dates."""

    start: dt.date
    end: dt.date
    tz: ZoneInfo

    def instant(self, day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, self.tz)

    @property
    def bounds(self) -> tuple[dt.datetime, dt.datetime]:
        return self.instant(self.start), self.instant(self.end)

    def months(self) -> list[tuple[dt.date, dt.date]]:
        """Calendar months clipped to the window, in order."""
        out = []
        cursor = self.start
        while cursor < self.end:
            following = add_months(cursor.replace(day=1), 1)
            out.append((cursor, min(following, self.end)))
            cursor = following
        return out


def add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


@contextmanager
def _cursor():
    """A cursor on the reports database with PostgreSQL's JIT off for the statement: these
    statements run in tens of milliseconds, and their row estimates (a join of ranges) can
    exceed JIT's cost threshold, which then spends most of a second compiling them."""
    alias = settings.REPORTS_DATABASE
    with transaction.atomic(using=alias), connections[alias].cursor() as cursor:
        # Memory for the sorts too, so they stay off disk; both only for this transaction.
        cursor.execute(
            "SELECT set_config('jit', 'off', true), set_config('work_mem', '32MB', true)"
        )
        yield cursor


def _account_filter(filters: RevenueFilters) -> tuple[str, list]:
    clauses, params = [], []
    for column in ("plan", "segment", "region"):
        value = getattr(filters, column)
        if value:
            clauses.append(f"a.{column} = %s")
            params.append(value)
    if filters.owner:
        clauses.append("a.owner_id = %s")
        params.append(filters.owner)
    if filters.account:
        clauses.append("a.id = %s")
        params.append(filters.account)
    return (" AND ".join(clauses) or "TRUE"), params


def grid_cte(boundaries: list[dt.datetime], filters: RevenueFilters) -> tuple[str, list]:
    """CTEs ending in `wide(account_id, j0, m, c, first_paid)`: for each account with an
    event before the last boundary, its MRR (`m`) and currency (`c`) at boundaries j0..K
    (1-based; from its latest event before that instant; none before j0) and the instant of
    its first paid event. `bounds.t` holds the boundaries.

    Read from the ledger months (`metrics.ledger_months`), one row per account and UTC month
    with events whatever the ledger's length: at boundary t, the account's latest month row starting
    before t (r) gives the state when r's last event is before t; when r's events all come at
    or after t, the state is the last event of the month row before r; only when t falls
    among r's events (t inside a UTC month, say a viewer's midnight) is the ledger probed."""
    where, params = _account_filter(filters)
    sql = f"""
    bounds AS (SELECT %s::timestamptz[] AS t),
    acc AS (
        SELECT a.id, fp.at AS first_paid
        FROM accounts_account a
        LEFT JOIN LATERAL (
            SELECT f.first_paid_at AS at FROM {MONTHS} f
            WHERE f.account_id = a.id AND f.first_paid_at IS NOT NULL
            ORDER BY f.month LIMIT 1
        ) fp ON true
        WHERE {where}
    ),
    wide AS MATERIALIZED (
        -- Once an account has an event before a boundary it has one before every later
        -- one, so its states run unbroken from j0.
        SELECT acc.id AS account_id, g.j0, g.m, g.c, acc.first_paid
        FROM acc
        CROSS JOIN LATERAL (
            SELECT min(b.j) AS j0, array_agg(x.mrr ORDER BY b.j) AS m,
                   array_agg(x.currency ORDER BY b.j) AS c
            FROM unnest((SELECT t FROM bounds)) WITH ORDINALITY AS b(at, j)
            CROSS JOIN LATERAL (
                SELECT r.month, r.first_at, r.last_at, r.mrr, r.currency FROM {MONTHS} r
                WHERE r.account_id = acc.id AND r.month < b.at
                ORDER BY r.month DESC LIMIT 1
            ) r
            CROSS JOIN LATERAL (
                -- One of three, by where t falls in r's month: after its last event,
                SELECT r.mrr, r.currency WHERE r.last_at < b.at
                UNION ALL
                -- before its first (the month before's last event),
                (SELECT p.mrr, p.currency FROM {MONTHS} p
                 WHERE r.first_at >= b.at AND p.account_id = acc.id AND p.month < r.month
                 ORDER BY p.month DESC LIMIT 1)
                UNION ALL
                -- or among them (the ledger itself).
                (SELECT e.mrr, e.currency FROM {EVENTS} e
                 WHERE r.first_at < b.at AND r.last_at >= b.at
                   AND e.account_id = acc.id AND e.effective_at < b.at
                 ORDER BY e.effective_at DESC, e.id DESC LIMIT 1)
            ) x
        ) g
        WHERE g.j0 IS NOT NULL
    )"""
    return sql, [list(boundaries), *params]


MOVES_CTE = """
    mv AS MATERIALIZED (
        SELECT p.pid, w.account_id,
               COALESCE(w.m[p.a - w.j0 + 1], 0) AS s, w.m[p.z - w.j0 + 1] AS e,
               w.c[p.a - w.j0 + 1] AS s_cur, w.c[p.z - w.j0 + 1] AS e_cur,
               COALESCE(w.first_paid < (SELECT t FROM bounds)[p.a], false) AS paid
        FROM wide w CROSS JOIN pairs p
        -- Accounts paying nothing at either end move nothing and count nowhere.
        WHERE w.j0 <= p.z
          AND (w.m[p.z - w.j0 + 1] > 0 OR COALESCE(w.m[p.a - w.j0 + 1], 0) > 0)
    ),
    split AS (
        SELECT pid, account_id, e_cur AS cur,
               CASE WHEN s_cur IS NULL OR s_cur = e_cur THEN s ELSE 0 END AS s, e, paid
        FROM mv
        UNION ALL
        SELECT pid, account_id, s_cur, s, 0, paid FROM mv WHERE s_cur <> e_cur
    )"""


# Money sums as text, so they travel through JSON as exact decimals.
BRIDGE_COLUMNS = """
        text(SUM(s)), text(SUM(e)),
        text(COALESCE(SUM(e) FILTER (WHERE s = 0 AND e > 0 AND NOT paid), 0)),
        text(COALESCE(SUM(e) FILTER (WHERE s = 0 AND e > 0 AND paid), 0)),
        text(COALESCE(SUM(e - s) FILTER (WHERE s > 0 AND e > s), 0)),
        text(COALESCE(SUM(s - e) FILTER (WHERE e > 0 AND e < s), 0)),
        text(COALESCE(SUM(s) FILTER (WHERE s > 0 AND e = 0), 0)),
        COUNT(*) FILTER (WHERE s > 0), COUNT(*) FILTER (WHERE e > 0),
        COUNT(*) FILTER (WHERE s = 0 AND e > 0 AND NOT paid),
        COUNT(*) FILTER (WHERE s = 0 AND e > 0 AND paid),
        COUNT(*) FILTER (WHERE s > 0 AND e > s),
        COUNT(*) FILTER (WHERE e > 0 AND e < s),
        COUNT(*) FILTER (WHERE s > 0 AND e = 0)"""


def _bridge_from_row(currency: str, values) -> rs.Bridge:
    (s, e, new, react, exp, contr, churn, n_start, n_end, c_new, c_react, c_exp, c_contr,
     c_churn) = values  # fmt: skip
    return rs.Bridge(
        currency=currency,
        mrr_start=rs.money(Decimal(s)),
        mrr_end=rs.money(Decimal(e)),
        new=rs.money(Decimal(new)),
        reactivation=rs.money(Decimal(react)),
        expansion=rs.money(Decimal(exp)),
        contraction=rs.money(Decimal(contr)),
        churn=rs.money(Decimal(churn)),
        accounts_start=n_start,
        accounts_end=n_end,
        accounts_churned=c_churn,
        counts={
            "new": c_new,
            "reactivation": c_react,
            "expansion": c_exp,
            "contraction": c_contr,
            "churn": c_churn,
        },
    )


@dataclass(frozen=True)
class AccountMove:
    account_id: int
    external_id: str
    name: str
    s: Decimal
    e: Decimal
    s_currency: str | None
    e_currency: str
    paid_before: bool
    renews_on: dt.date | None
    churn_reason: str | None
    churn_note: str
    churned_at: dt.datetime | None

    @cached_property
    def _movement(self) -> tuple[str | None, Decimal]:
        if self.s_currency and self.s_currency != self.e_currency and self.s > 0:
            return "churn", self.s  # a change of currency churns the old one
        return rs.movement(self.s, self.e, self.paid_before)

    @property
    def kind(self) -> str | None:
        return self._movement[0]

    @property
    def amount(self) -> Decimal:
        return self._movement[1]

    @property
    def currency(self) -> str:
        return self.s_currency if self.kind == "churn" and self.s_currency else self.e_currency


@dataclass(frozen=True)
class CohortCell:
    cohort: int  # index (1-based) of the cohort boundary closing the cohort's first paid month
    j: int  # index of a later cohort boundary
    currency: str
    accounts: int
    mrr: Decimal
    kept: Decimal  # sum of min(MRR, initial MRR): gross retention
    paying: int


@dataclass
class Sections:
    """What one statement read: bridges per pair, moves of the first pair, cohort cells and
    retention rows by category."""

    bridges: list[dict[str, rs.Bridge]]
    moves: list[AccountMove] | None = None
    cohorts: list[CohortCell] | None = None
    retention: dict[str, list[tuple]] | None = None


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


def sections(
    *,
    boundaries: list[dt.datetime],
    pairs: list[tuple[dt.datetime, dt.datetime]],
    filters: RevenueFilters,
    moves: bool = False,
    renewals: tuple[dt.date, dt.date] | None = None,
    cohort_boundaries: list[dt.datetime] | None = None,
    retention: dict[str, list[int]] | None = None,
    given: dict[str, dict[int, int | None]] | None = None,
    moves_limit: int | None = None,
) -> Sections:
    """One statement over one grid of account states: the per-currency bridge of each pair;
    with `moves`, the accounts that moved over the first pair (or whose renewal, as known at
    its start, falls in `renewals`); with `cohort_boundaries`, the cohort cells; with
    `retention` ({name: survey ids}), accounts paying at the first pair's start by their
    category then, with what became of them; `given` adds groups whose categories were
    computed elsewhere ({name: {account id: category}}). Every row is one JSON array, so sections of
    different shapes come back from one pass over the ledger."""
    boundaries = sorted(set(boundaries) | {i for pair in pairs for i in pair})
    index = {instant: j for j, instant in enumerate(boundaries, start=1)}
    grid, params = grid_cte(boundaries, filters)
    ctes = [
        grid,
        "pairs AS (SELECT * FROM unnest(%s::int[], %s::int[]) WITH ORDINALITY AS p(a, z, pid))",
        MOVES_CTE,
    ]
    params += [[index[a] for a, _z in pairs], [index[z] for _a, z in pairs]]
    selects = [
        f"""SELECT 'B', json_build_array(pid, cur, {BRIDGE_COLUMNS})
        FROM split GROUP BY pid, cur"""
    ]
    select_params: list = []
    if moves:
        lo, hi = renewals or (dt.date.min, dt.date.min)
        # With `moves_limit`, only what a summary shows: every churn and every renewal due,
        # and the largest `moves_limit` expansions and contractions.
        keep = (
            "TRUE"
            if moves_limit is None
            else "kind = 'churn' OR due OR (kind IN ('expansion', 'contraction') AND rank <= %s)"
        )
        selects.append(
            f"""SELECT 'M', json_build_array(account_id, external_id, name, text(s), text(e),
                   s_cur, e_cur, paid, renews_on, reason, churn_note, churned_at)
            FROM (
                SELECT m.*, row_number() OVER (PARTITION BY kind ORDER BY amount DESC, name)
                       AS rank
                FROM (
                    SELECT mv.*, a.external_id, a.name, a.churn_note, a.churned_at,
                           cr.name AS reason, r.renews_on,
                           COALESCE(r.renews_on >= %s AND r.renews_on < %s, false) AS due,
                           CASE WHEN mv.s > 0 AND (mv.e = 0 OR mv.s_cur <> mv.e_cur) THEN 'churn'
                                WHEN mv.e > mv.s THEN 'expansion'
                                WHEN mv.e < mv.s THEN 'contraction' END AS kind,
                           abs(mv.e - mv.s) AS amount
                    FROM mv
                    JOIN accounts_account a ON a.id = mv.account_id
                    LEFT JOIN accounts_churnreason cr ON cr.id = a.churn_reason_id
                    LEFT JOIN LATERAL (
                        SELECT x.renews_on FROM {EVENTS} x
                        WHERE x.account_id = mv.account_id AND x.effective_at < %s
                          AND x.renews_on IS NOT NULL
                        ORDER BY x.effective_at DESC, x.id DESC LIMIT 1
                    ) r ON mv.s > 0
                    WHERE mv.pid = 1
                ) m
                WHERE m.s <> m.e OR m.s_cur <> m.e_cur OR m.due
            ) ranked
            WHERE {keep}"""
        )
        select_params += [lo, hi, pairs[0][0]]
        if moves_limit is not None:
            select_params.append(moves_limit)
    if cohort_boundaries:
        # An account's cohort is the first cohort boundary at which it had paid (its first
        # paid event is before it); cohort 1 paid before the first month and is left out.
        ctes.append(
            """cb AS (SELECT %s::int[] AS j, %s::timestamptz[] AS t),
            firsts AS (
                SELECT w.*, 1 + width_bucket(w.first_paid, cb.t) AS cohort, cb.j AS cj
                FROM wide w, cb
                WHERE w.first_paid IS NOT NULL
            ),
            cst AS (
                SELECT f.account_id, f.cohort, n, f.c[f.cj[f.cohort] - f.j0 + 1] AS currency,
                       f.m[f.cj[f.cohort] - f.j0 + 1] AS initial,
                       f.m[f.cj[n] - f.j0 + 1] AS mrr, f.c[f.cj[n] - f.j0 + 1] AS cur
                FROM firsts f, generate_series(f.cohort, cardinality(f.cj)) AS n
                WHERE f.cohort > 1 AND f.cohort <= cardinality(f.cj)
            )"""
        )
        params += [
            [index[instant] for instant in cohort_boundaries],
            list(cohort_boundaries),
        ]
        selects.append(
            """SELECT 'C', json_build_array(cohort, n, currency, COUNT(*),
                   text(SUM(CASE WHEN cur = currency THEN mrr ELSE 0 END)),
                   text(SUM(CASE WHEN cur = currency THEN LEAST(mrr, initial) ELSE 0 END)),
                   COUNT(*) FILTER (WHERE mrr > 0))
            FROM cst WHERE initial > 0
            GROUP BY cohort, n, currency"""
        )
    if retention or given:
        cat, cat_params = category_at_cte(groups=retention or {}, reference=pairs[0][0])
        ctes.append(cat)
        params += cat_params
        # Categories computed elsewhere (health colour at the start), as (group, id, category).
        rows = [(name, pk, c) for name, by_id in (given or {}).items() for pk, c in by_id.items()]
        ctes.append(
            """given AS (SELECT * FROM unnest(%s::text[], %s::bigint[], %s::int[])
                         AS g(account_id_grp, account_id, category)),
            cat_all AS (
                SELECT account_id, grp, category FROM cat
                UNION ALL SELECT account_id, account_id_grp, category FROM given
            )"""
        )
        params += [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]]
        groups = [*(retention or {}), *(given or {})]
        selects.append(
            """SELECT 'R', json_build_array(g.grp, c.category, mv.s_cur, COUNT(*),
                   COUNT(*) FILTER (WHERE mv.e = 0 OR mv.e_cur <> mv.s_cur),
                   text(SUM(mv.s)),
                   text(SUM(CASE WHEN mv.e_cur = mv.s_cur THEN mv.e ELSE 0 END)))
            FROM mv
            CROSS JOIN unnest(%s::text[]) AS g(grp)
            LEFT JOIN cat_all c ON c.account_id = mv.account_id AND c.grp = g.grp
            WHERE mv.pid = 1 AND mv.s > 0
            GROUP BY g.grp, c.category, mv.s_cur"""
        )
        select_params.append(groups)
    sql = "WITH " + ",\n".join(ctes) + "\n" + "\nUNION ALL\n".join(selects)
    out = Sections(bridges=[{} for _pair in pairs])
    if moves:
        out.moves = []
    if cohort_boundaries:
        out.cohorts = []
    if retention is not None or given is not None:
        out.retention = {name: [] for name in [*(retention or {}), *(given or {})]}
    with _cursor() as cursor:
        cursor.execute(sql, [*params, *select_params])
        for section, row in cursor.fetchall():
            if section == "B":
                pid, currency, *values = row
                out.bridges[pid - 1][currency] = _bridge_from_row(currency, values)
            elif section == "M":
                pk, ext, name, s, e, s_cur, e_cur, paid, renews_on, reason, note, churned = row
                out.moves.append(
                    AccountMove(
                        pk,
                        ext,
                        name,
                        Decimal(s),
                        Decimal(e),
                        s_cur,
                        e_cur,
                        paid,
                        dt.date.fromisoformat(renews_on) if renews_on else None,
                        reason,
                        note,
                        _when(churned),
                    )  # fmt: skip
                )
            elif section == "C":
                cohort, j, currency, n, mrr, kept, paying = row
                out.cohorts.append(
                    CohortCell(cohort, j, currency, n, Decimal(mrr), Decimal(kept), paying)
                )
            else:
                name, category, currency, n, churned, s, e = row
                out.retention[name].append((category, currency, n, churned, Decimal(s), Decimal(e)))
    return out


def account_history(*, account_id: int, limit: int = 200) -> list[dict]:
    """An account's ledger, newest first (at most `limit`), each event with its movement
    against the one before (the period-balance rules, one event at a time)."""
    events = (
        SubscriptionEvent.objects.using(settings.REPORTS_DATABASE)
        .filter(account_id=account_id)
        .order_by("effective_at", "pk")
        .values_list("pk", "effective_at", "mrr", "currency", "plan", "source", "external_id")
    )
    rows = []
    previous: tuple[Decimal, str] | None = None
    paid = False
    for pk, at, mrr, currency, plan, source, external_id in events:
        before = previous[0] if previous and previous[1] == currency else Decimal(0)
        kind, amount = rs.movement(before, mrr, paid)
        rows.append(
            {
                "id": pk,
                "effective_at": at,
                "mrr": mrr,
                "currency": currency,
                "plan": plan,
                "source": source,
                "external_id": external_id,
                "movement": kind,
                "amount": amount,
            }
        )
        previous = (mrr, currency)
        paid = paid or mrr > 0
    return rows[::-1][:limit]


def mrr_at(*, instant: dt.datetime, account_ids: list[int]) -> dict[int, tuple[Decimal, str]]:
    """{account id: (MRR, currency)} at an instant, from each account's latest ledger event
    before it (0 when its events all come later). Accounts with no ledger event at all (data
    written around the services) are left out, so callers keep their cached MRR."""
    latest = SubscriptionEvent.objects.filter(
        account=OuterRef("pk"), effective_at__lt=instant
    ).order_by("-effective_at", "-pk")
    rows = (
        Account.objects.using(settings.REPORTS_DATABASE)
        .filter(pk__in=account_ids)
        .annotate(
            has_events=Exists(SubscriptionEvent.objects.filter(account=OuterRef("pk"))),
            ledger_mrr=Subquery(latest.values("mrr")[:1]),
            ledger_currency=Subquery(latest.values("currency")[:1]),
        )
        .filter(has_events=True)
        .values_list("pk", "ledger_mrr", "ledger_currency", "currency")
    )
    return {
        pk: (Decimal(0), currency) if mrr is None else (mrr, ledger_currency)
        for pk, mrr, ledger_currency, currency in rows
    }


def category_at_cte(*, groups: dict[str, list[int]], reference: dt.datetime) -> tuple[str, list]:
    """`cat(account_id, grp, category)`: for each group of surveys (say "nps": the NPS
    surveys), the category (+1, 0, -1) of each account's most recent counted answer to them in
    the ACCOUNT_CATEGORY_DAYS (365) before `reference`; accounts without one have no row ("no
    answer"). The rule of DESIGN.md ("An account's NPS category") that `selectors.latest_category`
    applies to the account lists, ties included (the more cautious category wins), in SQL over
    a chosen set of surveys. Frozen at `reference`, so later answers cannot leak in."""
    names = [name for name, ids in groups.items() for _id in ids]
    ids = [survey_id for _name, survey_ids in groups.items() for survey_id in survey_ids]
    sql = """
    cat AS (
        SELECT DISTINCT ON (r.account_id, g.grp) r.account_id, g.grp, r.category
        FROM surveys_response r
        JOIN unnest(%s::text[], %s::bigint[]) AS g(grp, survey_id) ON g.survey_id = r.survey_id
        WHERE r.account_id IS NOT NULL AND NOT r.excluded
          AND r.answered_at < %s AND r.answered_at >= %s
        -- Two answers at the same instant: the more cautious category counts. Only columns of
        -- the counted-answers index, so it is read alone.
        ORDER BY r.account_id, g.grp, r.answered_at DESC, r.category
    )"""
    since = reference - dt.timedelta(days=settings.ACCOUNT_CATEGORY_DAYS)
    return sql, [names, ids, reference, since]
