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
    significant = se > 0 and abs(delta) > Z95 * se
    if se == 0:
        significant = delta != 0
    return delta, se, significant


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """Wilson score interval for a proportion, in percent."""
    if n == 0:
        return None
    phat = successes / n
    denom = 1 + z * z / n
    centre = (phat + z * z / (2 * n)) / denom
    half = z * math.sqrt(phat * (1 - phat) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half) * 100.0, min(1.0, centre + half) * 100.0)


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


def proportion(successes: int, n: int) -> Proportion:
    if n == 0:
        return Proportion(0, 0, None, None)
    return Proportion(n, successes, 100.0 * successes / n, wilson(successes, n))
