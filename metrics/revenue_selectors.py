"""Revenue reads on the subscription ledger: one-pass SQL over `outcomes_subscriptionevent`.

Every statement starts from the same grid: each account's state (MRR, currency, whether it ever
paid) at a sorted list of instants ("boundaries"), computed from the latest event before the
first boundary (an index probe per account) plus the events between the first and the last
boundary, bucketed with `width_bucket`. Bridges, cohorts, movers and retention by category are
aggregates over pairs of boundaries of that grid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections

from . import revenue_scoring as rs

EVENTS = "outcomes_subscriptionevent"


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


def _cursor():
    return connections[settings.REPORTS_DATABASE].cursor()


def _account_filter(filters: RevenueFilters) -> tuple[str, list]:
    clauses, params = [], []
    for column in ("plan", "segment", "region"):
        value = getattr(filters, column)
        if value:
            clauses.append(f"{column} = %s")
            params.append(value)
    if filters.owner:
        clauses.append("owner_id = %s")
        params.append(filters.owner)
    if filters.account:
        clauses.append("id = %s")
        params.append(filters.account)
    return (" AND ".join(clauses) or "TRUE"), params


def grid_cte(boundaries: list[dt.datetime], filters: RevenueFilters) -> tuple[str, list]:
    """CTEs ending in `st(j, account_id, mrr, currency, paid)`: the account's MRR and currency
    at boundary j (1-based; from its latest event before that instant) and whether it paid
    anything before it. Accounts with no event before boundary j have no row for j."""
    where, params = _account_filter(filters)
    first, last, count = boundaries[0], boundaries[-1], len(boundaries)
    sql = f"""
    acc AS (SELECT id FROM accounts_account WHERE {where}),
    head AS (
        SELECT a.id AS account_id, 0 AS k, h.mrr, h.currency,
               EXISTS (SELECT 1 FROM {EVENTS} p
                       WHERE p.account_id = a.id AND p.effective_at < %s AND p.mrr > 0) AS paid
        FROM acc a
        CROSS JOIN LATERAL (
            SELECT e.mrr, e.currency FROM {EVENTS} e
            WHERE e.account_id = a.id AND e.effective_at < %s
            ORDER BY e.effective_at DESC, e.id DESC LIMIT 1
        ) h
    ),
    body AS (
        SELECT e.account_id, width_bucket(e.effective_at, %s::timestamptz[]) AS k,
               (array_agg(e.mrr ORDER BY e.effective_at DESC, e.id DESC))[1] AS mrr,
               (array_agg(e.currency ORDER BY e.effective_at DESC, e.id DESC))[1] AS currency,
               bool_or(e.mrr > 0) AS paid
        FROM {EVENTS} e JOIN acc a ON a.id = e.account_id
        WHERE e.effective_at >= %s AND e.effective_at < %s
        GROUP BY 1, 2
    ),
    seg AS (
        SELECT account_id, k, mrr, currency,
               bool_or(paid) OVER (PARTITION BY account_id ORDER BY k) AS paid,
               LEAD(k) OVER (PARTITION BY account_id ORDER BY k) AS next_k
        FROM (SELECT * FROM head UNION ALL SELECT * FROM body) u
    ),
    st AS MATERIALIZED (
        SELECT j, account_id, mrr, currency, paid
        FROM seg CROSS JOIN LATERAL generate_series(k + 1, COALESCE(next_k, %s)) AS j
    )"""
    return sql, [*params, first, first, list(boundaries), first, last, count]


MOVES_CTE = """
    mv AS (
        SELECT p.pid, e.account_id, COALESCE(s.mrr, 0) AS s, e.mrr AS e,
               s.currency AS s_cur, e.currency AS e_cur, COALESCE(s.paid, false) AS paid
        FROM pairs p
        JOIN st e ON e.j = p.z
        LEFT JOIN st s ON s.j = p.a AND s.account_id = e.account_id
    ),
    split AS (
        SELECT pid, account_id, e_cur AS cur,
               CASE WHEN s_cur IS NULL OR s_cur = e_cur THEN s ELSE 0 END AS s, e, paid
        FROM mv
        UNION ALL
        SELECT pid, account_id, s_cur, s, 0, paid FROM mv WHERE s_cur <> e_cur
    )"""

BRIDGE_COLUMNS = """
        SUM(s), SUM(e),
        COALESCE(SUM(e) FILTER (WHERE s = 0 AND e > 0 AND NOT paid), 0),
        COALESCE(SUM(e) FILTER (WHERE s = 0 AND e > 0 AND paid), 0),
        COALESCE(SUM(e - s) FILTER (WHERE s > 0 AND e > s), 0),
        COALESCE(SUM(s - e) FILTER (WHERE e > 0 AND e < s), 0),
        COALESCE(SUM(s) FILTER (WHERE s > 0 AND e = 0), 0),
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
        mrr_start=Decimal(s),
        mrr_end=Decimal(e),
        new=Decimal(new),
        reactivation=Decimal(react),
        expansion=Decimal(exp),
        contraction=Decimal(contr),
        churn=Decimal(churn),
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


def bridges(
    *, pairs: list[tuple[dt.datetime, dt.datetime]], filters: RevenueFilters
) -> list[dict[str, rs.Bridge]]:
    """The per-currency bridge of each (start, end) pair, in one statement."""
    boundaries = sorted({instant for pair in pairs for instant in pair})
    index = {instant: j for j, instant in enumerate(boundaries, start=1)}
    cte, params = grid_cte(boundaries, filters)
    sql = f"""
    WITH {cte},
    pairs AS (SELECT * FROM unnest(%s::int[], %s::int[]) WITH ORDINALITY AS p(a, z, pid)),
    {MOVES_CTE}
    SELECT pid, cur, {BRIDGE_COLUMNS}
    FROM split GROUP BY pid, cur ORDER BY pid, cur"""
    params += [[index[a] for a, _z in pairs], [index[z] for _a, z in pairs]]
    out: list[dict[str, rs.Bridge]] = [{} for _pair in pairs]
    with _cursor() as cursor:
        cursor.execute(sql, params)
        for pid, currency, *values in cursor.fetchall():
            out[pid - 1][currency] = _bridge_from_row(currency, values)
    return out


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

    @property
    def kind(self) -> str | None:
        if self.s_currency and self.s_currency != self.e_currency:
            return "churn" if self.s > 0 else rs.movement(self.s, self.e, self.paid_before)[0]
        return rs.movement(self.s, self.e, self.paid_before)[0]

    @property
    def amount(self) -> Decimal:
        if self.s_currency and self.s_currency != self.e_currency and self.s > 0:
            return self.s
        return rs.movement(self.s, self.e, self.paid_before)[1]

    @property
    def currency(self) -> str:
        return self.s_currency if self.kind == "churn" and self.s_currency else self.e_currency


def account_moves(
    *,
    start: dt.datetime,
    end: dt.datetime,
    filters: RevenueFilters,
    renewals_from: dt.date,
    renewals_to: dt.date,
) -> list[AccountMove]:
    """Accounts that moved between start and end, or whose renewal (as known at start) fell in
    [renewals_from, renewals_to): the rows for top movers, churn reasons and renewals."""
    cte, params = grid_cte([start, end], filters)
    sql = f"""
    WITH {cte},
    pairs AS (SELECT 1 AS a, 2 AS z, 1 AS pid),
    {MOVES_CTE}
    SELECT mv.account_id, a.external_id, a.name, mv.s, mv.e, mv.s_cur, mv.e_cur, mv.paid,
           r.renews_on, cr.name, a.churn_note, a.churned_at
    FROM mv
    JOIN accounts_account a ON a.id = mv.account_id
    LEFT JOIN accounts_churnreason cr ON cr.id = a.churn_reason_id
    LEFT JOIN LATERAL (
        SELECT x.renews_on FROM {EVENTS} x
        WHERE x.account_id = mv.account_id AND x.effective_at < %s AND x.renews_on IS NOT NULL
        ORDER BY x.effective_at DESC, x.id DESC LIMIT 1
    ) r ON true
    WHERE mv.s <> mv.e OR mv.s_cur <> mv.e_cur
       OR (r.renews_on >= %s AND r.renews_on < %s)"""
    params += [start, renewals_from, renewals_to]
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return [AccountMove(*row) for row in cursor.fetchall()]


@dataclass(frozen=True)
class CohortCell:
    cohort: int  # boundary index at the end of the cohort's first paid month
    j: int
    currency: str
    accounts: int
    mrr: Decimal
    kept: Decimal  # sum of min(MRR, initial MRR): gross retention
    paying: int


def cohorts(*, boundaries: list[dt.datetime], filters: RevenueFilters) -> list[CohortCell]:
    """Accounts grouped by the month they first paid (the first boundary at which they had paid,
    after the first one), with their MRR at each later boundary in their first currency."""
    cte, params = grid_cte(boundaries, filters)
    sql = f"""
    WITH {cte},
    firsts AS (
        SELECT DISTINCT ON (account_id) account_id, j AS cohort, mrr AS initial, currency
        FROM st WHERE paid ORDER BY account_id, j
    )
    SELECT f.cohort, st.j, f.currency, COUNT(*),
           SUM(CASE WHEN st.currency = f.currency THEN st.mrr ELSE 0 END),
           SUM(CASE WHEN st.currency = f.currency THEN LEAST(st.mrr, f.initial) ELSE 0 END),
           COUNT(*) FILTER (WHERE st.mrr > 0)
    FROM firsts f JOIN st ON st.account_id = f.account_id AND st.j >= f.cohort
    WHERE f.cohort > 1 AND f.initial > 0
    GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return [
            CohortCell(c, j, cur, n, Decimal(m), Decimal(k), p)
            for c, j, cur, n, m, k, p in cursor.fetchall()
        ]


def account_history(*, account_id: int, limit: int = 200) -> list[dict]:
    """An account's ledger, newest first, with each event's movement against the one before."""
    sql = f"""
    SELECT id, effective_at, mrr, currency, plan, source, external_id,
           LAG(mrr) OVER w, LAG(currency) OVER w,
           bool_or(mrr > 0) OVER (w ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING)
    FROM {EVENTS} WHERE account_id = %s
    WINDOW w AS (ORDER BY effective_at, id)
    ORDER BY effective_at DESC, id DESC LIMIT %s"""
    rows = []
    with _cursor() as cursor:
        cursor.execute(sql, [account_id, limit])
        for pk, at, mrr, cur, plan, source, ext, prev, prev_cur, paid in cursor.fetchall():
            before = Decimal(prev) if prev is not None and prev_cur == cur else Decimal(0)
            kind, amount = rs.movement(before, Decimal(mrr), bool(paid))
            rows.append(
                {
                    "id": pk,
                    "effective_at": at,
                    "mrr": Decimal(mrr),
                    "currency": cur,
                    "plan": plan,
                    "source": source,
                    "external_id": ext,
                    "movement": kind,
                    "amount": amount,
                }
            )
    return rows


# --- An account's category at a reference instant ---------------------------------------------

CATEGORY_WINDOW_DAYS = 365


def category_at_cte(*, survey_ids: list[int], reference: dt.datetime) -> tuple[str, list]:
    """`cat(account_id, category)`: the category (+1, 0, -1) of each account's most recent
    counted answer to the given surveys in the 365 days before `reference` (DESIGN.md, "An
    account's NPS category"); accounts without one have no row ("no answer"). Frozen at
    `reference`, so later answers cannot leak in."""
    sql = """
    cat AS (
        SELECT DISTINCT ON (r.account_id) r.account_id, r.category
        FROM surveys_response r
        WHERE r.survey_id = ANY(%s) AND r.account_id IS NOT NULL AND NOT r.excluded
          AND r.answered_at < %s AND r.answered_at >= %s
        ORDER BY r.account_id, r.answered_at DESC, r.id DESC
    )"""
    since = reference - dt.timedelta(days=CATEGORY_WINDOW_DAYS)
    return sql, [list(survey_ids), reference, since]


def retention_by_category(
    *, start: dt.datetime, end: dt.datetime, filters: RevenueFilters, survey_ids: list[int]
) -> list[tuple[int | None, str, int, int, Decimal, Decimal]]:
    """(category or None, start currency, accounts paying at start, of them churned by end,
    their MRR at start, their MRR at end in that currency) per category and currency."""
    grid, params = grid_cte([start, end], filters)
    cat, cat_params = category_at_cte(survey_ids=survey_ids, reference=start)
    sql = f"""
    WITH {grid},
    pairs AS (SELECT 1 AS a, 2 AS z, 1 AS pid),
    {MOVES_CTE},
    {cat}
    SELECT cat.category, mv.s_cur, COUNT(*),
           COUNT(*) FILTER (WHERE mv.e = 0 OR mv.e_cur <> mv.s_cur),
           SUM(mv.s), SUM(CASE WHEN mv.e_cur = mv.s_cur THEN mv.e ELSE 0 END)
    FROM mv LEFT JOIN cat ON cat.account_id = mv.account_id
    WHERE mv.s > 0
    GROUP BY 1, 2 ORDER BY 1, 2"""
    with _cursor() as cursor:
        cursor.execute(sql, [*params, *cat_params])
        return [
            (category, currency, n, churned, Decimal(s), Decimal(e))
            for category, currency, n, churned, s, e in cursor.fetchall()
        ]


# --- The revenue report ------------------------------------------------------------------------

LTV_MONTHS = 6


@dataclass
class RevenueReport:
    window: Window
    totals: dict[str, rs.Bridge]
    months: list[tuple[dt.date, dt.date, dict[str, rs.Bridge]]]
    ltv_months: list[tuple[dt.date, dt.date, dict[str, rs.Bridge]]]
    trailing_12m: tuple[dt.date, dict[str, rs.Bridge]]
    moves: list[AccountMove] | None = None

    def currencies(self) -> list[str]:
        found = set(self.totals)
        for _a, _b, per in self.months:
            found.update(per)
        return sorted(found)

    def ltv(self, currency: str) -> tuple[Decimal | None, float | None]:
        churn = rs.mean_monthly_churn(
            per[currency].monthly_logo_churn if currency in per else None
            for _a, _b, per in self.ltv_months
        )
        bridge = self.totals.get(currency)
        return rs.ltv(bridge.arpa if bridge else None, churn)

    def renewals(self) -> dict[str, rs.Renewal]:
        out: dict[str, rs.Renewal] = {}
        for move in self.moves or []:
            due = move.renews_on and self.window.start <= move.renews_on < self.window.end
            if due and move.s > 0:
                currency = move.s_currency or move.e_currency
                e = move.e if move.e_currency == currency else Decimal(0)
                out.setdefault(currency, rs.Renewal(currency)).add(move.s, e)
        return out

    def churn_reasons(self) -> list[dict]:
        """Accounts churned in the period by their recorded reason, with the MRR lost."""
        lo, hi = self.window.bounds
        groups: dict[tuple[str | None, str], dict] = {}
        for move in self.moves or []:
            if move.kind != "churn":
                continue
            reason = move.churn_reason if move.churned_at and lo <= move.churned_at < hi else None
            key = (reason, move.currency)
            group = groups.setdefault(
                key, {"reason": reason, "currency": move.currency, "accounts": 0, "mrr": Decimal(0)}
            )
            group["accounts"] += 1
            group["mrr"] += move.amount
        return sorted(
            groups.values(), key=lambda g: (-g["accounts"], g["currency"], g["reason"] or "")
        )

    def top_movers(self, kind: str, limit: int = 10) -> list[AccountMove]:
        moves = [m for m in self.moves or [] if m.kind == kind]
        return sorted(moves, key=lambda m: (-m.amount, m.name))[:limit]


def _ltv_anchor(window: Window, now: dt.datetime) -> dt.date:
    """The first day of the month after the last complete month before min(end, now)."""
    today = now.astimezone(window.tz).date()
    limit = min(window.end, today)
    return limit.replace(day=1)


def _year_before(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:  # 29 February
        return day.replace(year=day.year - 1, day=28)


def revenue_report(
    *,
    window: Window,
    filters: RevenueFilters,
    monthly: bool,
    now: dt.datetime,
    with_moves: bool = True,
) -> RevenueReport:
    """The period's bridge per currency, its months, the last complete months for LTV and the
    trailing 12 months, in one statement; the per-account moves (renewals, churn reasons, top
    movers) in a second."""
    months = window.months() if monthly else []
    anchor = _ltv_anchor(window, now)
    ltv_months = [
        (add_months(anchor, -i - 1), add_months(anchor, -i)) for i in reversed(range(LTV_MONTHS))
    ]
    year_before = _year_before(window.end)
    date_pairs = [(window.start, window.end), *months, *ltv_months, (year_before, window.end)]
    results = bridges(
        pairs=[(window.instant(a), window.instant(b)) for a, b in date_pairs], filters=filters
    )
    n = len(months)
    report = RevenueReport(
        window=window,
        totals=results[0],
        months=[(a, b, results[1 + i]) for i, (a, b) in enumerate(months)],
        ltv_months=[(a, b, results[1 + n + i]) for i, (a, b) in enumerate(ltv_months)],
        trailing_12m=(year_before, results[-1]),
    )
    if with_moves:
        lo, hi = window.bounds
        report.moves = account_moves(
            start=lo, end=hi, filters=filters, renewals_from=window.start, renewals_to=window.end
        )
    return report
