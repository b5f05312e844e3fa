"""Pure score math: no Django, no database. Every function takes counts, never rows.

Conventions (DESIGN.md, README "Metrics, exactly"):

- NPS codes answers +1/0/-1 and is shown unadjusted. Its 95% interval is the adjusted-Wald
  interval of Rocks (2016): add 3/4 to the promoters and to the detractors and 3 to n, then the
  Wald formula, with Student's t quantile (n - 1 degrees of freedom) below 30 answers, as for
  every mean. The plain Wald interval covers the true NPS far less than 95% of the time on small
  or lopsided samples (41% at n = 10 when 95% are promoters) and is +/-0 when every answer is in
  one class; this one keeps real coverage near 95% (tests/metrics/test_coverage.py measures it).
- Means use Student's t below 30 answers, 1.96 from 30 on. Proportions (CSAT top box, CES agree)
  use the Wilson interval.
- A change between two independent samples is tested only with 30 answers or more on each side
  (below that it is "too few answers to compare"), with the plain Wald standard errors, whose
  false-positive rate stays near 5% there (checked by simulation).
- One rounding rule for what is shown: half up on the decimal value (`rounded`), the same as the
  templates' `floatformat`.

Empty sets give None, never 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

Z95 = 1.959963984540054
LOW_SAMPLE = 30
# Student's t, two-sided 95% (the 0.975 quantile), by degrees of freedom 1..29; from 30 answers
# (29 degrees of freedom are the last small sample) the normal 1.96 is used. The values are the
# published critical values; tests/metrics/test_coverage.py checks each against the t CDF.
T975 = (
    12.7062047, 4.3026527, 3.1824463, 2.7764451, 2.5705818, 2.4469119, 2.3646243, 2.3060041,
    2.2621572, 2.2281389, 2.2009852, 2.1788128, 2.1603687, 2.1447867, 2.1314495, 2.1199053,
    2.1098156, 2.1009220, 2.0930241, 2.0859634, 2.0796138, 2.0738731, 2.0686576, 2.0638986,
    2.0595386, 2.0555294, 2.0518305, 2.0484071, 2.0452296,
)  # fmt: skip
# Rocks (2016): pseudo-counts added to promoters and to detractors (and 4 x that to n).
NPS_ADD = 0.75


def quantile95(n: int) -> float:
    """The multiplier of a 95% interval of a mean over n answers: Student's t with n - 1
    degrees of freedom below 30 answers (at least 1 degree of freedom), else 1.96."""
    if n >= LOW_SAMPLE:
        return Z95
    return T975[max(n - 1, 1) - 1]


def rounded(value: float | None, digits: int = 1) -> float | None:
    """The one rounding rule for shown numbers: half up on the decimal value, as Django's
    `floatformat` does (Python's round() rounds half to even on the binary value)."""
    if value is None:
        return None
    exponent = Decimal(1).scaleb(-digits)
    return float(Decimal(repr(value)).quantize(exponent, rounding=ROUND_HALF_UP))


def _half_width(ci: tuple[float, float] | None) -> float | None:
    return None if ci is None else (ci[1] - ci[0]) / 2


@dataclass(frozen=True)
class Nps:
    n: int
    promoters: int
    passives: int
    detractors: int
    score: float | None  # unadjusted
    se: float | None  # Wald standard error of the unadjusted score (for comparisons)
    ci95: tuple[float, float] | None  # adjusted-Wald interval

    @property
    def low_sample(self) -> bool:
        return self.n < LOW_SAMPLE

    @property
    def band(self) -> str | None:
        return nps_band(self.score)

    @property
    def margin(self) -> float | None:
        """Half the width of the 95% interval (which is not centred on the score)."""
        return _half_width(self.ci95)


def nps_interval(promoters: int, passives: int, detractors: int) -> tuple[float, float] | None:
    """Adjusted-Wald 95% interval of the NPS, in points, clipped to -100..100.

    n' = n + 3, p' = (promoters + 3/4) / n', d' = (detractors + 3/4) / n';
    centre p' - d', SE' = sqrt((p' + d' - (p' - d')^2) / n'), half-width t(n-1) or 1.96 x SE'.
    """
    n = promoters + passives + detractors
    if n == 0:
        return None
    adjusted_n = n + 4 * NPS_ADD
    p = (promoters + NPS_ADD) / adjusted_n
    d = (detractors + NPS_ADD) / adjusted_n
    centre = p - d
    se = math.sqrt(max(p + d - centre**2, 0.0) / adjusted_n)
    half = quantile95(n) * se
    return (100.0 * max(-1.0, centre - half), 100.0 * min(1.0, centre + half))


def nps(promoters: int, passives: int, detractors: int) -> Nps:
    n = promoters + passives + detractors
    if n == 0:
        return Nps(0, 0, 0, 0, None, None, None)
    p = promoters / n
    d = detractors / n
    score = 100.0 * (p - d)
    variance = max(p + d - (p - d) ** 2, 0.0)
    se = 100.0 * math.sqrt(variance / n)
    return Nps(
        n, promoters, passives, detractors, score, se, nps_interval(promoters, passives, detractors)
    )


def nps_band(score: float | None) -> str | None:
    """The report bands: 75..100 excellent, 50..74 very good, 0..49 reasonable, below 0 poor."""
    if score is None:
        return None
    # On the score as shown (one decimal), so the band never contradicts the number next to it.
    shown = rounded(score)
    if shown >= 75:
        return "excellent"
    if shown >= 50:
        return "very_good"
    if shown >= 0:
        return "reasonable"
    return "poor"


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

    @property
    def margin(self) -> float | None:
        return _half_width(self.ci95)


def mean(n: int, total: float, total_squares: float) -> Mean:
    """Mean with its 95% interval from the sum and sum of squares: Student's t (n - 1 degrees
    of freedom) below 30 answers, 1.96 from 30 on."""
    if n == 0:
        return Mean(0, None, None, None)
    m = total / n
    if n == 1:
        return Mean(1, m, None, None)
    variance = max((total_squares - n * m * m) / (n - 1), 0.0)
    sd = math.sqrt(variance)
    half = quantile95(n) * sd / math.sqrt(n)
    return Mean(n, m, sd, (m - half, m + half))


@dataclass(frozen=True)
class Proportion:
    n: int
    successes: int
    pct: float | None
    ci95: tuple[float, float] | None

    @property
    def margin(self) -> float | None:
        """Half the width of the Wilson interval (which is not centred on the share)."""
        return _half_width(self.ci95)


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
    """b - a between two independent samples, with its standard error and 95% significance.

    `n_before` and `n_after` are the two sample sizes; below 30 on either side the change is
    not tested at all (`comparable` is False): "too few answers to compare", never "within the
    margin of error".
    """

    delta: float
    se: float
    significant: bool
    n_before: int = LOW_SAMPLE
    n_after: int = LOW_SAMPLE

    @property
    def comparable(self) -> bool:
        return min(self.n_before, self.n_after) >= LOW_SAMPLE


def _significant(delta: float, se: float, n_min: int) -> bool:
    """Significant at 95%, and never on a low sample: with n < 30 on either side the normal
    approximation does not hold (n = 1 at 100% has an SE of 0), so a change is not claimed."""
    if n_min < LOW_SAMPLE:
        return False
    if se == 0:
        return delta != 0
    return abs(delta) > Z95 * se


def _change(delta: float, se: float, n_before: int, n_after: int) -> Change:
    return Change(delta, se, _significant(delta, se, min(n_before, n_after)), n_before, n_after)


def nps_change(a: Nps, b: Nps) -> Change | None:
    """NPS b - a with SE = sqrt(SE_a^2 + SE_b^2) of the plain (Wald) standard errors: with 30+
    answers on each side its false-positive rate stays near 5% (tests/metrics/test_coverage.py).
    None when either side has no data."""
    if a.se is None or b.se is None or a.score is None or b.score is None:
        return None
    return _change(b.score - a.score, math.sqrt(a.se**2 + b.se**2), a.n, b.n)


def proportion_change(a: Proportion, b: Proportion) -> Change | None:
    """Percentage-point change b - a with the unpooled two-proportion standard error."""
    if a.pct is None or b.pct is None:
        return None
    pa, pb = a.pct / 100.0, b.pct / 100.0
    se = 100.0 * math.sqrt(pa * (1 - pa) / a.n + pb * (1 - pb) / b.n)
    return _change(b.pct - a.pct, se, a.n, b.n)


def mean_change(a: Mean, b: Mean) -> Change | None:
    """Change in means b - a (Welch standard error); None unless both sides have n >= 2."""
    if a.sd is None or b.sd is None or a.mean is None or b.mean is None:
        return None
    se = math.sqrt(a.sd**2 / a.n + b.sd**2 / b.n)
    return _change(b.mean - a.mean, se, a.n, b.n)


def mean_score(n: int, total: float) -> float | None:
    return None if n == 0 else total / n


def weighted_nps(pairs: list[tuple[float, float]]) -> float | None:
    """Weighted mean of per-group NPS values, [(nps, weight), ...]; None when no weight."""
    total_weight = sum(weight for _score, weight in pairs if weight > 0)
    if total_weight <= 0:
        return None
    return sum(score * weight for score, weight in pairs if weight > 0) / total_weight


# --- Health score ---------------------------------------------------------------------------

HEALTH_COMPONENTS = ("nps", "csat", "ces", "recency", "support", "adoption", "revenue")
# Leading inputs move before an account leaves (what customers say, how they use the product,
# how much help they need); the revenue trend moves with the loss itself.
LEADING = frozenset({"nps", "csat", "ces", "recency", "support", "adoption"})


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


def adoption_points(adoption_pct: float | None) -> float | None:
    """The adoption % itself, capped at 100 (more users than seats is full adoption)."""
    if adoption_pct is None:
        return None
    return max(0.0, min(100.0, adoption_pct))


def revenue_points(mrr_now, mrr_before, drop_at_zero_pct: float) -> float | None:
    """100 when MRR held or grew since the comparison date, falling linearly to 0 at a drop
    of `drop_at_zero_pct`% (or churn); None without MRR at the comparison date."""
    if mrr_before is None or mrr_now is None or mrr_before <= 0:
        return None
    change = 100.0 * (float(mrr_now) - float(mrr_before)) / float(mrr_before)
    if change >= 0:
        return 100.0
    return max(0.0, 100.0 * (1 + change / drop_at_zero_pct))


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
