"""A period cut into rollup pieces: the signed pieces cover each instant of the period exactly
once and nothing outside it."""

import datetime as dt
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.rollup_pieces import DAY, MONTH, RAW, Piece, Segment, pieces, positive_pieces, segments

UTC = dt.UTC


def weight(parts, moment: dt.datetime) -> int:
    """How many times the pieces count an answer given at `moment`."""
    total = 0
    for piece in parts:
        if piece.grain == RAW:
            inside = piece.start <= moment < piece.end
        else:
            period = moment.date() if piece.grain == DAY else moment.date().replace(day=1)
            inside = piece.start <= period < piece.end
            if piece.grain == MONTH:
                assert piece.start.day == 1 and piece.end.day == 1
        total += piece.sign * inside
    return total


instants = st.datetimes(
    min_value=dt.datetime(2023, 12, 1), max_value=dt.datetime(2026, 3, 1), timezones=st.just(UTC)
)


@settings(max_examples=400, deadline=None)
@given(
    lo=instants,
    hi=instants,
    probes=st.lists(instants, min_size=20, max_size=40),
    future=st.one_of(st.none(), st.dates(dt.date(2023, 11, 1), dt.date(2026, 4, 1))),
)
def test_signed_pieces_count_each_instant_of_the_period_once(lo, hi, probes, future):
    # Whatever day the rows end at (`future`: only the choice of pieces depends on it).
    parts = pieces(lo, hi, future=future)
    for moment in [*probes, lo, hi, lo - dt.timedelta(microseconds=1)]:
        assert weight(parts, moment) == (1 if lo <= moment < hi else 0)
    for piece in parts:
        if piece.grain == RAW:
            assert piece.end - piece.start <= dt.timedelta(hours=12)


@settings(max_examples=200, deadline=None)
@given(lo=instants, hi=instants, probes=st.lists(instants, min_size=20, max_size=40))
def test_positive_pieces_never_subtract(lo, hi, probes):
    parts = positive_pieces(lo, hi)
    assert all(piece.sign == 1 for piece in parts)
    for moment in [*probes, lo, hi]:
        assert weight(parts, moment) == (1 if lo <= moment < hi else 0)


def test_a_sao_paulo_month_is_the_utc_month_minus_three_hours_plus_three():
    tz = ZoneInfo("America/Sao_Paulo")  # UTC-3 all year since 2019
    lo = dt.datetime(2025, 3, 1, tzinfo=tz)
    hi = dt.datetime(2025, 4, 1, tzinfo=tz)
    assert pieces(lo, hi) == [
        # 1 March 03:00 UTC to 2 March: the UTC day minus its first three hours.
        Piece(1, DAY, dt.date(2025, 3, 1), dt.date(2025, 3, 2)),
        Piece(-1, RAW, dt.datetime(2025, 3, 1, tzinfo=UTC), dt.datetime(2025, 3, 1, 3, tzinfo=UTC)),
        # 2-31 March: the month minus its first day (1 day read instead of 30).
        Piece(1, MONTH, dt.date(2025, 3, 1), dt.date(2025, 4, 1)),
        Piece(-1, DAY, dt.date(2025, 3, 1), dt.date(2025, 3, 2)),
        # 1 April 00:00-03:00 UTC.
        Piece(1, RAW, dt.datetime(2025, 4, 1, tzinfo=UTC), dt.datetime(2025, 4, 1, 3, tzinfo=UTC)),
    ]


def test_the_month_to_date_is_the_month_minus_the_days_to_come():
    """With rows up to 2026-11-10 (`future` the 11th), [Nov 1, Nov 11) is read as November
    minus [Nov 11, Dec 1), which holds nothing yet: no past day is read from the rows; without
    it, the 10 days are fewer than the 20 left out and are read one by one."""
    lo = dt.datetime(2026, 10, 1, tzinfo=UTC)
    hi = dt.datetime(2026, 11, 11, tzinfo=UTC)
    assert pieces(lo, hi, future=dt.date(2026, 11, 11)) == [
        Piece(1, MONTH, dt.date(2026, 10, 1), dt.date(2026, 11, 1)),
        Piece(1, MONTH, dt.date(2026, 11, 1), dt.date(2026, 12, 1)),
        Piece(-1, DAY, dt.date(2026, 11, 11), dt.date(2026, 12, 1)),
    ]
    assert pieces(lo, hi) == [
        Piece(1, MONTH, dt.date(2026, 10, 1), dt.date(2026, 11, 1)),
        Piece(1, DAY, dt.date(2026, 11, 1), dt.date(2026, 11, 11)),
    ]


def test_open_ends_and_empty_periods():
    assert pieces(None, None) == [Piece(1, MONTH, dt.date(1900, 1, 1), dt.date(3000, 1, 1))]
    moment = dt.datetime(2025, 5, 5, 10, tzinfo=UTC)
    assert pieces(moment, moment) == []
    assert pieces(moment, moment - dt.timedelta(hours=1)) == []


@settings(max_examples=200, deadline=None)
@given(lo=instants, hi=instants, probes=st.lists(instants, min_size=20, max_size=40))
def test_segments_weigh_each_rollup_row_as_the_pieces_do(lo, hi, probes):
    parts = pieces(lo, hi)
    cut = segments(parts)
    for grain in (DAY, MONTH):
        own = [segment for segment in cut if segment.grain == grain]
        for first, second in zip(own, own[1:], strict=False):
            assert first.end <= second.start  # no overlap
    for moment in [*probes, lo, hi]:
        for grain in (DAY, MONTH):
            period = moment.date() if grain == DAY else moment.date().replace(day=1)
            expected = sum(
                piece.sign
                for piece in parts
                if piece.grain == grain and piece.start <= period < piece.end
            )
            found = sum(
                segment.coefficient
                for segment in cut
                if segment.grain == grain and segment.start <= period < segment.end
            )
            assert found == expected


def test_a_day_added_and_taken_away_is_left_out():
    tz = ZoneInfo("America/Sao_Paulo")
    cut = segments(pieces(dt.datetime(2025, 3, 1, tzinfo=tz), dt.datetime(2025, 4, 1, tzinfo=tz)))
    # +1 March (the cut day) and -1 March (the month minus its first day) cancel.
    assert cut == [Segment(MONTH, dt.date(2025, 3, 1), dt.date(2025, 4, 1), 1)]
