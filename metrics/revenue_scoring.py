"""Pure revenue math: the MRR bridge, churn, GRR/NRR, ARPA, LTV, renewal and retention by
score category. No Django, no database: functions take amounts and counts, never rows.

Conventions (DESIGN.md, after ChartMogul and Baremetrics), per currency and period [start, end):
S = an account's MRR at start, E = at end (the `mrr` of its latest ledger event before the
instant). Movement, period-balance method: S = 0 < E is new (reactivation when the account paid
before start); S > 0 = E is churn of S; E > S > 0 is expansion E - S; 0 < E < S is contraction
S - E. Sum E = Sum S + new + reactivation + expansion - contraction - churn, always. Logo churn =
accounts churned / accounts with S > 0; GRR = (Sum S - contraction - churn) / Sum S; NRR = (Sum S
+ expansion - contraction - churn) / Sum S; ARPA = Sum E / accounts with E > 0; LTV = ARPA / mean
monthly logo churn; lifetime = 1 / that churn. Currencies are never added together.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from .scoring import LOW_SAMPLE, wilson

ZERO = Decimal("0")
CENT = Decimal("0.01")
KINDS = ("new", "reactivation", "expansion", "contraction", "churn")


def money(value: Decimal | None) -> Decimal | None:
    return None if value is None else Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def pct2(numerator, denominator) -> float | None:
    """numerator / denominator in percent, rounded half-up to 2 decimals; None when 0 / 0."""
    if not denominator:
        return None
    value = Decimal(numerator) * 100 / Decimal(denominator)
    return float(value.quantize(CENT, rounding=ROUND_HALF_UP))


def movement(s: Decimal, e: Decimal, paid_before: bool) -> tuple[str | None, Decimal]:
    """The movement of one account in one currency, and its (positive) amount."""
    if s == 0 and e > 0:
        return ("reactivation" if paid_before else "new"), e
    if s > 0 and e == 0:
        return "churn", s
    if e > s:
        return "expansion", e - s
    if e < s:
        return "contraction", s - e
    return None, ZERO


@dataclass
class Bridge:
    """One currency over one period."""

    currency: str
    mrr_start: Decimal = ZERO
    mrr_end: Decimal = ZERO
    new: Decimal = ZERO
    reactivation: Decimal = ZERO
    expansion: Decimal = ZERO
    contraction: Decimal = ZERO
    churn: Decimal = ZERO
    accounts_start: int = 0
    accounts_end: int = 0
    accounts_churned: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))

    def add(self, s: Decimal, e: Decimal, paid_before: bool) -> None:
        self.mrr_start += s
        self.mrr_end += e
        self.accounts_start += s > 0
        self.accounts_end += e > 0
        kind, amount = movement(s, e, paid_before)
        if kind:
            setattr(self, kind, getattr(self, kind) + amount)
            self.counts[kind] += 1
            self.accounts_churned += kind == "churn"

    @property
    def balanced(self) -> bool:
        """Sum E = Sum S + new + reactivation + expansion - contraction - churn."""
        return self.mrr_end == (
            self.mrr_start
            + self.new
            + self.reactivation
            + self.expansion
            - self.contraction
            - self.churn
        )

    @property
    def logo_churn_pct(self) -> float | None:
        return pct2(self.accounts_churned, self.accounts_start)

    @property
    def grr_pct(self) -> float | None:
        return pct2(self.mrr_start - self.contraction - self.churn, self.mrr_start)

    @property
    def nrr_pct(self) -> float | None:
        return pct2(self.mrr_start + self.expansion - self.contraction - self.churn, self.mrr_start)

    @property
    def arpa(self) -> Decimal | None:
        return money(self.mrr_end / self.accounts_end) if self.accounts_end else None

    @property
    def monthly_logo_churn(self) -> Decimal | None:
        if not self.accounts_start:
            return None
        return Decimal(self.accounts_churned) / Decimal(self.accounts_start)


def bridges(rows: Iterable[tuple[str, Decimal, str, Decimal, bool]]) -> dict[str, Bridge]:
    """Per-currency bridges from per-account rows (start currency, S, end currency, E, paid
    before start). An account whose currency changed churns S in the old currency and starts
    E (new, or reactivation if it paid before) in the new one."""
    out: dict[str, Bridge] = {}
    for s_currency, s, e_currency, e, paid in rows:
        if s_currency and e_currency and s_currency != e_currency:
            out.setdefault(s_currency, Bridge(s_currency)).add(s, ZERO, paid)
            out.setdefault(e_currency, Bridge(e_currency)).add(ZERO, e, paid)
        else:
            currency = e_currency or s_currency
            out.setdefault(currency, Bridge(currency)).add(s, e, paid)
    return out


def mean_monthly_churn(rates: Iterable[Decimal | None]) -> Decimal | None:
    """The mean of the months' logo churn rates; months without paying accounts are left out."""
    known = [rate for rate in rates if rate is not None]
    if not known:
        return None
    return sum(known, ZERO) / len(known)


def ltv(arpa: Decimal | None, churn: Decimal | None) -> tuple[Decimal | None, float | None]:
    """(LTV, lifetime in months) = (ARPA / churn, 1 / churn); None when churn is 0 or unknown."""
    if churn is None or churn == 0:
        return None, None
    lifetime = Decimal(1) / churn
    value = money(arpa / churn) if arpa is not None else None
    return value, float(lifetime.quantize(CENT, rounding=ROUND_HALF_UP))


@dataclass
class Renewal:
    """Renewals due in the period (renewal date inside it, as known at its start)."""

    currency: str
    due: int = 0
    renewed: int = 0
    mrr_due: Decimal = ZERO
    mrr_kept: Decimal = ZERO  # min(E, S): what renewed without its expansion
    mrr_end: Decimal = ZERO

    def add(self, s: Decimal, e: Decimal) -> None:
        self.due += 1
        self.renewed += e > 0
        self.mrr_due += s
        self.mrr_kept += min(s, e)
        self.mrr_end += e

    @property
    def rate_pct(self) -> float | None:
        return pct2(self.renewed, self.due)

    @property
    def gross_pct(self) -> float | None:
        return pct2(self.mrr_kept, self.mrr_due)

    @property
    def net_pct(self) -> float | None:
        return pct2(self.mrr_end, self.mrr_due)


@dataclass
class CategoryRetention:
    """Accounts paying at period start in one score category, and what became of them."""

    category: str
    accounts_start: int = 0
    churned: int = 0
    revenue: dict[str, Bridge] = field(default_factory=dict)

    def add(self, currency: str, s: Decimal, e: Decimal) -> None:
        self.accounts_start += 1
        self.churned += e == 0
        self.revenue.setdefault(currency, Bridge(currency)).add(s, e, True)

    @property
    def logo_churn_pct(self) -> float | None:
        return pct2(self.churned, self.accounts_start)

    @property
    def ci95(self) -> tuple[float, float] | None:
        return wilson(self.churned, self.accounts_start)

    @property
    def low_sample(self) -> bool:
        return self.accounts_start < LOW_SAMPLE


def churn_ratio(numerator: CategoryRetention, denominator: CategoryRetention) -> float | None:
    """Logo churn of one category over another's (detractors / promoters); None when either
    has no accounts or the denominator never churned."""
    if not numerator.accounts_start or not denominator.accounts_start or not denominator.churned:
        return None
    a = Decimal(numerator.churned) / numerator.accounts_start
    b = Decimal(denominator.churned) / denominator.accounts_start
    return float((a / b).quantize(CENT, rounding=ROUND_HALF_UP))
