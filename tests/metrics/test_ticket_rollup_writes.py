"""Every way the app writes tickets keeps the ticket rollups exact — the staged CSV import (new
tickets, then a file of solves and reopens), the API's upsert, the Zendesk inbox's whole-ticket
save — checked by hand and against a rebuild; the rebuild command; and a rebuild running while
tickets arrive on another connection."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.test import override_settings

from metrics import support_selectors as sel
from metrics import ticket_rollups
from outcomes import ticket_imports, tickets
from outcomes.models import Ticket, TicketSource
from tests.factories import AccountFactory, TicketFactory
from tests.metrics.beside import rebuild_beside

pytestmark = pytest.mark.django_db
UTC = dt.UTC
HEADER = "account,external_id,status,created_at,first_reply_at,first_solved_at,solved_at,"
HEADER += "agent_replies,reopens,channel,assignee\n"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINUTE_US = 60 * 1_000_000


def at(minutes: float) -> str:
    return (T0 + dt.timedelta(minutes=minutes)).isoformat()


def csv_of(rows: list[list]) -> bytes:
    return (HEADER + "".join(",".join(map(str, row)) + "\n" for row in rows)).encode()


def _rows(using: str = "default") -> dict[tuple, tuple]:
    """{(grain, period, channel): counts}, the all-zero rows left out."""
    columns = ", ".join(ticket_rollups.COUNT_COLUMNS)
    with connections[using].cursor() as cursor:
        cursor.execute(f"SELECT grain, period, channel, {columns} FROM {ticket_rollups.TABLE}")
        return {tuple(row[:3]): tuple(row[3:]) for row in cursor.fetchall() if any(row[3:])}


def _buckets() -> dict[tuple, int]:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT grain, period, channel, time, bucket, tickets FROM {ticket_rollups.BUCKETS}"
        )
        return {tuple(row[:5]): row[5] for row in cursor.fetchall() if row[5]}


def _assert_rebuild_agrees() -> None:
    kept, buckets = _rows(), _buckets()
    ticket_rollups.rebuild()
    assert (_rows(), _buckets()) == (kept, buckets)


def _march(channel: str = ""):
    """The support summary of March 2026 (UTC) through the rollups."""
    with override_settings(REPORT_ROLLUPS=True):
        return sel.support_summary(
            filters=sel.SupportFilters(
                start=dt.date(2026, 3, 1), end=dt.date(2026, 4, 1), tz=UTC, channel=channel
            )
        )


def test_the_staged_import_then_a_file_of_solves_and_reopens():
    first = [
        ["acme", "T1", "open", at(0), at(10), "", "", 1, 0, "email", "maria"],
        ["acme", "T2", "open", at(5), at(35), "", "", 1, 0, "email", "joao"],
        ["acme", "T3", "open", at(7), "", "", "", 0, 0, "chat", "maria"],
    ]  # fmt: skip
    ticket_imports.import_tickets(source=csv_of(first))
    # Three created, none solved; replies 10 and 30 minutes (T3 unanswered).
    summary = _march()
    assert (summary.created, summary.solved, summary.first_reply.n) == (3, 0, 2)
    assert (summary.first_reply.mean, summary.first_reply.median) == (20.0, 20.0)
    assert _rows()[("m", dt.date(2026, 3, 1), "email")] == (2, 0, 0, 0, 0, 2, 40 * MINUTE_US, 0)

    second = [
        # T1 solved an hour after creation with one reply: an FCR.
        ["acme", "T1", "solved", at(0), at(10), "", at(60), 1, 0, "email", "maria"],
        # T2 solved at 2 h after two replies, reopened once: not an FCR.
        ["acme", "T2", "solved", at(5), at(35), "", at(125), 2, 1, "email", "joao"],
    ]  # fmt: skip
    ticket_imports.import_tickets(source=csv_of(second))
    summary = _march()
    # Solved 2 (resolution 60 and 120 minutes: mean 90, median 90, p90 60 + 0.9 × 60 = 114);
    # ever solved 2, reopened 1, FCR 1.
    assert (summary.created, summary.solved, summary.ever_solved) == (3, 2, 2)
    assert (summary.reopened, summary.fcr) == (1, 1)
    assert summary.resolution.n == 2
    assert summary.resolution.mean == 90.0
    assert summary.resolution.median == 90.0
    assert summary.resolution.p90 == pytest.approx(114.0, rel=1e-12)
    email = _march("email")
    assert (email.created, email.solved, email.first_reply.p90) == (2, 2, pytest.approx(28.0))
    assert _rows()[("m", dt.date(2026, 3, 1), "email")] == (
        2, 2, 2, 1, 1, 2, 40 * MINUTE_US, 180 * MINUTE_US,
    )  # fmt: skip
    _assert_rebuild_agrees()


def test_the_api_upsert_and_the_zendesk_save():
    tickets.record_tickets(
        source=TicketSource.API,
        tickets=[
            tickets.TicketInput(
                account="acme",
                external_id="A1",
                values={
                    "status": "open",
                    "created_at": T0,
                    "first_reply_at": T0 + dt.timedelta(minutes=15),
                    "channel": "web",
                },
            )
        ],
    )
    assert _march("web").first_reply.median == 15.0
    # The same ticket solved later through the API: an update statement.
    tickets.record_tickets(
        source=TicketSource.API,
        tickets=[
            tickets.TicketInput(
                account="acme",
                external_id="A1",
                values={"status": "solved", "solved_at": T0 + dt.timedelta(minutes=45)},
            )
        ],
    )
    web = _march("web")
    assert (web.solved, web.resolution.median, web.fcr) == (1, 45.0, 1)
    # A Zendesk ticket saved whole, then moved to another channel: its counts move with it.
    ticket = Ticket.objects.get(external_id="A1")
    values = {
        "status": "solved",
        "created_at": T0 + dt.timedelta(days=1),
        "first_reply_at": T0 + dt.timedelta(days=1, minutes=5),
        "first_solved_at": T0 + dt.timedelta(days=1, minutes=20),
        "solved_at": T0 + dt.timedelta(days=1, minutes=20),
        "agent_replies": 1,
        "reopens": 0,
        "channel": "email",
        "assignee": "ana",
    }
    tickets.save_ticket(
        source=TicketSource.ZENDESK, external_id="Z1", account=ticket.account, values=values,
        raw={},
    )  # fmt: skip
    Ticket.objects.filter(external_id="A1").update(channel="email")
    assert _march("web").created == 0
    email = _march("email")
    # Replies 15 and 5 minutes, resolutions 45 and 20.
    assert (email.created, email.first_reply.mean, email.resolution.median) == (2, 10.0, 32.5)
    _assert_rebuild_agrees()


def test_the_rebuild_command_restores_the_ticket_rollups():
    ticket_imports.import_tickets(
        source=csv_of([["acme", "T1", "solved", at(0), at(10), "", at(30), 1, 0, "email", ""]])
    )
    kept, buckets = _rows(), _buckets()
    assert len(kept) == 2 and len(buckets) == 4  # day and month; a bucket per time each
    with connection.cursor() as cursor:  # as after a restore of the tickets without them
        cursor.execute(f"DELETE FROM {ticket_rollups.TABLE}; DELETE FROM {ticket_rollups.BUCKETS}")
    assert _march().created == 0
    out = io.StringIO()
    call_command("rebuild_rollups", "--since", "2026-03-15", stdout=out)
    # 6 rows as above, and the group rollups' 16: a day and a month row per group (assignee ''
    # and the account's plan: 4) and, for each group and time (4), its run of buckets in the
    # day and in the month and its bucket in the month (12).
    assert "Rebuilt the ticket rollups: 22 rows" in out.getvalue()
    assert (_rows(), _buckets()) == (kept, buckets)
    assert _march().resolution.median == 30.0


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_beside_new_tickets_stays_exact():
    """Tickets keep arriving (another connection, committed one by one) while the rollups are
    rebuilt month by month; afterwards the rows equal a quiet rebuild's, and every ticket is
    counted once."""
    # 59 tickets every three days from 90 days before T0: reply after i minutes, solve after 2i.
    starts = {i: 3 * 24 * 60 * i - 90 * 24 * 60 for i in range(1, 60)}
    history = [
        ["acme", f"H{i}", "solved", at(start), at(start + i), "", at(start + 2 * i), 1, 0,
         "email", ""]
        for i, start in starts.items()
    ]  # fmt: skip
    ticket_imports.import_tickets(source=csv_of(history))

    def write():
        for i in range(30):
            tickets.record_tickets(
                source=TicketSource.API,
                tickets=[
                    tickets.TicketInput(
                        account="acme",
                        external_id=f"N{i}",
                        values={
                            "status": "open",
                            "created_at": T0 + dt.timedelta(hours=i),
                            "channel": "chat",
                        },
                    )
                ],
            )

    errors = rebuild_beside(write, ticket_rollups.rebuild)
    assert errors == []
    assert Ticket.objects.count() == 59 + 30
    _assert_rebuild_agrees()
    # By hand: the 30 new chat tickets, all created in March 2026 (2 March 09:00 + 0..29 h).
    assert _rows()[("m", dt.date(2026, 3, 1), "chat")][0] == 30
    assert sum(counts[0] for (grain, _p, _c), counts in _rows().items() if grain == "m") == 89


@pytest.mark.django_db(transaction=True)  # committed: a TRUNCATE waits for no pending check
def test_a_truncate_of_the_tickets_empties_their_rollups():
    """TRUNCATE fires no delete trigger: the truncate triggers empty the ticket rollups (and
    the group rollups), so the tickets written afterwards are counted alone."""
    account = AccountFactory(plan="Pro")
    TicketFactory(account=account, channel="email", assignee="ana", reply=10)
    TicketFactory(account=account, channel="email", assignee="ana", reply=30)
    tables = (
        ticket_rollups.TABLE,
        ticket_rollups.BUCKETS,
        ticket_rollups.GROUP_TABLE,
        ticket_rollups.GROUP_BUCKETS,
    )
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - constants
            assert cursor.fetchone()[0] > 0, table
        cursor.execute(f"TRUNCATE {ticket_rollups.TICKETS}")
        for table in tables:
            cursor.execute(f"SELECT count(*) FROM {table}")  # noqa: S608 - constants
            assert cursor.fetchone()[0] == 0, table
    TicketFactory(account=account, channel="email", assignee="ana", reply=20)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT grain, created, replied, reply_us FROM {ticket_rollups.GROUP_TABLE} "  # noqa: S608
            "WHERE dimension = 'p' AND value = 'Pro' ORDER BY grain"
        )
        # One ticket, in its day and its month: created 1, replied 1, 20 minutes =
        # 1,200,000,000 microseconds.
        assert cursor.fetchall() == [("d", 1, 1, 1_200_000_000), ("m", 1, 1, 1_200_000_000)]
