"""A period as signed pieces the rollups can answer: whole UTC months, whole UTC days, and the
few hours at its edges that only the raw rows can.

Rollups count answers (and invitations) per UTC day and per UTC month. A report's period, or a
bucket of its trend, is [lo, hi) between two instants, usually midnights in the viewer's time
zone. `pieces(lo, hi)` writes it as a sum of

- month ranges and day ranges (read from the rollups), and
- raw intervals (read from the rows, each at most 12 hours long),

each with a sign: a local day that starts at 03:00 UTC is the UTC day minus its first three
hours, and a month mostly covered is the month minus its missing days, whichever reads less.
Counts add up, so the signed sum is exact. (Maxima do not subtract: callers needing them use
`positive_pieces`.)
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

UTC = dt.UTC
# Open ends: the reports accept dates from 1900 to 2999 (metrics.selectors.filters), and both
# of these are the first instant of a UTC month, so they add no edge.
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=UTC)
LATEST = dt.datetime(3000, 1, 1, tzinfo=UTC)
HALF_DAY = dt.timedelta(hours=12)

MONTH, DAY, RAW = "m", "d", "raw"


@dataclass(frozen=True)
class Piece:
    """`sign` times the answers of [start, end): for MONTH and DAY pieces, every rollup row
    whose period (a UTC date) is in [start, end); for RAW pieces, the rows whose time is."""

    sign: int
    grain: str
    start: dt.date | dt.datetime
    end: dt.date | dt.datetime


def _day_floor(moment: dt.datetime) -> dt.datetime:
    return moment.replace(hour=0, minute=0, second=0, microsecond=0)


def _month_floor(day: dt.date) -> dt.date:
    return day.replace(day=1)


def next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, UTC)


def _days(start: dt.date, end: dt.date, sign: int = 1) -> list[Piece]:
    return [Piece(sign, DAY, start, end)] if start < end else []


def _cost(start: dt.date, end: dt.date, future: dt.date | None) -> int:
    """The days [start, end) to read, those from `future` on not counted (none is written
    yet: reading them is an index probe that finds nothing)."""
    if future is not None:
        end = max(start, min(end, future))
    return (end - start).days


def _days_within_month(
    start: dt.date, end: dt.date, *, signed: bool, future: dt.date | None = None
) -> list[Piece]:
    """The days [start, end) inside one month: as days, or as the month minus the days
    around them when that reads fewer days (days from `future` on count as none)."""
    month = _month_floor(start)
    following = next_month(start)
    inside = _cost(start, end, future)
    outside = _cost(month, start, future) + _cost(end, following, future)
    if signed and outside < inside:
        return [
            Piece(1, MONTH, month, following),
            *_days(month, start, -1),
            *_days(end, following, -1),
        ]
    return _days(start, end)


def _whole_days(
    start: dt.date, end: dt.date, *, signed: bool, future: dt.date | None = None
) -> list[Piece]:
    """The UTC days [start, end) as month ranges and day ranges."""
    if start >= end:
        return []
    first_month = start if start.day == 1 else next_month(start)
    last_month = _month_floor(end)
    if first_month >= last_month:
        # No whole month inside: one or two partial months.
        if _month_floor(start) == _month_floor(end - dt.timedelta(days=1)):
            return _days_within_month(start, end, signed=signed, future=future)
        middle = _month_floor(end)
        return [
            *_days_within_month(start, middle, signed=signed, future=future),
            *_days_within_month(middle, end, signed=signed, future=future),
        ]
    result = []
    if start < first_month:
        result += _days_within_month(start, first_month, signed=signed, future=future)
    result.append(Piece(1, MONTH, first_month, last_month))
    if last_month < end:
        result += _days_within_month(last_month, end, signed=signed, future=future)
    return result


def _edge(moment: dt.datetime, *, at_start: bool, signed: bool) -> tuple[dt.date, list[Piece]]:
    """The part of a UTC day cut by `moment`. At the start of a period: the hours from
    `moment` to the next midnight; at its end: from the last midnight to `moment`. Returns the
    first (or last, exclusive) whole day left for the rollups, and the pieces of the cut day."""
    floor = _day_floor(moment)
    if floor == moment:
        return moment.date(), []
    ceiling = floor + dt.timedelta(days=1)
    inside = (ceiling - moment) if at_start else (moment - floor)
    if signed and inside > HALF_DAY:
        # Most of the day: the day's rollup minus the hours outside.
        outside = Piece(-1, RAW, floor, moment) if at_start else Piece(-1, RAW, moment, ceiling)
        return (ceiling.date() if at_start else floor.date()), [
            Piece(1, DAY, floor.date(), ceiling.date()),
            outside,
        ]
    raw = Piece(1, RAW, moment, ceiling) if at_start else Piece(1, RAW, floor, moment)
    return (ceiling.date() if at_start else floor.date()), [raw]


def pieces(
    lo: dt.datetime | None,
    hi: dt.datetime | None,
    *,
    signed: bool = True,
    future: dt.date | None = None,
) -> list[Piece]:
    """[lo, hi) (None: open) as signed month, day and raw pieces whose sum is exactly it.
    With `signed=False` every piece is added (for maxima): edges are read raw, up to a day.
    `future`: the first UTC day with no rows yet, whose days cost nothing to read (a caller
    reading days from the rows, not from day rollups, passes tomorrow): the month to date is
    then read as the month minus the days to come."""
    lo = EARLIEST if lo is None else max(lo.astimezone(UTC), EARLIEST)
    hi = LATEST if hi is None else min(hi.astimezone(UTC), LATEST)
    if lo >= hi:
        return []
    if _day_floor(lo) == _day_floor(hi) or (
        _day_floor(lo) + dt.timedelta(days=1) == hi and lo != _day_floor(lo)
    ):
        # Inside one UTC day.
        floor = _day_floor(lo)
        ceiling = floor + dt.timedelta(days=1)
        if signed and (hi - lo) > HALF_DAY:
            return [
                Piece(1, DAY, floor.date(), ceiling.date()),
                *([Piece(-1, RAW, floor, lo)] if floor < lo else []),
                *([Piece(-1, RAW, hi, ceiling)] if hi < ceiling else []),
            ]
        return [Piece(1, RAW, lo, hi)]
    first_day, head = _edge(lo, at_start=True, signed=signed)
    last_day, tail = _edge(hi, at_start=False, signed=signed)
    return [*head, *_whole_days(first_day, last_day, signed=signed, future=future), *tail]


def positive_pieces(lo: dt.datetime | None, hi: dt.datetime | None) -> list[Piece]:
    """Like `pieces`, with every sign positive."""
    return pieces(lo, hi, signed=False)


@dataclass(frozen=True)
class Segment:
    """`coefficient` times the rollup rows of one grain whose period is in [start, end)."""

    grain: str
    start: dt.date
    end: dt.date
    coefficient: int


def segments(parts: list[Piece]) -> list[Segment]:
    """The MONTH and DAY pieces as non-overlapping segments per grain, each with the net sign
    of the pieces over it (a day added by one piece and taken away by another is left out)."""
    result = []
    for grain in (MONTH, DAY):
        own = [piece for piece in parts if piece.grain == grain]
        edges = sorted({piece.start for piece in own} | {piece.end for piece in own})
        for start, end in zip(edges, edges[1:], strict=False):
            coefficient = sum(
                piece.sign for piece in own if piece.start <= start and end <= piece.end
            )
            if not coefficient:
                continue
            if (
                result
                and result[-1].grain == grain
                and result[-1].end == start
                and (result[-1].coefficient == coefficient)
            ):
                result[-1] = Segment(grain, result[-1].start, end, coefficient)
            else:
                result.append(Segment(grain, start, end, coefficient))
    return result
