"""Pure support and adoption math: no Django, no database. Functions take counts and values.

Conventions (DESIGN.md "Customer outcomes", after Zendesk's ticket metrics), for the tickets
created in a period:
- solve rate = tickets solved (status solved or closed) / tickets created;
- FCR (first-contact resolution) = solved tickets with at most one public agent reply and no
  reopen / solved tickets;
- reopen rate = tickets reopened at least once / tickets solved at least once;
- first reply time = first public agent reply - created (tickets with a reply); resolution time
  (the seeds' TMA) = final solve - created (solved tickets); both in minutes, with the mean,
  the median and the 90th percentile (continuous, as PostgreSQL's `percentile_cont`).
Percentages are rounded half up to 2 decimals, minutes too; an empty set gives None, never 0.

Adoption % = 30-day active users / licensed seats; usage trend = last 30 days / prior 30 days
- 1; support recurrence compares an account's tickets in a month with its own trailing mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from .scoring import LOW_SAMPLE, proportion

# First-reply buckets for CSAT per ticket: (key, upper bound in minutes, exclusive).
REPLY_BUCKETS = (
    ("under_1h", 60),
    ("1h_4h", 240),
    ("4h_24h", 1440),
    ("over_24h", None),
)
NO_REPLY = "no_reply"
# Support recurrence (the seeds' "too few or too many tickets" risk sign).
TRAILING_MONTHS = 6
HIGH_RATIO = 2.0  # at least twice the account's own trailing mean...
HIGH_MIN_TICKETS = 3  # ...and at least this many tickets in the month
QUIET_MIN_MEAN = 2.0  # an account that averages this many tickets a month...
QUIET_RATIO = 0.25  # ...and then files a quarter of that or less has gone quiet


def round2(value: float | None) -> float | None:
    """Half up to 2 decimals, on the decimal value."""
    if value is None:
        return None
    return float(Decimal(repr(float(value))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def pct2(numerator: int, denominator: int) -> float | None:
    """numerator / denominator in percent, half up to 2 decimals; None when 0 / 0."""
    if not denominator:
        return None
    value = Decimal(numerator) * 100 / Decimal(denominator)
    return float(value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile with linear interpolation between closest ranks (PostgreSQL's
    `percentile_cont`, numpy's default): position q * (n - 1) in the sorted values."""
    if not values:
        return None
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = math.ceil(position)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass(frozen=True)
class TimeStats:
    n: int
    mean: float | None
    median: float | None
    p90: float | None

    def payload(self) -> dict:
        return {"mean": round2(self.mean), "median": round2(self.median), "p90": round2(self.p90)}


def time_stats(values: Sequence[float]) -> TimeStats:
    """Mean, median and p90 of durations (e.g. in minutes)."""
    if not values:
        return TimeStats(0, None, None, None)
    return TimeStats(
        len(values), sum(values) / len(values), percentile(values, 0.5), percentile(values, 0.9)
    )


@dataclass(frozen=True)
class SupportSummary:
    """The figures of the tickets created in a period (from counts and time statistics)."""

    created: int
    solved: int
    ever_solved: int
    reopened: int
    fcr: int
    first_reply: TimeStats
    resolution: TimeStats

    @property
    def solve_rate_pct(self) -> float | None:
        return pct2(self.solved, self.created)

    @property
    def fcr_pct(self) -> float | None:
        return pct2(self.fcr, self.solved)

    @property
    def reopen_pct(self) -> float | None:
        return pct2(self.reopened, self.ever_solved)

    def payload(self) -> dict:
        """The API's fields, units as documented: counts, percentages, minutes."""
        return {
            "tickets_created": self.created,
            "tickets_solved": self.solved,
            "solve_rate_pct": self.solve_rate_pct,
            "fcr_pct": self.fcr_pct,
            "reopen_pct": self.reopen_pct,
            "first_reply_minutes": self.first_reply.payload(),
            "resolution_minutes": self.resolution.payload(),
        }


@dataclass(frozen=True)
class TicketFacts:
    """One ticket, as far as the support figures are concerned (minutes after creation)."""

    first_reply: float | None
    solved: float | None  # the final solve; None while unsolved
    agent_replies: int
    reopens: int
    ever_solved: bool = False


def summarize(tickets: Sequence[TicketFacts]) -> SupportSummary:
    """The support figures of a list of tickets: the definitions above, in Python. The SQL
    selectors compute the same in one statement; this is their reference."""
    solved = [t for t in tickets if t.solved is not None]
    return SupportSummary(
        created=len(tickets),
        solved=len(solved),
        ever_solved=sum(1 for t in tickets if t.solved is not None or t.ever_solved or t.reopens),
        reopened=sum(1 for t in tickets if t.reopens > 0),
        fcr=sum(1 for t in solved if t.agent_replies <= 1 and t.reopens == 0),
        first_reply=time_stats([t.first_reply for t in tickets if t.first_reply is not None]),
        resolution=time_stats([t.solved for t in solved]),
    )


def reply_bucket(minutes: float | None) -> str:
    if minutes is None:
        return NO_REPLY
    for key, upper in REPLY_BUCKETS:
        if upper is None or minutes < upper:
            return key
    return REPLY_BUCKETS[-1][0]  # pragma: no cover - the last bucket has no bound


def csat_share(satisfied: int, answers: int) -> dict:
    """CSAT (% satisfied) with its Wilson 95% interval and the low-sample flag."""
    share = proportion(satisfied, answers)
    return {
        "answers": answers,
        "satisfied": satisfied,
        "pct": share.pct,
        "ci95": share.ci95,
        "low_sample": answers < LOW_SAMPLE,
    }


@dataclass(frozen=True)
class Recurrence:
    month: object  # a date, the month's first day
    tickets: int
    trailing_mean: float | None  # mean of the previous TRAILING_MONTHS months
    ratio: float | None
    flag: str | None  # "high" (too many), "quiet" (too few) or None


def recurrence(months: Sequence[tuple[object, int]]) -> list[Recurrence]:
    """Tickets per month against the account's own trailing mean of the previous six months
    (months without tickets count as 0; the first months, without six before them, have no
    mean). High: at least twice the mean and at least three tickets. Quiet: a mean of two or
    more and a quarter of it or less."""
    out = []
    for index, (month, count) in enumerate(months):
        before = [c for _m, c in months[max(0, index - TRAILING_MONTHS) : index]]
        mean = sum(before) / TRAILING_MONTHS if len(before) == TRAILING_MONTHS else None
        ratio = None if not mean else count / mean
        flag = None
        if mean is not None:
            if count >= HIGH_MIN_TICKETS and (mean == 0 or count >= HIGH_RATIO * mean):
                flag = "high"
            elif mean >= QUIET_MIN_MEAN and count <= QUIET_RATIO * mean:
                flag = "quiet"
        out.append(Recurrence(month, count, mean, ratio, flag))
    return out


def adoption_pct(active_users: float | None, seats: int | None) -> float | None:
    """30-day active users / licensed seats, in percent (over 100 when more people use it than
    the contract licenses); None without seats or without usage."""
    if active_users is None or not seats:
        return None
    return 100.0 * active_users / seats


def usage_trend_pct(last: float | None, prior: float | None) -> float | None:
    """(last 30 days / prior 30 days - 1) in percent; None when the prior window is empty."""
    if not prior or last is None:
        return None
    return 100.0 * (last / prior - 1)


def day_stats(days: Sequence[int]) -> dict:
    """n, mean, median and p90 of durations in days (implementation time, time to value)."""
    stats = time_stats([float(d) for d in days])
    return {"n": stats.n, **stats.payload()}
