"""The ticket rollups are exact: for random tickets (bulk and single inserts), random writes
after them (queryset updates, single saves moving a ticket to another month, deletes, a
deleted account's tickets) and random periods, time zones and channels, the support figures
read through the rollups equal the ones read from the tickets (REPORT_ROLLUPS off), and the
rows the triggers kept equal the rows `rebuild` computes from scratch. Then worked examples,
by hand: percentiles whose ranks fall in one bucket or two, ties and zeros, a period that
cuts a month mid-day in Asia/Kolkata, writes after the figures, and the proof that the
rollups are what is read. On PostgreSQL, with the triggers the migrations install."""

from __future__ import annotations

import datetime as dt
import itertools
import math
from collections import Counter
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import F
from django.db.models.functions import Least
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from accounts.models import Account
from metrics import support_scoring as ss
from metrics import support_selectors as sel
from metrics import ticket_rollups
from outcomes.models import Ticket
from tests.factories import AccountFactory, TicketFactory

UTC = ZoneInfo("UTC")
ZONES = [
    UTC,
    ZoneInfo("America/Sao_Paulo"),
    ZoneInfo("Asia/Kolkata"),  # +05:30: edges that are not whole hours
    ZoneInfo("America/New_York"),  # daylight saving time
]
CHANNELS = ["", "email", "chat", "phone"]
ASSIGNEES = ["", "ana", "bruno", "carla"]
PLANS = ["Starter", "Business", "", "Enterprise"]
NO_TIMES = ss.TimeStats(0, None, None, None)
EMPTY = ss.SupportSummary(0, 0, 0, 0, 0, NO_TIMES, NO_TIMES)

# Tickets fall in ~5 months around month ends; periods start and end anywhere in them.
ORIGIN = dt.datetime(2025, 10, 20, tzinfo=dt.UTC)
SPAN_MINUTES = 150 * 24 * 60
MONTH_STARTS = [dt.datetime(2025, month, 1, tzinfo=dt.UTC) for month in (11, 12)] + [
    dt.datetime(2026, month, 1, tzinfo=dt.UTC) for month in (1, 2, 3)
]
# Instants on the edges: UTC month starts and midnights, and the first instant of a month in
# the other zones (the last hours of the previous UTC month or the first of the UTC month).
EDGES = [
    *MONTH_STARTS,
    dt.datetime(2025, 10, 31, tzinfo=dt.UTC),
    dt.datetime(2026, 1, 15, tzinfo=dt.UTC),
    dt.datetime(2026, 2, 28, tzinfo=dt.UTC),
    *(
        dt.datetime(2026, month, 1, tzinfo=zone).astimezone(dt.UTC)
        for zone in ZONES[1:]
        for month in (1, 2)
    ),
]
# A whole period holding every ticket, whatever the moves: every figure of all time.
EVERYTHING = (dt.date(2025, 1, 1), dt.date(2027, 1, 1))
COUNT_COLUMNS = (
    "created",
    "solved",
    "ever_solved",
    "reopened",
    "fcr",
    "replied",
    "reply_us",
    "resolution_us",
)
MINUTE_US = 60 * 1_000_000
external_ids = itertools.count()

created_strategy = st.one_of(
    st.integers(0, SPAN_MINUTES).map(lambda minutes: ORIGIN + dt.timedelta(minutes=minutes)),
    st.builds(
        lambda start, minutes: start + dt.timedelta(minutes=minutes),
        st.sampled_from(MONTH_STARTS),
        st.integers(-3 * 24 * 60, 3 * 24 * 60),
    ),
    st.sampled_from(EDGES),
)
# Durations in minutes: a few values drawn often (ties, within and across tickets) and zero.
reply_strategy = st.one_of(
    st.none(), st.sampled_from([0, 10, 30, 45, 240]), st.integers(0, 20 * 24 * 60)
)
solved_strategy = st.one_of(
    st.none(), st.sampled_from([0, 60, 240, 1440]), st.integers(0, 30 * 24 * 60)
)
tickets_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "created": created_strategy,
            "channel": st.sampled_from(CHANNELS),
            "reply": reply_strategy,
            "solved": solved_strategy,
            "first_solved": st.one_of(st.none(), st.floats(0, 1)),  # a fraction of the time
            "agent_replies": st.integers(0, 3),
            "reopens": st.integers(0, 2),
            "account": st.integers(0, 4),  # 4: no account
            "assignee": st.sampled_from(ASSIGNEES),
        }
    ),
    min_size=1,
    max_size=30,
)
WRITES = [
    "solve",  # queryset update of one ticket's solved_at (and first_solved_at)
    "unsolve_channel",  # queryset update of a channel's tickets: reopened, unsolved
    "reply_channel",  # queryset update of a channel's first replies (all the same duration)
    "unreply",  # queryset update: one ticket's first reply gone
    "reopens",  # queryset update of one ticket's reopens
    "rechannel",  # queryset update of one ticket's channel
    "move",  # a single save moving a ticket (and its times) to another month
    "save",  # a single save of new times
    "delete",  # a single delete
    "delete_channel",  # a queryset delete
    "delete_account",  # its tickets go with it (cascade)
    "reassign",  # queryset update of one ticket's assignee
    "replan",  # queryset update of one account's plan: its tickets' plan moves with it
    "reaccount",  # queryset update moving one ticket to another account (or none)
]
writes_strategy = st.lists(
    st.fixed_dictionaries(
        {
            "action": st.sampled_from(WRITES),
            "index": st.integers(0, 29),  # which ticket (modulo how many there are)
            "minutes": st.one_of(st.sampled_from([0, 30, 240]), st.integers(0, 20 * 24 * 60)),
            "channel": st.sampled_from(CHANNELS),
        }
    ),
    max_size=8,
)
dates = st.dates(min_value=dt.date(2025, 10, 1), max_value=dt.date(2026, 4, 10))
filters_strategy = st.fixed_dictionaries(
    {
        "start": st.one_of(st.none(), dates),  # None: every ticket (EVERYTHING)
        "length": st.integers(1, 160),  # days
        "zone": st.sampled_from(ZONES),
        "channel": st.sampled_from(CHANNELS),
    }
)


def _rows() -> Counter:
    """The rollup rows that hold something (all-zero rows are the same as none)."""
    columns = ", ".join(ticket_rollups.COUNT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT grain, period, channel, {columns} FROM {ticket_rollups.TABLE}")
        return Counter(row for row in cursor.fetchall() if any(row[3:]))


def _buckets() -> Counter:
    """The bucket rows that hold tickets."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT grain, period, channel, time, bucket, tickets "
            f"FROM {ticket_rollups.BUCKETS} WHERE tickets <> 0"
        )
        return Counter(cursor.fetchall())


def _group_rows() -> Counter:
    columns = ", ".join(ticket_rollups.COUNT_COLUMNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT grain, period, dimension, value, {columns} FROM {ticket_rollups.GROUP_TABLE}"
        )
        return Counter(row for row in cursor.fetchall() if any(row[4:]))


def _group_buckets() -> Counter:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT grain, period, dimension, value, time, level, bucket, tickets "
            f"FROM {ticket_rollups.GROUP_BUCKETS} WHERE tickets <> 0"
        )
        return Counter(cursor.fetchall())


def _rows_by_key() -> dict[tuple, dict]:
    """{(grain, period, channel): {column: value}} of the rows that hold something."""
    rows = {}
    for row in _rows():
        rows[row[:3]] = dict(zip(ticket_rollups.COUNT_COLUMNS, row[3:], strict=True))
    return rows


def _delete_rollups() -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {ticket_rollups.TABLE}")
        cursor.execute(f"DELETE FROM {ticket_rollups.BUCKETS}")


def _summary(start: dt.date, end: dt.date, tz: ZoneInfo = UTC, channel: str = ""):
    return sel.support_summary(filters=sel.SupportFilters(start, end, tz, channel=channel))


def _from_rows(filters: sel.SupportFilters) -> ss.SupportSummary:
    with override_settings(REPORT_ROLLUPS=False):
        return sel.support_summary(filters=filters)


def _assert_times_close(mine: ss.TimeStats, theirs: ss.TimeStats) -> None:
    assert mine.n == theirs.n
    if theirs.n == 0:
        assert mine == NO_TIMES
        return
    assert math.isclose(mine.mean, theirs.mean, rel_tol=1e-9), (mine, theirs)
    assert math.isclose(mine.median, theirs.median, rel_tol=1e-12), (mine, theirs)
    assert math.isclose(mine.p90, theirs.p90, rel_tol=1e-12), (mine, theirs)


def _assert_same(mine: ss.SupportSummary, theirs: ss.SupportSummary) -> None:
    assert (mine.created, mine.solved, mine.ever_solved, mine.reopened, mine.fcr) == (
        theirs.created,
        theirs.solved,
        theirs.ever_solved,
        theirs.reopened,
        theirs.fcr,
    )
    _assert_times_close(mine.first_reply, theirs.first_reply)
    _assert_times_close(mine.resolution, theirs.resolution)


def _assert_same_report(filters: sel.SupportFilters) -> None:
    """The whole support page's figures (summary; channel, assignee, plan and month
    breakdowns) through the rollups equal the ones from the tickets, group for group."""
    mine = sel.support_report(filters=filters)
    with override_settings(REPORT_ROLLUPS=False):
        theirs = sel.support_report(filters=filters)
    _assert_same(mine.summary, theirs.summary)
    assert set(mine.by) == set(theirs.by) == set(sel.DIMENSIONS)
    for name in sel.DIMENSIONS:
        assert [key for key, _s in mine.by[name]] == [key for key, _s in theirs.by[name]], name
        for (_key, a), (_other, b) in zip(mine.by[name], theirs.by[name], strict=True):
            _assert_same(a, b)


def _assert_figures(
    summary: ss.SupportSummary,
    counts: tuple[int, int, int, int, int],
    first_reply: tuple,
    resolution: tuple,
) -> None:
    """`counts` (created, solved, ever solved, reopened, FCR) exactly; each time's (n, mean,
    median, p90), worked by hand, to the last bits of a float."""
    assert (
        summary.created,
        summary.solved,
        summary.ever_solved,
        summary.reopened,
        summary.fcr,
    ) == counts
    for stats, expected in ((summary.first_reply, first_reply), (summary.resolution, resolution)):
        n, *values = expected
        assert stats.n == n
        if n == 0:
            assert stats == NO_TIMES
            continue
        for got, want in zip((stats.mean, stats.median, stats.p90), values, strict=True):
            assert math.isclose(got, want, rel_tol=1e-12), (stats, expected)


class TicketRollupExactness(TestCase):
    @classmethod
    def setUpTestData(cls):
        cls.accounts = [
            AccountFactory(plan="Starter"),
            AccountFactory(plan="Business"),
            AccountFactory(plan="Starter", segment="Enterprise"),
            AccountFactory(plan="Business", segment="SMB"),
        ]

    def _ticket(self, spec) -> Ticket:
        created = spec["created"]
        reply, solved, fraction = spec["reply"], spec["solved"], spec["first_solved"]
        first_solved = None
        if fraction is not None:
            # Never after the final solve; a ticket reopened and not solved again keeps it.
            within = solved if solved is not None else 5 * 24 * 60
            first_solved = created + dt.timedelta(minutes=math.floor(fraction * within))
        return Ticket(
            account=None if spec["account"] == 4 else self.accounts[spec["account"]],
            source="api",
            external_id=f"R-{next(external_ids)}",
            channel=spec["channel"],
            assignee=spec["assignee"],
            status="solved" if solved is not None else "open",
            created_at=created,
            first_reply_at=None if reply is None else created + dt.timedelta(minutes=reply),
            solved_at=None if solved is None else created + dt.timedelta(minutes=solved),
            first_solved_at=first_solved,
            agent_replies=spec["agent_replies"],
            reopens=spec["reopens"],
        )

    def _store(self, specs, singles: int) -> None:
        """The first tickets in one bulk_create (one statement), the rest saved one by one."""
        tickets = [self._ticket(spec) for spec in specs]
        split = max(0, len(tickets) - singles)
        Ticket.objects.bulk_create(tickets[:split])
        for ticket in tickets[split:]:
            ticket.save()

    def _write(self, changes) -> None:
        for change in changes:
            action, minutes, channel = change["action"], change["minutes"], change["channel"]
            pks = list(Ticket.objects.order_by("pk").values_list("pk", flat=True))
            if not pks:
                return
            one = Ticket.objects.filter(pk=pks[change["index"] % len(pks)])
            later = F("created_at") + dt.timedelta(minutes=minutes)
            if action == "solve":
                one.update(
                    status="solved",
                    solved_at=later,
                    first_solved_at=Least("first_solved_at", later),
                )
            elif action == "unsolve_channel":
                Ticket.objects.filter(channel=channel).update(
                    status="open", solved_at=None, reopens=F("reopens") + 1
                )
            elif action == "reply_channel":
                Ticket.objects.filter(channel=channel).update(first_reply_at=later)
            elif action == "unreply":
                one.update(first_reply_at=None)
            elif action == "reopens":
                one.update(reopens=minutes % 3)
            elif action == "rechannel":
                one.update(channel=channel)
            elif action in ("move", "save"):
                ticket = one.get()
                if action == "move":
                    # 25 to 40 days earlier or later: into another month, every time with it.
                    days = (25 + minutes % 16) * (1 if minutes % 2 else -1)
                    shift = dt.timedelta(days=days, minutes=minutes % 1440)
                    for name in ("created_at", "first_reply_at", "first_solved_at", "solved_at"):
                        if getattr(ticket, name) is not None:
                            setattr(ticket, name, getattr(ticket, name) + shift)
                else:
                    ticket.first_reply_at = ticket.created_at + dt.timedelta(minutes=minutes)
                    ticket.solved_at = ticket.created_at + dt.timedelta(minutes=minutes * 2)
                    ticket.first_solved_at = None
                    ticket.agent_replies = minutes % 4
                ticket.save()
            elif action == "delete":
                one.get().delete()
            elif action == "delete_channel":
                Ticket.objects.filter(channel=channel).delete()
            elif action == "delete_account":
                Account.objects.filter(pk=self.accounts[change["index"] % 4].pk).delete()
            elif action == "reassign":
                one.update(assignee=ASSIGNEES[minutes % len(ASSIGNEES)])
            elif action == "replan":
                account = self.accounts[change["index"] % 4]
                Account.objects.filter(pk=account.pk).update(plan=PLANS[minutes % len(PLANS)])
            elif action == "reaccount":
                target = minutes % 5
                alive = target < 4 and Account.objects.filter(pk=self.accounts[target].pk).exists()
                one.update(account=self.accounts[target].pk if alive else None)

    @settings(
        max_examples=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(
        specs=tickets_strategy,
        singles=st.integers(0, 30),
        changes=writes_strategy,
        drawn=filters_strategy,
    )
    def test_every_support_figure_from_rollups_equals_the_tickets(
        self, specs, singles, changes, drawn
    ):
        self._store(specs, singles)
        self._write(changes)

        start = drawn["start"]
        if start is None:
            start, end = EVERYTHING
        else:
            end = start + dt.timedelta(days=drawn["length"])
        asked = sel.SupportFilters(start, end, drawn["zone"], channel=drawn["channel"])
        for filters in (
            asked,
            sel.SupportFilters(start, end, drawn["zone"]),  # every channel
            sel.SupportFilters(*EVERYTHING, UTC, channel=drawn["channel"]),  # whole months
        ):
            _assert_same(sel.support_summary(filters=filters), _from_rows(filters))
        for filters in (
            sel.SupportFilters(start, end, drawn["zone"]),
            sel.SupportFilters(*EVERYTHING, UTC),
        ):
            _assert_same_report(filters)

        # Each row's buckets hold its replied and solved tickets (a resolution time exists
        # exactly for the solved).
        kept, buckets = _rows(), _buckets()
        in_buckets = Counter()
        for (grain, period, channel, time, _bucket, tickets), times in buckets.items():
            in_buckets[(grain, period, channel, time)] += tickets * times
        for grain, period, channel, *counts in kept:
            values = dict(zip(COUNT_COLUMNS, counts, strict=True))
            assert in_buckets.pop((grain, period, channel, 1), 0) == values["replied"]
            assert in_buckets.pop((grain, period, channel, 2), 0) == values["solved"]
        assert not in_buckets  # no bucket without its row

        # What the triggers kept is what a rebuild computes from the tickets.
        groups, group_buckets = _group_rows(), _group_buckets()
        ticket_rollups.rebuild()
        assert _rows() == kept
        assert _buckets() == buckets
        assert _group_rows() == groups
        assert _group_buckets() == group_buckets


# --- Worked examples, by hand -----------------------------------------------------------------

JANUARY = (dt.date(2026, 1, 1), dt.date(2026, 2, 1))
T0 = dt.datetime(2026, 1, 10, 9, 0, tzinfo=dt.UTC)


def _five_in_january(account) -> list[Ticket]:
    """Five email tickets created 2026-01-10 09:00 UTC (minutes after it):
    T1 reply 10, solved 60, 1 agent reply           -> solved, FCR
    T2 reply 20, solved 180, 2 agent replies        -> solved, not FCR
    T3 reply 30, solved 240, reopened once          -> solved, reopened, not FCR
    T4 reply 40, solved at 100 once, reopened, open -> ever solved, reopened
    T5 reply 100, open                              -> neither
    and one ticket on each side of January: 2025-12-31 23:59 (chat) and 2026-02-01 00:00
    (email), each with a first reply of 5 minutes."""
    kw = {"account": account, "channel": "email", "created_at": T0}
    tickets = [
        TicketFactory(reply=10, solved=60, agent_replies=1, **kw),
        TicketFactory(reply=20, solved=180, agent_replies=2, **kw),
        TicketFactory(reply=30, first_solved=90, solved=240, reopens=1, **kw),
        TicketFactory(reply=40, first_solved=100, reopens=1, **kw),
        TicketFactory(reply=100, **kw),
    ]
    TicketFactory(
        account=account,
        channel="chat",
        created_at=dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC),
        reply=5,
    )
    TicketFactory(
        account=account,
        channel="email",
        created_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        reply=5,
    )
    return tickets


def _one_reply_row() -> dict:
    """A rollup row of one ticket with a first reply of 5 minutes, nothing else."""
    return dict.fromkeys(COUNT_COLUMNS, 0) | {"created": 1, "replied": 1, "reply_us": 5 * MINUTE_US}


def test_the_count_columns_are_the_contracts():
    assert tuple(ticket_rollups.COUNT_COLUMNS) == COUNT_COLUMNS


@pytest.mark.django_db
@override_settings(REPORT_ROLLUPS=True)
def test_five_tickets_in_a_month_by_hand():
    _five_in_january(AccountFactory())

    # The rows, by hand. January's five: created 5; solved 3 (T1-T3); ever solved 4 (T4's
    # first solve); reopened 2 (T3, T4); FCR 1 (T1); replies 5, (10 + 20 + 30 + 40 + 100) =
    # 200 minutes; resolutions (the 3 solved) (60 + 180 + 240) = 480 minutes. All on one UTC day.
    january = {
        "created": 5,
        "solved": 3,
        "ever_solved": 4,
        "reopened": 2,
        "fcr": 1,
        "replied": 5,
        "reply_us": 200 * MINUTE_US,
        "resolution_us": 480 * MINUTE_US,
    }
    assert _rows_by_key() == {
        ("d", dt.date(2026, 1, 10), "email"): january,
        ("m", dt.date(2026, 1, 1), "email"): january,
        ("d", dt.date(2025, 12, 31), "chat"): _one_reply_row(),
        ("m", dt.date(2025, 12, 1), "chat"): _one_reply_row(),
        ("d", dt.date(2026, 2, 1), "email"): _one_reply_row(),
        ("m", dt.date(2026, 2, 1), "email"): _one_reply_row(),
    }

    # First reply, sorted 10, 20, 30, 40, 100: mean 200 / 5 = 40; median at position
    # 0.5 x 4 = 2: 30; p90 at 0.9 x 4 = 3.6: 40 + 0.6 x (100 - 40) = 76.
    # Resolution, sorted 60, 180, 240: mean 480 / 3 = 160; median 180; p90 at 0.9 x 2 = 1.8:
    # 180 + 0.8 x (240 - 180) = 228.
    expected = ((5, 3, 4, 2, 1), (5, 40, 30, 76), (3, 160, 180, 228))
    summary = _summary(*JANUARY)
    _assert_figures(summary, *expected)
    _assert_figures(_summary(*JANUARY, channel="email"), *expected)
    assert _summary(*JANUARY, channel="chat") == EMPTY
    filters = sel.SupportFilters(*JANUARY, UTC)
    _assert_figures(_from_rows(filters), *expected)

    # The rollups are what is read: without their rows the month reads empty (the tickets
    # have not changed: read from them, the figures are the same); a rebuild restores them.
    _delete_rollups()
    assert _summary(*JANUARY) == EMPTY
    _assert_figures(_from_rows(filters), *expected)
    ticket_rollups.rebuild(since=dt.date(2025, 12, 1))
    assert _summary(*JANUARY) == summary
    _assert_figures(_summary(*JANUARY), *expected)


@pytest.mark.django_db
@override_settings(REPORT_ROLLUPS=True)
def test_writes_after_the_figures_by_hand():
    account, other = AccountFactory(), AccountFactory()
    t1, t2, _t3, _t4, t5 = _five_in_january(account)
    TicketFactory(account=other, channel="chat", created_at=T0, reply=7, solved=7)

    # T5 solved at 300 minutes (a queryset update): resolution 60, 180, 240, 300: mean 195,
    # median (180 + 240) / 2 = 210, p90 at 2.7: 240 + 0.7 x 60 = 282. T5 has one agent reply
    # and no reopen: FCR 2. The other account's ticket: created 6, solved 5, ever solved 6
    # (T4's first solve), FCR 3; replies 7, 10, 20, 30, 40, 100: mean 207 / 6 = 34.5, median at 2.5:
    # 20 + 0.5 x 10 = 25, p90 at 4.5: 40 + 0.5 x 60 = 70; resolution 7, 60, 180, 240, 300:
    # mean 787 / 5 = 157.4, median 180, p90 at 3.6: 240 + 0.6 x 60 = 276.
    Ticket.objects.filter(pk=t5.pk).update(solved_at=F("created_at") + dt.timedelta(minutes=300))
    _assert_figures(_summary(*JANUARY), (6, 5, 6, 2, 3), (6, 34.5, 25, 70), (5, 157.4, 180, 276))

    # The other account deleted: its ticket goes with it.
    Account.objects.filter(pk=other.pk).delete()
    _assert_figures(_summary(*JANUARY), (5, 4, 5, 2, 2), (5, 40, 30, 76), (4, 195, 210, 282))

    # T1 deleted: replies 20, 30, 40, 100: mean 47.5, median 35, p90 at 2.7: 40 + 0.7 x 60
    # = 82; resolution 180, 240, 300: mean 240, median 240, p90 at 1.8: 240 + 0.8 x 60 = 288.
    t1.delete()
    _assert_figures(_summary(*JANUARY), (4, 3, 4, 2, 1), (4, 47.5, 35, 82), (3, 240, 240, 288))

    # T2 moved to February by a single save, its times with it: January keeps T3, T4, T5:
    # replies 30, 40, 100: mean 170 / 3, median 40, p90 at 1.8: 40 + 0.8 x 60 = 88;
    # resolution 240, 300: mean 270, median 270, p90 240 + 0.9 x 60 = 294. February: the
    # ticket of 2026-02-01 (reply 5) and T2 (reply 20, solved 180, 2 agent replies).
    shift = dt.timedelta(days=31)
    t2.created_at += shift
    t2.first_reply_at += shift
    t2.solved_at += shift
    t2.first_solved_at += shift
    t2.save()
    _assert_figures(_summary(*JANUARY), (3, 2, 3, 2, 1), (3, 170 / 3, 40, 88), (2, 270, 270, 294))
    february = (dt.date(2026, 2, 1), dt.date(2026, 3, 1))
    _assert_figures(_summary(*february), (2, 1, 1, 0, 0), (2, 12.5, 12.5, 18.5), (1, 180, 180, 180))

    # Every T left is reopened by one update and unsolved: no resolution left in January.
    Ticket.objects.filter(account=account).update(solved_at=None, reopens=F("reopens") + 1)
    _assert_figures(_summary(*JANUARY), (3, 0, 3, 3, 0), (3, 170 / 3, 40, 88), (0,))

    kept, buckets = _rows(), _buckets()
    ticket_rollups.rebuild()
    assert (_rows(), _buckets()) == (kept, buckets)


@pytest.mark.django_db
@override_settings(REPORT_ROLLUPS=True)
def test_ranks_in_two_buckets_ties_and_zeros():
    account = AccountFactory()
    # Two first replies, 10 and 1000 minutes: median at position 0.5: (10 + 1000) / 2 = 505,
    # its two ranks far apart (two buckets); p90 at 0.9: 10 + 0.9 x 990 = 901; mean 505.
    for reply in (10, 1000):
        TicketFactory(account=account, created_at=T0, reply=reply, channel="chat")
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {ticket_rollups.BUCKETS} WHERE grain = 'm' AND time = 1 "
            "AND period = %s AND tickets > 0",
            [dt.date(2026, 1, 1)],
        )
        assert cursor.fetchone()[0] == 2  # the example reads two buckets, as meant
    _assert_figures(_summary(*JANUARY), (2, 0, 0, 0, 0), (2, 505, 505, 901), (0,))

    # Ties and zeros, in February: replies 0, 30, 30, 30: mean 90 / 4 = 22.5; median at 1.5:
    # 30; p90 at 2.7: 30. Resolutions 0, 0, 45 (three tickets solved, one not): mean 15,
    # median 0, p90 at 1.8: 0 + 0.8 x 45 = 36. Solved with one agent reply, no reopen: FCR 3.
    created = dt.datetime(2026, 2, 3, 12, tzinfo=dt.UTC)
    kw = {"account": account, "created_at": created, "channel": "phone"}
    TicketFactory(reply=0, solved=0, **kw)
    TicketFactory(reply=30, solved=0, **kw)
    TicketFactory(reply=30, solved=45, **kw)
    TicketFactory(reply=30, **kw)
    february = (dt.date(2026, 2, 1), dt.date(2026, 3, 1))
    _assert_figures(_summary(*february), (4, 3, 3, 0, 3), (4, 22.5, 30, 30), (3, 15, 0, 36))
    # Both months, both channels: replies 0, 10, 30, 30, 30, 1000: mean 1100 / 6; median at
    # 2.5: 30; p90 at 4.5: 30 + 0.5 x 970 = 515.
    _assert_figures(
        _summary(JANUARY[0], february[1]),
        (6, 3, 3, 0, 3),
        (6, 1100 / 6, 30, 515),
        (3, 15, 0, 36),
    )
    _assert_figures(
        _summary(JANUARY[0], february[1], channel="chat"), (2, 0, 0, 0, 0), (2, 505, 505, 901), (0,)
    )


@pytest.mark.django_db
@override_settings(REPORT_ROLLUPS=True)
def test_a_period_cutting_months_mid_day_in_kolkata():
    """2026-01-15 to 2026-02-15 in Asia/Kolkata (+05:30) is [2026-01-14 18:30, 2026-02-14
    18:30) UTC: it cuts the UTC days of its ends mid-day and January in the middle."""
    account = AccountFactory()

    def at(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)

    kw = {"account": account, "channel": "email"}
    TicketFactory(created_at=at("2026-01-14 18:29"), reply=5, solved=7, **kw)  # A: before
    TicketFactory(created_at=at("2026-01-14 18:30"), reply=50, solved=100, **kw)  # B: first
    TicketFactory(created_at=at("2026-01-20 12:00"), reply=20, **kw)  # C
    TicketFactory(created_at=at("2026-02-01 00:00"), reply=80, **kw)  # D
    TicketFactory(created_at=at("2026-02-14 18:29"), reply=10, **kw)  # E: last
    TicketFactory(created_at=at("2026-02-14 18:30"), reply=1000, solved=5, **kw)  # F: after
    TicketFactory(
        created_at=at("2026-01-31 23:00"), reply=40, solved=300, account=account, channel="chat"
    )  # G
    kolkata = ZoneInfo("Asia/Kolkata")
    period = (dt.date(2026, 1, 15), dt.date(2026, 2, 15))

    # B, C, D, E, G: replies 10, 20, 40, 50, 80: mean 200 / 5 = 40, median 40, p90 at 3.6:
    # 50 + 0.6 x 30 = 68. Solved B (100) and G (300), one agent reply each, no reopen: mean,
    # median 200, p90 at 0.9: 100 + 0.9 x 200 = 280.
    _assert_figures(
        _summary(*period, kolkata), (5, 2, 2, 0, 2), (5, 40, 40, 68), (2, 200, 200, 280)
    )
    # Email: B, C, D, E: replies 10, 20, 50, 80: mean 40, median at 1.5: 20 + 0.5 x 30 = 35,
    # p90 at 2.7: 50 + 0.7 x 30 = 71; solved B only.
    _assert_figures(
        _summary(*period, kolkata, "email"), (4, 1, 1, 0, 1), (4, 40, 35, 71), (1, 100, 100, 100)
    )
    _assert_figures(
        _summary(*period, kolkata, "chat"), (1, 1, 1, 0, 1), (1, 40, 40, 40), (1, 300, 300, 300)
    )
    # The same dates in UTC, [2026-01-15, 2026-02-15): C, D, E, F, G: replies 10, 20, 40, 80,
    # 1000: mean 1150 / 5 = 230, median 40, p90 at 3.6: 80 + 0.6 x 920 = 632; solved F (5)
    # and G (300): mean, median 152.5, p90 5 + 0.9 x 295 = 270.5.
    _assert_figures(
        _summary(*period, UTC), (5, 2, 2, 0, 2), (5, 230, 40, 632), (2, 152.5, 152.5, 270.5)
    )
    for tz in (kolkata, UTC):
        filters = sel.SupportFilters(*period, tz)
        _assert_same(sel.support_summary(filters=filters), _from_rows(filters))


@pytest.mark.django_db
@override_settings(REPORT_ROLLUPS=True)
def test_group_figures_of_periods_cut_mid_month_by_hand():
    """The breakdowns by assignee and plan of periods made of days: days alone, [2026-01-10,
    2026-01-13), and January minus its last four days, [2026-01-01, 2026-01-28). Their counts
    and runs of buckets come from the group rollups' day rows, the buckets inside the runs
    from the tickets' bucket indexes: a ticket counted on the wrong day moves the figures."""
    pro = AccountFactory(plan="Pro")
    basic = AccountFactory(plan="Basic")

    def at(text: str) -> dt.datetime:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)

    for created, reply in (
        ("2026-01-10 09:00", 10),
        ("2026-01-11 09:00", 20),
        ("2026-01-12 23:59", 30),
        ("2026-01-13 00:00", 25),  # the day after the first period
        ("2026-01-29 09:00", 22),  # in the days the second period takes from January
    ):
        TicketFactory(account=pro, assignee="ana", created_at=at(created), reply=reply)
    TicketFactory(account=basic, assignee="bo", created_at=at("2026-01-11 12:00"), reply=100)
    TicketFactory(account=pro, assignee="ana", created_at=at("2025-12-31 23:59"), reply=1)

    def groups(start: dt.date, end: dt.date) -> dict[str, dict]:
        report = sel.support_report(filters=sel.SupportFilters(start, end, UTC))
        return {name: dict(report.by[name]) for name in ("assignee", "plan")}

    # [Jan 10, Jan 13): ana 10, 20, 30: median 20, p90 at 1.8: 20 + 0.8 x 10 = 28; bo 100.
    first = groups(dt.date(2026, 1, 10), dt.date(2026, 1, 13))
    for summary in (first["assignee"]["ana"], first["plan"]["Pro"]):
        _assert_figures(summary, (3, 0, 0, 0, 0), (3, 20, 20, 28), (0,))
    for summary in (first["assignee"]["bo"], first["plan"]["Basic"]):
        _assert_figures(summary, (1, 0, 0, 0, 0), (1, 100, 100, 100), (0,))
    # [Jan 1, Jan 28): ana 10, 20, 25, 30: mean 21.25, median at 1.5: 20 + 0.5 x 5 = 22.5,
    # p90 at 2.7: 25 + 0.7 x 5 = 28.5.
    second = groups(dt.date(2026, 1, 1), dt.date(2026, 1, 28))
    for summary in (second["assignee"]["ana"], second["plan"]["Pro"]):
        _assert_figures(summary, (4, 0, 0, 0, 0), (4, 21.25, 22.5, 28.5), (0,))
    for start, end in ((dt.date(2026, 1, 10), dt.date(2026, 1, 13)), JANUARY):
        _assert_same_report(sel.SupportFilters(start, end, UTC))
