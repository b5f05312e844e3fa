"""Pure score math: no Django, no database. Every function takes counts, never rows.

Conventions (DESIGN.md): NPS codes answers +1/0/-1; SE = 100 * sqrt((p + d - (p - d)^2) / n);
95% interval = NPS +/- 1.96 * SE, clipped to the scale. Empty sets give None, never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054
LOW_SAMPLE = 30


@dataclass(frozen=True)
class Nps:
    n: int
    promoters: int
    passives: int
    detractors: int
    score: float | None
    se: float | None
    ci95: tuple[float, float] | None

    @property
    def low_sample(self) -> bool:
        return self.n < LOW_SAMPLE

    @property
    def band(self) -> str | None:
        return nps_band(self.score)

    @property
    def margin(self) -> float | None:
        return None if self.se is None else Z95 * self.se


def nps(promoters: int, passives: int, detractors: int) -> Nps:
    n = promoters + passives + detractors
    if n == 0:
        return Nps(0, 0, 0, 0, None, None, None)
    p = promoters / n
    d = detractors / n
    score = 100.0 * (p - d)
    variance = max(p + d - (p - d) ** 2, 0.0)
    se = 100.0 * math.sqrt(variance / n)
    lo = max(-100.0, score - Z95 * se)
    hi = min(100.0, score + Z95 * se)
    return Nps(n, promoters, passives, detractors, score, se, (lo, hi))


def nps_band(score: float | None) -> str | None:
    """The report bands: 75..100 excellent, 50..74 very good, 0..49 reasonable, below 0 poor."""
    if score is None:
        return None
    rounded = round(score)
    if rounded >= 75:
        return "excellent"
    if rounded >= 50:
        return "very_good"
    if rounded >= 0:
        return "reasonable"
    return "poor"


def nps_difference(a: Nps, b: Nps) -> tuple[float, float, bool] | None:
    """Change b - a between two independent samples: (delta, se, significant at 95%)."""
    if a.se is None or b.se is None or a.score is None or b.score is None:
        return None
    se = math.sqrt(a.se**2 + b.se**2)
    delta = b.score - a.score
    return delta, se, _significant(delta, se, min(a.n, b.n))


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion, in percent."""
    if n == 0:
        return None
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    # The interval always contains the observed share; rounding must not push 100% outside.
    lo = min(max(0.0, centre - half), phat)
    hi = max(min(1.0, centre + half), phat)
    return (lo * 100.0, hi * 100.0)


@dataclass(frozen=True)
class Mean:
    n: int
    mean: float | None
    sd: float | None
    ci95: tuple[float, float] | None


def mean(n: int, total: float, total_squares: float) -> Mean:
    """Mean with a normal-approximation 95% interval from the sum and sum of squares."""
    if n == 0:
        return Mean(0, None, None, None)
    m = total / n
    if n == 1:
        return Mean(1, m, None, None)
    variance = max((total_squares - n * m * m) / (n - 1), 0.0)
    sd = math.sqrt(variance)
    half = Z95 * sd / math.sqrt(n)
    return Mean(n, m, sd, (m - half, m + half))


@dataclass(frozen=True)
class Proportion:
    n: int
    successes: int
    pct: float | None
    ci95: tuple[float, float] | None


def pct(successes: int, n: int) -> float | None:
    """successes / n in percent; None when n is 0."""
    return None if n == 0 else 100.0 * successes / n


def proportion(successes: int, n: int) -> Proportion:
    if n == 0:
        return Proportion(0, 0, None, None)
    return Proportion(n, successes, pct(successes, n), wilson(successes, n))


def low_sample(n: int) -> bool:
    """Fewer than 30 answers: show the score, but flag it as unreliable."""
    return n < LOW_SAMPLE


@dataclass(frozen=True)
class Change:
    """b - a between two independent samples, with its standard error and 95% significance."""

    delta: float
    se: float
    significant: bool


def _significant(delta: float, se: float, n_min: int) -> bool:
    """Significant at 95%, and never on a low sample: with n < 30 on either side the normal
    approximation does not hold (n = 1 at 100% has an SE of 0), so a change is not claimed."""
    if n_min < LOW_SAMPLE:
        return False
    if se == 0:
        return delta != 0
    return abs(delta) > Z95 * se


def _change(delta: float, se: float, n_min: int) -> Change:
    return Change(delta, se, _significant(delta, se, n_min))


def nps_change(a: Nps, b: Nps) -> Change | None:
    """NPS b - a; SE = sqrt(SE_a^2 + SE_b^2) (DESIGN.md). None when either side has no data."""
    result = nps_difference(a, b)
    if result is None:
        return None
    delta, se, significant = result
    return Change(delta, se, significant)


def proportion_change(a: Proportion, b: Proportion) -> Change | None:
    """Percentage-point change b - a with the unpooled two-proportion standard error."""
    if a.pct is None or b.pct is None:
        return None
    pa, pb = a.pct / 100.0, b.pct / 100.0
    se = 100.0 * math.sqrt(pa * (1 - pa) / a.n + pb * (1 - pb) / b.n)
    return _change(b.pct - a.pct, se, min(a.n, b.n))


def mean_change(a: Mean, b: Mean) -> Change | None:
    """Change in means b - a (Welch standard error); None unless both sides have n >= 2."""
    if a.sd is None or b.sd is None or a.mean is None or b.mean is None:
        return None
    se = math.sqrt(a.sd**2 / a.n + b.sd**2 / b.n)
    return _change(b.mean - a.mean, se, min(a.n, b.n))


def mean_score(n: int, total: float) -> float | None:
    return None if n == 0 else total / n


def nps_category_of_mean(mean_value: float | None) -> int | None:
    """An account's category from the mean of its answers: +1 >= 9, 0 >= 7, else -1."""
    if mean_value is None:
        return None
    if mean_value >= 9:
        return 1
    if mean_value >= 7:
        return 0
    return -1


def weighted_nps(pairs: list[tuple[float, float]]) -> float | None:
    """Weighted mean of per-group NPS values, [(nps, weight), ...]; None when no weight."""
    total_weight = sum(weight for _score, weight in pairs if weight > 0)
    if total_weight <= 0:
        return None
    return sum(score * weight for score, weight in pairs if weight > 0) / total_weight


# --- Health score ---------------------------------------------------------------------------

HEALTH_COMPONENTS = ("nps", "csat", "ces", "recency", "support", "adoption")


@dataclass(slots=True)  # not frozen: built 6 times per account on every accounts page
class HealthComponent:
    name: str
    value: float | None  # 0..100, None when the input is missing
    weight: float  # as configured
    share: float  # the weight's share among the present components (0..1)

    @property
    def contribution(self) -> float | None:
        return None if self.value is None else self.value * self.share


@dataclass(slots=True)
class Health:
    score: float | None
    colour: str | None  # "red", "yellow", "green"
    components: tuple[HealthComponent, ...]


def nps_points(promoters: int, passives: int, detractors: int) -> float | None:
    """Average of 100/50/0 points per promoter/passive/detractor answer, i.e. (NPS + 100) / 2."""
    n = promoters + passives + detractors
    if n == 0:
        return None
    return (100.0 * promoters + 50.0 * passives) / n


def recency_points(days: float | None, full_days: int, zero_days: int) -> float:
    """100 up to full_days since the last answer, falling linearly to 0 at zero_days."""
    if days is None:
        return 0.0
    if days <= full_days:
        return 100.0
    if days >= zero_days:
        return 0.0
    return 100.0 * (zero_days - days) / (zero_days - full_days)


def support_points(open_tickets: int | None, tickets_at_zero: int) -> float | None:
    """100 with no open tickets, falling linearly to 0 at tickets_at_zero; None if unknown."""
    if open_tickets is None:
        return None
    if tickets_at_zero <= 0:
        return 100.0 if open_tickets == 0 else 0.0
    return max(0.0, 100.0 * (1 - open_tickets / tickets_at_zero))


def health_colour(score: float | None, red_below: float, green_from: float) -> str | None:
    if score is None:
        return None
    if score < red_below:
        return "red"
    if score >= green_from:
        return "green"
    return "yellow"


def health(
    values: dict[str, float | None],
    weights: dict[str, float],
    *,
    red_below: float,
    green_from: float,
) -> Health:
    """Weighted mean of the present components (weights renormalised over them), 0..100.

    A missing input (None) drops out instead of counting as 0, so an account without
    support-ticket data is not penalised. Recency alone is no score: with no other component
    present (no answers, no account inputs) the score is None ("no data").
    """
    values, present, total_weight = _present(values, weights)
    components = tuple(
        HealthComponent(
            name=name,
            value=values.get(name),
            weight=weights.get(name, 0),
            share=(weights[name] / total_weight) if name in present else 0.0,
        )
        for name in HEALTH_COMPONENTS
    )
    score = _health_score(values, weights, present, total_weight)
    return Health(score, health_colour(score, red_below, green_from), components)


def health_score(values: dict[str, float | None], weights: dict[str, float]) -> float | None:
    """The score of `health` alone, without its components (for lists of many accounts)."""
    values, present, total_weight = _present(values, weights)
    return _health_score(values, weights, present, total_weight)


def _present(
    values: dict[str, float | None], weights: dict[str, float]
) -> tuple[dict[str, float | None], list[str], float]:
    if all(values.get(name) is None for name in HEALTH_COMPONENTS if name != "recency"):
        values = {**values, "recency": None}
    present = [
        name
        for name in HEALTH_COMPONENTS
        if values.get(name) is not None and weights.get(name, 0) > 0
    ]
    return values, present, sum(weights[name] for name in present)


def _health_score(
    values: dict[str, float | None], weights: dict[str, float], present: list[str], total: float
) -> float | None:
    if total <= 0:
        return None
    score = sum(values[name] * weights[name] for name in present) / total
    return min(100.0, max(0.0, score))
