"""The revenue report: one call gathers every section of the revenue page for a window
(bridges, cohorts, movers, renewals, churn reasons, LTV), read by the page and the API."""

from __future__ import annotations

import datetime as dt
import heapq
from dataclasses import dataclass
from decimal import Decimal

from . import revenue_scoring as rs
from .revenue_selectors import AccountMove, CohortCell, RevenueFilters, Window, add_months, sections

LTV_MONTHS = 6


@dataclass
class RevenueReport:
    window: Window
    totals: dict[str, rs.Bridge]
    months: list[tuple[dt.date, dt.date, dict[str, rs.Bridge]]]
    ltv_months: list[tuple[dt.date, dt.date, dict[str, rs.Bridge]]]
    trailing_12m: tuple[dt.date, dict[str, rs.Bridge]]
    moves: list[AccountMove] | None = None
    cohorts: list[CohortCell] | None = None
    retention: dict[str, list[tuple]] | None = None

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
        return heapq.nsmallest(limit, moves, key=lambda m: (-m.amount, m.name))


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
    moves_limit: int | None = None,
    with_cohorts: bool = False,
    retention: dict[str, list[int]] | None = None,
) -> RevenueReport:
    """The period's bridge per currency, its months, the last complete months for LTV, the
    trailing 12 months, and, as asked, the per-account moves (renewals, churn reasons, top
    movers), the monthly cohorts and retention by category: one statement."""
    months = window.months() if monthly else []
    anchor = _ltv_anchor(window, now)
    ltv_months = [
        (add_months(anchor, -i - 1), add_months(anchor, -i)) for i in reversed(range(LTV_MONTHS))
    ]
    year_before = _year_before(window.end)
    date_pairs = [(window.start, window.end), *months, *ltv_months, (year_before, window.end)]
    pairs = [(window.instant(a), window.instant(b)) for a, b in date_pairs]
    cohort_boundaries = None
    if with_cohorts and len(months) > 1:
        cohort_boundaries = [window.instant(months[0][0])] + [window.instant(b) for _a, b in months]
    found = sections(
        boundaries=[],
        pairs=pairs,
        filters=filters,
        moves=with_moves,
        moves_limit=moves_limit,
        renewals=(window.start, window.end),
        cohort_boundaries=cohort_boundaries,
        retention=retention,
    )
    results = found.bridges
    n = len(months)
    return RevenueReport(
        window=window,
        totals=results[0],
        months=[(a, b, results[1 + i]) for i, (a, b) in enumerate(months)],
        ltv_months=[(a, b, results[1 + n + i]) for i, (a, b) in enumerate(ltv_months)],
        trailing_12m=(year_before, results[-1]),
        moves=found.moves,
        cohorts=found.cohorts,
        retention=found.retention,
    )
