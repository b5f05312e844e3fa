"""The support figures from the ticket rollups (`metrics.ticket_rollups`): the same figures as
`support_selectors` reads from the tickets, without reading every ticket of the period.

- Counts and means: the period as signed pieces (`metrics.rollup_pieces`: whole UTC months and
  days from the rollup, the hours at its edges from the tickets), summed in one statement per
  breakdown. The breakdowns by assignee and by plan read the group rollups.
- Median and 90th percentile, exact: the bucket counts of the same pieces give how many
  tickets of each group have each time in each bucket; the rank `percentile_cont`
  interpolates at (and the next one) falls in one bucket, and only that bucket's tickets of
  the group and period are read, from the index of that time's buckets, in order, to the rank
  (all the groups' reads of one time in one statement). The group rollups keep their buckets
  in two levels: runs of buckets per day and month, the buckets per month; a group's
  histogram is its runs, then the buckets of only the runs holding a rank (a partial month's
  days of those runs counted from the tickets' bucket indexes). The values and the interpolation are
  PostgreSQL's own (float8 minutes, `low + (high - low) * fraction`), so the figures are the
  ones the tickets give, to the last bit.

Used when the filters allow: no account, plan, segment or owner (the support page also no
channel: its breakdowns by assignee and plan are not kept per channel), with REPORT_ROLLUPS
on.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings

from . import rollup_pieces
from . import support_scoring as ss
from .ticket_rollups import (
    BUCKETS,
    COARSE,
    COARSE_LEVEL,
    COUNT_COLUMNS,
    FINE,
    GROUP_BUCKETS,
    GROUP_TABLE,
    GROUPS,
    REPLY,
    RESOLUTION,
    TABLE,
    TICKETS,
    TIMES,
    bucket_sql,
    buckets_sql,
    changes_sql,
    counts_sql,
    group_changes_sql,
    group_figures_sql,
    minutes_sql,
)

QUANTILES = (0.5, 0.9)
TOTAL = None  # the key of a figure over every group


def readable(filters) -> bool:
    return settings.REPORT_ROLLUPS and not (filters.account or filters.needs_accounts)


def readable_page(filters) -> bool:
    """Whether the support page (summary and every breakdown) can read the rollups."""
    return readable(filters) and not filters.channel


@dataclass(frozen=True)
class _Source:
    """Where one breakdown's figures come from: the rollup tables, the rollup column holding
    the group (`key`; None: every row in one group) and the ticket column it is (`column`)."""

    table: str
    buckets: str
    key: str | None
    column: str | None
    code: str = ""  # the group rollups' dimension code: buckets at two levels, `_runs_union`

    @property
    def rows_where(self) -> str:
        """The rollup rows of this breakdown."""
        return f"dimension = '{self.code}'" if self.code else ""


def _source(by: str | None) -> _Source:
    if by is None:
        return _Source(TABLE, BUCKETS, key=None, column=None)
    if by == "channel":
        return _Source(TABLE, BUCKETS, key="channel", column="channel")
    code = GROUPS[by]
    return _Source(GROUP_TABLE, GROUP_BUCKETS, key="value", column=by, code=code)


def _pieces(lo: dt.datetime, hi: dt.datetime) -> list[rollup_pieces.Piece]:
    # Days to come have no rows and cost nothing (the group rollups' fine buckets of days are
    # read from the tickets), so the month to date is the month minus the days after today.
    tomorrow = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
    return rollup_pieces.pieces(lo, hi, future=tomorrow)


def _channel(channel: str, alias: str = "") -> tuple[str, list]:
    if not channel:
        return "", []
    return f" AND {alias}channel = %s", [channel]


def _union(slots, source: _Source, channel: str, *, bucket_counts: bool):
    """Every slot's pieces' rows, signed, as (slot, key, *values): each rollup segment's rows
    times its coefficient, and for each raw piece the ticket rollups' own day rows of its
    tickets (the statement the triggers run; the group rollups' raw pieces are read apart,
    once for both dimensions: `_raw_group_rows`). The values: the count columns, or (time,
    bucket, tickets); of the group rollups' bucket rows, the runs (their fine buckets are read
    by `_runs_union`)."""
    keys, values = (("time", "bucket"), ("tickets",)) if bucket_counts else ((), COUNT_COLUMNS)
    table = source.buckets if bucket_counts else source.table
    clause, channel_params = _channel(channel)
    key = source.key or "NULL::text"
    rows_where = f" AND {source.rows_where}" if source.rows_where else ""
    if bucket_counts and source.code:
        rows_where += f" AND level = {COARSE_LEVEL}"
    selects, params = [], []
    for slot, parts in enumerate(slots):
        for segment in rollup_pieces.segments(parts):
            signed = ", ".join([*keys, *(f"{segment.coefficient} * {name}" for name in values)])
            selects.append(
                f"SELECT {slot}, {key}, {signed} FROM {table} "
                f"WHERE grain = %s AND period >= %s AND period < %s{clause}{rows_where}"
            )
            params += [segment.grain, segment.start, segment.end, *channel_params]
        for piece in parts:
            if piece.grain == rollup_pieces.RAW and not source.code:
                changes = (
                    f"{changes_sql(TICKETS, piece.sign)} "
                    f"WHERE created_at >= %s AND created_at < %s{clause}"
                )
                rows = buckets_sql(changes) if bucket_counts else counts_sql(changes)
                selects.append(
                    f"SELECT {slot}, {key}, {', '.join((*keys, *values))} "
                    f"FROM ({rows}) r WHERE r.grain = 'd'"
                )
                params += [piece.start, piece.end, *channel_params]
    return _or_nothing(selects, params, width=len(keys) + len(values))


def _run_buckets(run: int) -> list[int]:
    return list(range(run * COARSE, (run + 1) * COARSE))


def _runs_union(slots, source: _Source, runs: dict[int, list[dict]]):
    """The fine buckets of the wanted runs only (per slot, [{key, time, run}]), signed, as
    (slot, key, time, bucket, tickets), a lateral subquery per run: its months' rows from the
    group rollups (a range of their key (level, dimension, value, time, bucket, grain,
    period)); its days' from the tickets, counted per bucket (a range of the index of that
    time's buckets by group per bucket of the run)."""
    selects, params = [], []
    for slot, parts in enumerate(slots):
        wanted = runs.get(slot, [])
        for segment in rollup_pieces.segments(parts):
            if segment.grain == rollup_pieces.MONTH:
                selects.append(
                    f"SELECT {slot}, w.key, w.time, f.bucket, {segment.coefficient} * f.tickets "
                    f"FROM jsonb_to_recordset(%s::jsonb) AS w (key text, time int, run int) "
                    f"CROSS JOIN LATERAL (SELECT b.bucket, SUM(b.tickets) AS tickets "
                    f"FROM {source.buckets} b WHERE b.level = {FINE} AND b.{source.rows_where} "
                    "AND b.value = w.key AND b.time = w.time "
                    "AND b.bucket >= w.run * %s AND b.bucket < (w.run + 1) * %s "
                    "AND b.grain = 'm' AND b.period >= %s AND b.period < %s GROUP BY b.bucket) f"
                )
                params += [json.dumps(wanted), COARSE, COARSE, segment.start, segment.end]
                continue
            lo, hi = (rollup_pieces.midnight(day) for day in (segment.start, segment.end))
            for time, measured in TIMES.items():
                requests = [
                    {"key": request["key"], "buckets": _run_buckets(request["run"])}
                    for request in wanted
                    if request["time"] == time
                ]
                if not requests:
                    continue
                bucket = bucket_sql(measured, "t")
                selects.append(
                    f"SELECT {slot}, w.key, {time}, f.bucket, {segment.coefficient} * f.tickets "
                    f"FROM jsonb_to_recordset(%s::jsonb) AS w (key text, buckets int[]) "
                    f"CROSS JOIN LATERAL (SELECT {bucket} AS bucket, COUNT(*) AS tickets "
                    f"FROM {TICKETS} t WHERE {bucket} = ANY(w.buckets) "
                    f"AND t.{source.column} = w.key AND t.{measured} IS NOT NULL "
                    "AND t.created_at >= %s AND t.created_at < %s GROUP BY 1) f"
                )
                params += [json.dumps(requests), lo, hi]
    return _or_nothing(selects, params, width=3)


def _or_nothing(selects: list[str], params: list, *, width: int) -> tuple[str, list]:
    """The selects as one UNION ALL; none (a group period read only from the tickets): a
    statement of no rows of the same shape, (slot, key, *width values)."""
    if not selects:
        return f"SELECT 0, NULL::text{', 0' * width} WHERE FALSE", []
    return " UNION ALL ".join(selects), params


@dataclass
class _RawGroups:
    """The group rollups' rows of a period's raw pieces (`parts`, the pieces they are of),
    signed: counts per (dimension code, value), bucket counts per (dimension code, value,
    time, level, bucket)."""

    parts: list
    counts: dict[tuple, dict]
    buckets: dict[tuple, int]


def _raw_group_rows(cursor, parts) -> _RawGroups:
    """One read of the raw pieces' tickets for both group dimensions: per group, the counts
    and the fine bucket counts (the coarse ones are their runs), by the same definitions as
    the group rollups' triggers (`ticket_rollups.group_figures_sql`), in two passes of
    hashing, without the triggers' per-month rows."""
    raw = [piece for piece in parts if piece.grain == rollup_pieces.RAW]
    if not raw:
        return _RawGroups(parts, {}, {})
    changes = " UNION ALL ".join(
        f"{group_changes_sql(TICKETS, piece.sign)} WHERE created_at >= %s AND created_at < %s"
        for piece in raw
    )
    params = [moment for piece in raw for moment in (piece.start, piece.end)]
    figures = group_figures_sql(changes)
    sums = ", ".join(f"SUM({name})" for name in COUNT_COLUMNS)
    cursor.execute(
        f"WITH {figures} SELECT dimension, value, {sums} FROM figures GROUP BY 1, 2", params
    )
    counts = {
        (dimension, value): dict(zip(COUNT_COLUMNS, values, strict=True))
        for dimension, value, *values in cursor.fetchall()
    }
    times = ", ".join(f"({time}, bucket_{time})" for time in TIMES)
    cursor.execute(
        f"WITH {figures} SELECT dimension, value, t.time, t.bucket, SUM(sign) FROM figures "
        f"CROSS JOIN LATERAL (VALUES {times}) AS t (time, bucket) "
        "WHERE t.bucket IS NOT NULL GROUP BY 1, 2, 3, 4",
        params,
    )
    buckets: dict[tuple, int] = defaultdict(int)
    for dimension, value, time, bucket, tickets in cursor.fetchall():
        buckets[dimension, value, time, FINE, bucket] += int(tickets)
        buckets[dimension, value, time, COARSE_LEVEL, bucket // COARSE] += int(tickets)
    return _RawGroups(parts, counts, {key: n for key, n in buckets.items() if n})


def _counts(cursor, slots, source, channel) -> dict[tuple, dict]:
    union, params = _union(slots, source, channel, bucket_counts=False)
    sums = ", ".join(f"COALESCE(SUM(x.{name}), 0)" for name in COUNT_COLUMNS)
    names = ", ".join(COUNT_COLUMNS)
    cursor.execute(
        f"SELECT x.slot, x.key, {sums} FROM ({union}) AS x (slot, key, {names}) GROUP BY 1, 2",
        params,
    )
    return {
        (slot, key): dict(zip(COUNT_COLUMNS, values, strict=True))
        for slot, key, *values in cursor.fetchall()
    }


def _histograms(cursor, union: tuple[str, list]) -> dict[tuple, list[tuple[int, int]]]:
    """Per (slot, key, time), (bucket, tickets) in bucket order, the empty buckets left out,
    of the bucket rows `union` selects (`_union`, `_runs_union`)."""
    sql, params = union
    cursor.execute(
        f"SELECT slot, key, time, bucket, SUM(tickets) "
        f"FROM ({sql}) AS x (slot, key, time, bucket, tickets) "
        "GROUP BY 1, 2, 3, 4 HAVING SUM(tickets) <> 0 ORDER BY 1, 2, 3, 4",
        params,
    )
    out: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
    for slot, key, time, bucket, tickets in cursor.fetchall():
        out[slot, key, time].append((bucket, int(tickets)))
    return out


def _plus(rows: dict[tuple, list], extra: dict[tuple, dict[int, int]]) -> dict[tuple, list]:
    """Histograms added: per name, (bucket, tickets) in bucket order, the empty left out."""
    out = {}
    for name in rows.keys() | extra.keys():
        total: dict[int, int] = dict(rows.get(name, []))
        for bucket, tickets in extra.get(name, {}).items():
            total[bucket] = total.get(bucket, 0) + tickets
        out[name] = sorted((bucket, n) for bucket, n in total.items() if n)
    return out


def _raw_histograms(raw: _RawGroups, code: str, level: int) -> dict[tuple, dict[int, int]]:
    """The raw pieces' bucket counts of one dimension and level, per (slot 0, value, time)."""
    out: dict[tuple, dict[int, int]] = defaultdict(dict)
    for (dimension, value, time, row_level, bucket), tickets in raw.buckets.items():
        if dimension == code and row_level == level:
            out[0, value, time][bucket] = tickets
    return out


def _group_histograms(cursor, slots, source, raw: _RawGroups) -> dict[tuple, list]:
    """The group rollups' histograms, read in two steps: the coarse one (runs of COARSE
    buckets), then the fine buckets of only the runs that hold a wanted rank. Per (slot, key,
    time), in order: each of those runs' fine (bucket, tickets), and (None, tickets) for every
    other run, whose buckets are never read. The raw pieces' rows (`raw`) added to each."""
    code = source.code
    coarse = _plus(
        _histograms(cursor, _union(slots, source, "", bucket_counts=True)),
        _raw_histograms(raw, code, COARSE_LEVEL),
    )
    wanted: dict[tuple, set[int]] = defaultdict(set)
    for name, runs in coarse.items():
        n = sum(tickets for _run, tickets in runs)
        if not n:
            continue  # the raw pieces took away all the rollups had
        for q in QUANTILES:
            position = q * (n - 1)
            # The runs of the two ranks percentile_cont interpolates between.
            for rank in {math.floor(position), math.ceil(position)}:
                index, _seen = _locate(runs, rank)
                wanted[name].add(runs[index][0])
    requests: dict[int, list[dict]] = defaultdict(list)
    for (slot, key, time), runs in wanted.items():
        requests[slot] += [{"key": key, "time": time, "run": run} for run in sorted(runs)]
    fine = _plus(
        _histograms(cursor, _runs_union(slots, source, requests)),
        _raw_histograms(raw, code, FINE),
    )
    out: dict[tuple, list[tuple[int | None, int]]] = {}
    for name, runs in coarse.items():
        buckets = fine.get(name, [])
        merged: list[tuple[int | None, int]] = []
        for run, tickets in runs:
            if run in wanted[name]:
                inside = [entry for entry in buckets if entry[0] // COARSE == run]
                # The two levels count the same tickets.
                assert sum(count for _bucket, count in inside) == tickets, (name, run)
                merged += inside
            else:
                merged.append((None, tickets))
        out[name] = merged
    return out


@dataclass
class _Read:
    """Values of one bucket of one group and period, in order: `take` of them from `skip` on."""

    bucket: int
    key: str | None
    lo: dt.datetime
    hi: dt.datetime
    skip: int
    take: int


def _channels(cursor) -> list[str]:
    """Every channel a ticket has (a superset: the rollup's month rows, emptied ones too)."""
    cursor.execute(f"SELECT DISTINCT channel FROM {TABLE} WHERE grain = 'm'")  # noqa: S608
    return [channel for (channel,) in cursor.fetchall()]


def _read(cursor, source: _Source, channel: str, time: int, reads: list[_Read]) -> list[list]:
    """Every read of one time in one statement; each read's values, in order. Each is a
    range of the index of that time's buckets by group (`ticket_<time>_bucket_<column>`):
    one bucket, one group (for the summary, every channel), one period."""
    if not reads:
        return []
    # Only fine buckets are read (`_group_histograms` expands the runs holding the ranks).
    assert all(read.bucket is not None for read in reads)
    measured = TIMES[time]
    clause, params = _channel(channel, "t.")
    if source.key:
        group = f"t.{source.column} = r.key"
    elif channel:
        group = "TRUE"  # the channel asked for, in `clause`
    else:
        group = "t.channel = ANY(%s)"
        params = [_channels(cursor)]
    requests = [
        {
            "i": i,
            "bucket": read.bucket,
            "key": read.key,
            "lo": read.lo.isoformat(),
            "hi": read.hi.isoformat(),
            "skip": read.skip,
            "take": read.take,
        }
        for i, read in enumerate(reads)
    ]
    cursor.execute(
        f"""
        SELECT r.i, v.minutes
        FROM jsonb_to_recordset(%s::jsonb)
             AS r (i int, bucket int, key text, lo timestamptz, hi timestamptz,
                   skip int, take int)
        CROSS JOIN LATERAL (
            SELECT {minutes_sql(measured, "t")} AS minutes FROM {TICKETS} t
            WHERE {bucket_sql(measured, "t")} = r.bucket AND {group}
              AND t.{measured} IS NOT NULL
              AND t.created_at >= r.lo AND t.created_at < r.hi{clause}
            ORDER BY 1 OFFSET r.skip LIMIT r.take
        ) v
        ORDER BY 1, 2
        """,  # noqa: S608 - table and column names from constants; values are parameters
        [json.dumps(requests), *params],
    )
    out: list[list] = [[] for _read in reads]
    for i, value in cursor.fetchall():
        out[i].append(value)
    return out


def _locate(buckets: list[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The index of the bucket holding `rank` (0-based, in time order) and how many tickets
    the buckets before it hold."""
    seen = 0
    for index, (_bucket, tickets) in enumerate(buckets):
        if seen + tickets > rank:
            return index, seen
        seen += tickets
    raise AssertionError("rank beyond the bucket counts")  # the counts sum to n


def _percentiles(cursor, source, channel, time, wanted) -> dict[tuple, tuple[float, float]]:
    """`wanted`: (slot, key) -> (n, buckets, lo, hi). PostgreSQL's percentile_cont of each
    quantile: the values at floor and ceil of q (n - 1), interpolated."""
    reads: list[_Read] = []
    plans = []  # (name, q, position, first read, bucket index)
    for name, (n, buckets, lo, hi) in wanted.items():
        for q in QUANTILES:
            position = q * (n - 1)
            rank = math.floor(position)
            index, seen = _locate(buckets, rank)
            take = 1 if math.ceil(position) == rank else 2
            plans.append((name, q, position, len(reads), index))
            reads.append(_Read(buckets[index][0], name[1], lo, hi, rank - seen, take))
    values = _read(cursor, source, channel, time, reads)
    # The next rank in the next bucket: its first value.
    following: list[_Read] = []
    for name, _q, _position, i, index in plans:
        buckets = wanted[name][1]
        if reads[i].take == 2 and len(values[i]) == 1 and index + 1 < len(buckets):
            following.append(_Read(buckets[index + 1][0], name[1], reads[i].lo, reads[i].hi, 0, 1))
        else:
            following.append(None)
    extra = _read(cursor, source, channel, time, [read for read in following if read])
    extras = iter(extra)
    out: dict[tuple, list[float]] = defaultdict(list)
    for (name, _q, position, i, _index), more in zip(plans, following, strict=True):
        found = values[i] + (next(extras) if more else [])
        first = math.floor(position)
        if math.ceil(position) == first:
            out[name].append(found[0])
        else:
            low, high = found[0], found[1]
            out[name].append(low + (high - low) * (position - first))
    return {name: tuple(found) for name, found in out.items()}


def _figures(cursor, periods, *, by: str | None, channel: str = "", raw=None) -> dict:
    """The figures of each period ([lo, hi) pairs, by index) and group of `by` (None: one
    group, key None), keyed (period index, group). A group dimension (assignee, plan: one
    period, no channel) takes its period's pieces and raw rows from `raw`
    (`_raw_group_rows`, read once for both)."""
    source = _source(by)
    if source.code:
        assert len(periods) == 1 and not channel and raw is not None
        slots = [raw.parts]
    else:
        slots = [_pieces(lo, hi) for lo, hi in periods]
    if not any(slots):
        return {}
    counts = _counts(cursor, slots, source, channel)
    if source.code:
        for (dimension, value), values in raw.counts.items():
            if dimension == source.code:
                kept = counts.setdefault((0, value), dict.fromkeys(COUNT_COLUMNS, 0))
                for column in COUNT_COLUMNS:
                    kept[column] += values[column]
        histograms = _group_histograms(cursor, slots, source, raw)
    else:
        histograms = _histograms(cursor, _union(slots, source, channel, bucket_counts=True))
    created = {name: values for name, values in counts.items() if values["created"]}
    quantiles: dict[tuple, dict[tuple, tuple]] = {}
    for time, n_column in ((REPLY, "replied"), (RESOLUTION, "solved")):
        wanted = {
            name: (int(values[n_column]), histograms[(*name, time)], *periods[name[0]])
            for name, values in created.items()
            if values[n_column]
        }
        quantiles[time] = _percentiles(cursor, source, channel, time, wanted)

    def times(name, n: int, total_us, time: int) -> ss.TimeStats:
        if not n:
            return ss.TimeStats(0, None, None, None)
        median, p90 = quantiles[time][name]
        return ss.TimeStats(n, float(total_us / n / 60_000_000), median, p90)

    return {
        name: ss.SupportSummary(
            created=int(values["created"]),
            solved=int(values["solved"]),
            ever_solved=int(values["ever_solved"]),
            reopened=int(values["reopened"]),
            fcr=int(values["fcr"]),
            first_reply=times(name, int(values["replied"]), values["reply_us"], REPLY),
            resolution=times(name, int(values["solved"]), values["resolution_us"], RESOLUTION),
        )
        for name, values in created.items()
    }


def summary(cursor, filters) -> ss.SupportSummary:
    figures = _figures(cursor, [filters.bounds], by=None, channel=filters.channel)
    return figures.get((0, TOTAL)) or ss.summarize([])


def breakdowns(cursor, filters) -> dict[str, list[tuple[object, ss.SupportSummary]]]:
    """(group, figures) of each group with tickets in the period, unordered, by channel and by
    each group dimension (assignee, plan; their raw pieces read once for both)."""
    raw = _raw_group_rows(cursor, _pieces(*filters.bounds))
    return {
        by: [
            (key, summary)
            for (_slot, key), summary in _figures(
                cursor, [filters.bounds], by=by, channel=filters.channel, raw=raw
            ).items()
        ]
        for by in ("channel", *GROUPS)
    }


def by_month(cursor, filters, months: list[dt.date]) -> list[tuple[dt.date, ss.SupportSummary]]:
    """(first day, figures) of each month of the viewer's time zone (the period's months, cut
    to the period) with tickets, in order."""
    lo, hi = filters.bounds
    periods = []
    for month in months:
        start = dt.datetime.combine(month, dt.time.min, filters.tz)
        end = dt.datetime.combine(rollup_pieces.next_month(month), dt.time.min, filters.tz)
        periods.append((max(start, lo), min(end, hi)))
    figures = _figures(cursor, periods, by=None, channel=filters.channel)
    return [(months[slot], figures[slot, key]) for slot, key in sorted(figures)]
