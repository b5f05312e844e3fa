"""The health score's support input: each account's open tickets at a reference instant, read
from the tickets that can be open (unsolved, or solved at or after the instant), never from a
sequential scan of the tickets table."""

from __future__ import annotations

import datetime as dt
import random

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from metrics.health_inputs import health_inputs
from outcomes.models import Ticket
from tests.factories import AccountFactory, TicketFactory, UsageFactory

pytestmark = pytest.mark.django_db
REFERENCE = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
DAY = 24 * 60  # minutes


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


def open_tickets(**kwargs) -> dict[int, int | None]:
    found = health_inputs(reference=REFERENCE, revenue_days=90, **kwargs)
    return {account_id: inputs.open_tickets for account_id, inputs in found.items()}


@pytest.fixture
def accounts():
    busy, quiet, silent, late = (AccountFactory() for _ in range(4))
    # busy: 3 open at the reference.
    TicketFactory(account=busy, created_at=at("2026-01-05"))  # never solved: open
    TicketFactory(account=busy, created_at=at("2026-02-20"), solved=20 * DAY)  # solved after
    # Solved at the reference instant itself: `solved_at >= reference`, open.
    TicketFactory(account=busy, created_at=REFERENCE - dt.timedelta(hours=2), solved=120)
    TicketFactory(account=busy, created_at=at("2026-02-01"), solved=3 * DAY)  # solved before
    TicketFactory(account=busy, created_at=at("2026-02-27"), solved=59)  # solved before
    TicketFactory(account=busy, created_at=REFERENCE)  # created at the reference: not yet
    TicketFactory(account=busy, created_at=at("2026-03-02"))  # created after
    # Reopened and never solved again: solved_at is empty, open whatever its first solve.
    TicketFactory(
        account=busy, created_at=at("2026-01-10"), first_solved=DAY, solved=None, reopens=1
    )
    # quiet: tickets before the reference, all solved before it: 0, not None.
    TicketFactory(account=quiet, created_at=at("2025-06-01"), solved=DAY)
    TicketFactory(account=quiet, created_at=at("2026-02-28"), solved=60)
    # late: its only tickets come after the reference (one solved, one not): no input.
    TicketFactory(account=late, created_at=at("2026-03-05"))
    TicketFactory(account=late, created_at=at("2026-03-05"), solved=60)
    # A ticket of no account counts nowhere.
    TicketFactory(account=None, created_at=at("2026-01-01"))
    return busy, quiet, silent, late


def test_open_tickets_at_a_past_reference(accounts):
    busy, quiet, silent, late = accounts
    found = open_tickets()
    # busy: never solved (1) + solved 21 March (1) + solved at the reference (1) + reopened (1).
    assert found[busy.pk] == 4
    assert found[quiet.pk] == 0
    assert silent.pk not in found  # no ticket at all: no input (None)
    assert late.pk not in found  # no ticket before the reference
    assert set(found) == {busy.pk, quiet.pk}


def test_open_tickets_for_chosen_accounts(accounts):
    busy, quiet, silent, late = accounts
    assert open_tickets(account_ids=[quiet.pk, silent.pk, late.pk]) == {quiet.pk: 0}
    assert open_tickets(account_ids=[busy.pk]) == {busy.pk: 4}


def test_an_account_with_other_inputs_but_no_ticket_has_no_support_input(accounts):
    _busy, _quiet, silent, _late = accounts
    silent.seats = 10
    silent.save(update_fields=["seats"])
    UsageFactory(account=silent, day=dt.date(2026, 2, 28), value=4)
    inputs = health_inputs(reference=REFERENCE, revenue_days=90)[silent.pk]
    assert (inputs.open_tickets, inputs.adoption_pct) == (None, 40.0)


# The count as it was first written: every ticket created before the reference, grouped.
EVERY_TICKET = f"""
    SELECT account_id, COUNT(*) FILTER (WHERE solved_at IS NULL OR solved_at >= %s)
    FROM {Ticket._meta.db_table}
    WHERE account_id IS NOT NULL AND created_at < %s
    GROUP BY account_id
"""  # noqa: S608


def test_random_tickets_count_as_the_statement_over_every_ticket():
    rng = random.Random(20261130)
    accounts = [AccountFactory() for _ in range(12)]
    start = at("2026-01-01")
    for n in range(400):
        created = start + dt.timedelta(minutes=rng.randrange(90 * DAY))
        solved = (
            None
            if rng.random() < 0.2
            else created + dt.timedelta(minutes=rng.choice([0, 1, rng.randrange(40 * DAY)]))
        )
        Ticket.objects.create(
            account=None if rng.random() < 0.05 else rng.choice(accounts[:10]),
            source="api",
            external_id=f"R-{n}",
            status="solved" if solved else "open",
            created_at=created,
            solved_at=solved,
        )
    references = [start, start + dt.timedelta(days=30), REFERENCE, at("2026-06-01")]
    references += [Ticket.objects.order_by("?").first().solved_at or start for _ in range(4)]
    for reference in references:
        with connection.cursor() as cursor:
            cursor.execute(EVERY_TICKET, [reference, reference])
            expected = dict(cursor.fetchall())
        found = health_inputs(reference=reference, revenue_days=90)
        got = {pk: inputs.open_tickets for pk, inputs in found.items()}
        got = {pk: count for pk, count in got.items() if count is not None}
        assert got == expected, reference


def _open_ticket_plan(account_ids) -> str:
    with CaptureQueriesContext(connection) as captured:
        health_inputs(reference=REFERENCE, revenue_days=90, account_ids=account_ids)
    (statement,) = [q["sql"] for q in captured.captured_queries if "solved_at" in q["sql"]]
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {statement}")
        return "\n".join(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize("chosen", [False, True])
def test_the_count_reads_the_open_tickets_through_indexes(chosen):
    """With sequential scans priced out, a plan that still reads the tickets whole means no
    index answers the count; the two partial reads name their indexes."""
    accounts = [AccountFactory() for _ in range(50)]
    rng = random.Random(7)
    Ticket.objects.bulk_create(
        Ticket(
            account=accounts[n % 50],
            source="api",
            external_id=f"P-{n}",
            status="solved",
            created_at=(created := at("2025-01-01") + dt.timedelta(hours=n)),
            solved_at=None if n % 12 == 0 else created + dt.timedelta(hours=rng.randrange(48)),
        )
        for n in range(5000)
    )
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Ticket._meta.db_table}")
    plan = _open_ticket_plan([a.pk for a in accounts[:3]] if chosen else None)
    assert f"Seq Scan on {Ticket._meta.db_table}" not in plan, plan
    assert "ticket_solved" in plan, plan
    assert "ticket_created_metrics" not in plan, plan
