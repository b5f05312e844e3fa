"""Counted answers from the rollups: per bucket of the period, group and survey, how many of
each score and category, without reading the answers themselves.

A period (or each bucket of a trend, in the viewer's time zone) is cut into signed pieces
(`metrics.rollup_pieces`): whole UTC months and days are summed from `metrics_answerrollup`
(per survey, account and UTC day or month; kept exact by triggers, see `metrics.rollups`), and
the few hours at the edges that a time zone leaves are counted from the answers. One statement
for each kind of piece, whatever the number of buckets. The cost grows with the period and the
number of accounts, not with the number of answers.

Filters the rollups cannot answer (a contact's language, an invitation or account property)
are read from the answers (`usable` says which); the callers in `scores` and `accounts` choose.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connections
from django.db.models import QuerySet

from accounts.models import Account
from metrics.models import AnswerRollup
from metrics.rollup_pieces import DAY, RAW, Piece, Segment, pieces, segments
from surveys.models import Response

from .filters import Filters, Period

# Groups the rollups can give: the account's own columns (as they are now, like the reports'
# account filters) or the survey.
ACCOUNT_GROUPS = ("plan", "segment", "region", "status", "owner")
GROUPS = (*ACCOUNT_GROUPS, "survey", "account")


def enabled() -> bool:
    """REPORT_ROLLUPS (default on); off, every report reads the answers themselves."""
    return settings.REPORT_ROLLUPS


def usable(filters: Filters, group: str | None = None) -> bool:
    """Whether the rollups can answer these filters (and this grouping)."""
    return (
        enabled()
        and not filters.language
        and not filters.property_key
        and (group is None or group in GROUPS)
    )


@dataclass
class Tally:
    """Answers per score and per category (1, 0, -1) of one (bucket, group, survey)."""

    scores: dict[int, int] = field(default_factory=dict)
    categories: dict[int, int] = field(default_factory=lambda: {1: 0, 0: 0, -1: 0})

    @property
    def n(self) -> int:
        return sum(self.categories.values())

    def add_score(self, score: int, count: int) -> None:
        if count:
            self.scores[score] = self.scores.get(score, 0) + count
            if not self.scores[score]:
                del self.scores[score]


def bucket_bounds(
    period: Period, starts: list[dt.date] | None
) -> list[tuple[dt.date | None, dt.datetime | None, dt.datetime | None]]:
    """(bucket, lo, hi) of each bucket starting at `starts` (local dates), cut to the period;
    a single bucket `None` for the whole period when `starts` is None."""
    lo, hi = period.bounds()
    if starts is None:
        return [(None, lo, hi)]
    result = []
    for index, start in enumerate(starts):
        begin = dt.datetime.combine(start, dt.time.min, period.tz)
        if index + 1 < len(starts):
            end = dt.datetime.combine(starts[index + 1], dt.time.min, period.tz)
        else:
            end = hi
        if lo is not None:
            begin = max(begin, lo)
        if hi is not None and end is not None:
            end = min(end, hi)
        result.append((start, begin, end))
    return result


def _account_conditions(
    filters: Filters | None, alias: str, accounts: QuerySet[Account] | None
) -> tuple[list[str], list]:
    """SQL conditions (and their parameters) keeping the answers of `accounts` and of the
    filters' accounts (`a` is the joined account)."""
    conditions, params = [], []
    if accounts is not None:
        subquery, subquery_params = accounts.order_by().values("pk").query.sql_with_params()
        conditions.append(f"{alias}.account_id IN ({subquery})")
        params.extend(subquery_params)
    if filters is None:
        return conditions, params
    for name in ("plan", "segment", "region", "status"):
        value = getattr(filters, name)
        if value:
            conditions.append(f"a.{name} = %s")
            params.append(value)
    if filters.owner:
        conditions.append("a.owner_id = %s")
        params.append(filters.owner)
    if filters.account:
        conditions.append(f"{alias}.account_id = %s")
        params.append(filters.account)
    return conditions, params


def _group_sql(group: str | None, alias: str) -> str:
    if group is None:
        return "NULL"
    if group == "owner":
        return f"u.{get_user_model()._meta.get_field(get_user_model().USERNAME_FIELD).column}"
    if group == "survey":
        return f"{alias}.survey_id"
    if group == "account":
        return f"NULLIF({alias}.account_id, 0)"
    return f"a.{group}"


def _joins(group: str | None, filters: Filters, alias: str) -> str:
    needs_account = group in ACCOUNT_GROUPS or any(
        getattr(filters, name) for name in ("plan", "segment", "region", "status", "owner")
    )
    joins = ""
    if needs_account:
        joins += f" LEFT JOIN {Account._meta.db_table} a ON a.id = {alias}.account_id"
    if group == "owner":
        joins += f" LEFT JOIN {get_user_model()._meta.db_table} u ON u.id = a.owner_id"
    return joins


def tallies(
    filters: Filters,
    survey_ids: list[int],
    *,
    buckets: list[dt.date] | None = None,
    group: str | None = None,
    bounds: list[tuple] | None = None,
    accounts: QuerySet[Account] | None = None,
) -> dict[tuple, Tally]:
    """{(bucket, group value, survey id): Tally} of the counted answers of `survey_ids` under
    `filters` (which `usable` accepts), per bucket starting at each of `buckets` (local dates,
    the last one running to the period's end), or over the whole period (bucket None).
    Buckets and groups without answers are left out. `bounds` ([(bucket, lo, hi), ...]
    between instants) replaces the period's buckets; `accounts` keeps only these accounts'
    answers."""
    if bounds is None:
        bounds = bucket_bounds(filters.period, buckets)
    rolled: list[tuple] = []
    raw: list[tuple] = []
    for index, (_bucket, lo, hi) in enumerate(bounds):
        for piece in pieces(lo, hi):
            (raw if piece.grain == RAW else rolled).append((piece, index))
    result: dict[tuple, Tally] = defaultdict(Tally)
    if survey_ids and (rolled or raw):
        connection = connections[settings.REPORTS_DATABASE]
        with connection.cursor() as cursor:
            if rolled:
                _read_rollups(cursor, rolled, filters, survey_ids, group, bounds, accounts, result)
            if raw:
                _read_answers(cursor, raw, filters, survey_ids, group, bounds, accounts, result)
    return {key: tally for key, tally in result.items() if tally.n}


def _values(rows: list[tuple], casts: tuple[str, ...]) -> tuple[str, list]:
    first = "(" + ", ".join(f"%s::{cast}" for cast in casts) + ")"
    rest = "(" + ", ".join("%s" for _cast in casts) + ")"
    sql = ", ".join([first] + [rest] * (len(rows) - 1))
    return sql, [value for row in rows for value in row]


def _segment_sql(cut: list[Segment], alias: str) -> tuple[str, list, str, list]:
    """(a condition keeping the rows of the segments, its parameters, the weight of a row,
    its parameters). Segments do not overlap, so the first that holds a row gives its weight."""
    conditions, params = [], []
    for segment in cut:
        conditions.append(f"({alias}.grain = %s AND {alias}.period >= %s AND {alias}.period < %s)")
        params += [segment.grain, segment.start, segment.end]
    if all(segment.coefficient == 1 for segment in cut):
        return " OR ".join(conditions), params, "1", []
    weight = "CASE " + " ".join(f"WHEN {c} THEN %s" for c in conditions) + " END"
    weight_params = []
    for index, segment in enumerate(cut):
        weight_params += [*params[3 * index : 3 * index + 3], segment.coefficient]
    return " OR ".join(conditions), params, weight, weight_params


def _covering(cut: list[Segment]) -> list[Segment]:
    """The union of segments of several buckets, as few ranges per grain as possible."""
    merged: list[Segment] = []
    for segment in sorted(cut, key=lambda s: (s.grain, s.start)):
        last = merged[-1] if merged else None
        if last and last.grain == segment.grain and segment.start <= last.end:
            merged[-1] = Segment(last.grain, last.start, max(last.end, segment.end), 1)
        else:
            merged.append(Segment(segment.grain, segment.start, segment.end, 1))
    return merged


def _read_rollups(cursor, rolled, filters, survey_ids, group, bounds, accounts, result) -> None:
    """Rollup rows grouped by (grain, period, group, survey) in SQL (a few hundred rows: the
    periods and groups of the report), weighted into buckets here."""
    by_bucket: dict[int, list[Piece]] = defaultdict(list)
    for piece, index in rolled:
        by_bucket[index].append(piece)
    day_weights: dict[dt.date, list[tuple[int, int]]] = defaultdict(list)
    month_weights: list[tuple[Segment, int]] = []
    every: list[Segment] = []
    for index, parts in by_bucket.items():
        for segment in segments(parts):
            every.append(segment)
            if segment.grain == DAY:
                day = segment.start
                while day < segment.end:
                    day_weights[day].append((index, segment.coefficient))
                    day += dt.timedelta(days=1)
            else:
                month_weights.append((segment, index))
    if not every:
        return
    cover, cover_params, _weight, _weight_params = _segment_sql(_covering(every), "r")
    conditions, condition_params = _account_conditions(filters, "r", accounts)
    sums = ", ".join(
        f"SUM(r.{name})"
        for name in ("positive", "neutral", "negative", *(f"s{k}" for k in AnswerRollup.SCORES))
    )
    sql = f"""
        SELECT r.grain, r.period, {_group_sql(group, "r")}, r.survey_id, {sums}
        FROM {AnswerRollup._meta.db_table} r
        {_joins(group, filters, "r")}
        WHERE r.survey_id = ANY(%s::bigint[]) AND ({cover})
              {"".join(f" AND {c}" for c in conditions)}
        GROUP BY 1, 2, 3, 4
    """
    cursor.execute(sql, [list(survey_ids), *cover_params, *condition_params])
    for grain, period, group_value, survey_id, *counts in cursor.fetchall():
        if grain == DAY:
            weights = day_weights.get(period, ())
        else:
            weights = [
                (index, segment.coefficient)
                for segment, index in month_weights
                if segment.start <= period < segment.end
            ]
        for index, weight in weights:
            tally = result[(bounds[index][0], group_value, survey_id)]
            positive, neutral, negative, *scores = counts
            tally.categories[1] += weight * positive
            tally.categories[0] += weight * neutral
            tally.categories[-1] += weight * negative
            for score, count in enumerate(scores):
                tally.add_score(score, weight * count)


def _read_answers(cursor, raw, filters, survey_ids, group, bounds, accounts, result) -> None:
    values, params = _values(
        [(piece.start, piece.end, index, piece.sign) for piece, index in raw],
        ("timestamptz", "timestamptz", "int", "int"),
    )
    conditions, condition_params = _account_conditions(filters, "x", accounts)
    sql = f"""
        SELECT p.bucket, {_group_sql(group, "x")}, x.survey_id, x.score, x.category, SUM(p.sign)
        FROM (VALUES {values}) AS p(lo, hi, bucket, sign)
        JOIN {Response._meta.db_table} x ON x.answered_at >= p.lo AND x.answered_at < p.hi
        {_joins(group, filters, "x")}
        WHERE NOT x.excluded AND x.survey_id = ANY(%s::bigint[])
              {"".join(f" AND {c}" for c in conditions)}
        GROUP BY 1, 2, 3, 4, 5
    """
    cursor.execute(sql, [*params, list(survey_ids), *condition_params])
    for bucket, group_value, survey_id, score, category, count in cursor.fetchall():
        tally = result[(bounds[bucket][0], group_value, survey_id)]
        tally.categories[category] += count
        tally.add_score(score, count)


def account_kind_counts(
    lo: dt.datetime | None,
    hi: dt.datetime | None,
    kinds: dict[str, list[int]],
    *,
    accounts: QuerySet[Account] | None = None,
) -> dict[int, dict[str, int]]:
    """Per account id: counted answers in [lo, hi) per kind of `kinds` ({kind: survey ids}):
    `{kind}_n`, `{kind}_positive`, `{kind}_negative` and `{kind}_total` (sum of scores).
    One statement: the rollups' pieces and the raw edge hours, summed per account in SQL,
    so a few thousand accounts come back as a few thousand short rows."""
    rolled = [piece for piece in pieces(lo, hi) if piece.grain != RAW]
    raw = [piece for piece in pieces(lo, hi) if piece.grain == RAW]
    every = [pk for ids in kinds.values() for pk in ids]
    if not every or not (rolled or raw):
        return {}
    total = " + ".join(f"{k} * r.s{k}" for k in AnswerRollup.SCORES if k)
    parts, params = [], []
    cut = segments(rolled)
    if cut:
        cover, cover_params, weight, weight_params = _segment_sql(cut, "r")
        conditions, condition_params = _account_conditions(None, "r", accounts)
        parts.append(
            f"""SELECT r.account_id AS account, r.survey_id,
                       w.weight * (r.positive + r.neutral + r.negative) AS n,
                       w.weight * r.positive AS positive, w.weight * r.negative AS negative,
                       w.weight * ({total}) AS total
                FROM {AnswerRollup._meta.db_table} r
                CROSS JOIN LATERAL (SELECT {weight} AS weight) w
                WHERE r.survey_id = ANY(%s::bigint[]) AND r.account_id > 0 AND ({cover})
                      {"".join(f" AND {c}" for c in conditions)}"""
        )
        params += [*weight_params, every, *cover_params, *condition_params]
    if raw:
        values, value_params = _values(
            [(piece.start, piece.end, piece.sign) for piece in raw],
            ("timestamptz", "timestamptz", "int"),
        )
        conditions, condition_params = _account_conditions(None, "x", accounts)
        parts.append(
            f"""SELECT x.account_id, x.survey_id, p.sign,
                       CASE WHEN x.category = 1 THEN p.sign ELSE 0 END,
                       CASE WHEN x.category = -1 THEN p.sign ELSE 0 END,
                       p.sign * x.score
                FROM (VALUES {values}) AS p(lo, hi, sign)
                JOIN {Response._meta.db_table} x
                  ON x.answered_at >= p.lo AND x.answered_at < p.hi
                WHERE NOT x.excluded AND x.survey_id = ANY(%s::bigint[])
                      AND x.account_id IS NOT NULL {"".join(f" AND {c}" for c in conditions)}"""
        )
        params += [*value_params, every, *condition_params]
    if not parts:
        return {}
    columns, column_params = [], []
    for ids in kinds.values():
        for name in ("n", "positive", "negative", "total"):
            columns.append(f"COALESCE(SUM({name}) FILTER (WHERE survey_id = ANY(%s::bigint[])), 0)")
            column_params.append(ids)
    sql = f"""
        SELECT account, {", ".join(columns)}
        FROM ({" UNION ALL ".join(parts)}) AS parts
        GROUP BY account
    """
    names = [f"{kind}_{name}" for kind in kinds for name in ("n", "positive", "negative", "total")]
    with connections[settings.REPORTS_DATABASE].cursor() as cursor:
        cursor.execute(sql, [*column_params, *params])
        return {
            account: dict(zip(names, values, strict=True))
            for account, *values in cursor.fetchall()
            if any(values)
        }
