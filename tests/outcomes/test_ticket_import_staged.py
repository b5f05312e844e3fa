"""The ticket import, staged in PostgreSQL: updates merged with the stored ticket as the API
merges them, every problem of every row named, nothing written on a bad file or a dry run,
idempotent, and a file of thousands of rows against figures worked by hand."""

import datetime as dt
import random

import pytest
from django.db.models import F

from accounts.models import Account
from outcomes import ticket_imports, tickets
from outcomes.models import Ticket, TicketSource
from tests.factories import AccountFactory

pytestmark = pytest.mark.django_db
HEADER = "account,external_id,status,created_at,first_reply_at,first_solved_at,solved_at,"
HEADER += "agent_replies,reopens,channel,assignee\n"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
ACCOUNT_RULE = (
    "account: Use letters, digits and . _ : @ + - only, starting with a letter or a digit."
)


def at(hours: float) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def csv_of(rows: list[list]) -> bytes:
    return (HEADER + "".join(",".join(map(str, row)) + "\n" for row in rows)).encode()


def test_updates_keep_what_a_row_leaves_empty_and_reopen_as_the_api_does():
    first = [
        ["acme", "T1", "solved", at(0).isoformat(), at(1).isoformat(), "", at(2).isoformat(),
         1, 0, "email", "maria"],
        ["acme", "T2", "open", at(0).isoformat(), at(1).isoformat(), "", "", 1, 0, "chat", "joao"],
        ["acme", "T3", "closed", at(0).isoformat(), "", "", at(5).isoformat(), 2, 0, "web", ""],
    ]  # fmt: skip
    assert ticket_imports.import_tickets(source=csv_of(first)).counts == {
        "tickets_created": 3,
        "tickets_updated": 0,
        "tickets_unchanged": 0,
        "accounts_created": 1,
    }
    second = [
        # Reopened: the final solve goes, the first stays; one more reopen.
        ["acme", "T1", "Open", "", "", "", "", 2, 1, "", ""],
        # Only the assignee and the account change.
        ["globex", "T2", "", "", "", "", "", "", "", "", "ana"],
        # The same as stored.
        ["acme", "T3", "closed", at(0).isoformat(), "", "", at(5).isoformat(), 2, 0, "WEB", ""],
        ["globex", "T4", "new", at(3).isoformat(), "", "", "", "", "", "", ""],
    ]
    dry = ticket_imports.import_tickets(source=csv_of(second), dry_run=True)
    expected = {
        "tickets_created": 1,
        "tickets_updated": 2,
        "tickets_unchanged": 1,
        "accounts_created": 1,
    }
    assert dry.ok and not dry.applied and dry.counts == expected
    assert not Account.objects.filter(external_id="globex").exists()
    assert Ticket.objects.get(external_id="T1").status == "solved"
    result = ticket_imports.import_tickets(source=csv_of(second))
    assert result.applied and result.counts == expected
    t1 = Ticket.objects.get(external_id="T1")
    assert (t1.status, t1.solved_at, t1.first_solved_at, t1.first_reply_at) == (
        "open",
        None,
        at(2),
        at(1),
    )
    assert (t1.agent_replies, t1.reopens, t1.channel, t1.assignee) == (2, 1, "email", "maria")
    assert t1.raw["csv_line"] == 2
    t2 = Ticket.objects.get(external_id="T2")
    assert (t2.account.external_id, t2.assignee, t2.status, t2.channel) == (
        "globex",
        "ana",
        "open",
        "chat",
    )
    t3 = Ticket.objects.get(external_id="T3")
    assert t3.raw["csv_line"] == 4  # unchanged: the first import's row stays
    assert Account.objects.get(external_id="globex").name == "globex"
    again = ticket_imports.import_tickets(source=csv_of(second))
    assert again.counts == {
        "tickets_created": 0,
        "tickets_updated": 0,
        "tickets_unchanged": 4,
        "accounts_created": 0,
    }


def test_every_problem_of_every_row_is_named_and_nothing_is_written():
    AccountFactory(external_id="acme")
    ticket_imports.import_tickets(
        source=csv_of([["acme", "T1", "open", at(0).isoformat(), "", "", "", 0, 0, "", ""]])
    )
    rows = [
        ["acme", "T9", "new", at(0).isoformat(), "", "", "", 0, 0, "", ""],  # good
        # Solved with no solve time, against the stored ticket.
        ["acme", "T1", "solved", "", "", "", "", "", "", "", ""],
        # A new account whose id is not usable, and a reply before creation.
        ["new id", "T2", "open", at(5).isoformat(), at(4).isoformat(), "", "", 0, 0, "", ""],
        # A new ticket with no status nor creation time.
        ["acme", "T3", "", "", "", "", "", 1, 0, "", ""],
        ["acme", "T9", "new", at(0).isoformat(), "", "", "", 0, 0, "", ""],  # T9 again
        ["acme", "T4", "pending", "yesterday", "", "", "", "-1", "0", "", ""],  # two cells
        ["new id", "T5", "open", at(1).isoformat(), "", "", "", 0, 0, "", ""],  # the id again
    ]
    result = ticket_imports.import_tickets(source=csv_of(rows))
    assert [(e.line, e.reason) for e in result.errors] == [
        (3, "solved_at: Required when the status is solved or closed."),
        (
            4,
            ACCOUNT_RULE + "; first_reply_at: Before created_at (2026-03-02T14:00:00+00:00).",
        ),
        (
            5,
            "created_at: This field is required for a new ticket.; "
            "status: This field is required for a new ticket.",
        ),
        (6, "Ticket T9 already appears on line 2."),
        (
            7,
            "created_at: Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].; "
            "agent_replies: Ensure this value is greater than or equal to 0.",
        ),
        (8, ACCOUNT_RULE),
    ]
    assert not result.applied
    assert list(Ticket.objects.values_list("external_id", "status")) == [("T1", "open")]
    assert not Account.objects.filter(external_id="new id").exists()


def test_cells_in_other_forms_are_read_as_the_api_reads_them():
    rows = [
        # A date alone is midnight in the import's zone; a status in capitals; an e-mail.
        ["acme", "T1", "SOLVED", "2026-03-02", "", "", "2026-03-02T10:00:00-03:00", "007", "0",
         " Email", ""],
        # The basic ISO form, which the quick check leaves to the serializer.
        ["acme", "T2", "new", "20260302T090000Z", "", "", "", "", "", "", ""],
    ]  # fmt: skip
    result = ticket_imports.import_tickets(source=csv_of(rows))
    assert result.ok, result.errors
    t1 = Ticket.objects.get(external_id="T1")
    assert (t1.status, t1.created_at, t1.solved_at, t1.first_solved_at) == (
        "solved",
        dt.datetime(2026, 3, 2, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 2, 13, tzinfo=dt.UTC),
        dt.datetime(2026, 3, 2, 13, tzinfo=dt.UTC),
    )
    assert (t1.agent_replies, t1.channel) == (7, "email")
    assert Ticket.objects.get(external_id="T2").created_at == T0


def test_a_future_time_and_an_over_long_cell_are_named_by_the_api_rules():
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    rows = [
        ["acme", "T1", "new", future, "", "", "", "", "", "", ""],
        ["acme", "T2", "new", at(0).isoformat(), "", "", "", "", "", "c" * 51, ""],
        ["acme", "T3", "new", at(0).isoformat(), "", "", "", "9" * 10, "", "", ""],
    ]
    result = ticket_imports.import_tickets(source=csv_of(rows))
    assert [(e.line, e.reason) for e in result.errors] == [
        (2, "created_at: The time is in the future."),
        (3, "channel: Ensure this field has no more than 50 characters."),
        (4, "agent_replies: Ensure this value is less than or equal to 2147483647."),
    ]


def test_three_thousand_tickets_then_a_third_changed():
    """3,000 tickets of 30 accounts; ticket n is solved after n % 5 hours (none when n % 5 is
    0: open). Then the same file with every third ticket reopened."""
    AccountFactory(external_id="acc-0")

    def rows(reopen_every: int | None) -> list[list]:
        out = []
        for n in range(3000):
            hours = n % 5
            status, solved = ("solved", at(hours).isoformat()) if hours else ("open", "")
            if reopen_every and n % reopen_every == 0 and hours:
                status, solved = "pending", ""
            out.append([f"acc-{n % 30}", f"T{n}", status, at(0).isoformat(), "", "", solved,
                        n % 4, 0, "email", ""])  # fmt: skip
        return out

    seen = []
    result = ticket_imports.import_tickets(source=csv_of(rows(None)), progress=seen.append)
    assert seen == [3000]
    assert result.counts == {
        "tickets_created": 3000,
        "tickets_updated": 0,
        "tickets_unchanged": 0,
        "accounts_created": 29,
    }
    # 600 tickets open (n % 5 == 0); 2,400 solved, first solve = final solve.
    assert Ticket.objects.filter(status="open", solved_at=None).count() == 600
    solved = Ticket.objects.filter(status="solved")
    assert solved.count() == 2400
    assert not solved.exclude(first_solved_at=F("solved_at")).exists()
    assert Ticket.objects.get(external_id="T7").solved_at == at(2)
    # Every third ticket reopened: n % 3 == 0 and n % 5 != 0, i.e. 1,000 - 200 = 800 tickets.
    again = ticket_imports.import_tickets(source=csv_of(rows(3)))
    assert again.counts == {
        "tickets_created": 0,
        "tickets_updated": 800,
        "tickets_unchanged": 2200,
        "accounts_created": 0,
    }
    t3 = Ticket.objects.get(external_id="T3")
    assert (t3.status, t3.solved_at, t3.first_solved_at) == ("pending", None, at(3))
    assert Account.objects.get(external_id="acc-7").tickets.count() == 100


def test_imports_merge_like_the_api_over_random_updates():
    """Random partial updates of 60 tickets over four rounds, written once by the API's path
    (`tickets.record_tickets`) and once by the import: the same problems and the same tickets."""
    rng = random.Random(19)
    statuses = ["new", "open", "pending", "solved", "closed"]

    def random_item(external_id: str, new: bool) -> dict:
        values = {}
        if new or rng.random() < 0.5:
            values["status"] = rng.choice(statuses)
        if new or rng.random() < 0.2:
            values["created_at"] = at(rng.randrange(0, 4))
        for name in ("first_reply_at", "first_solved_at", "solved_at"):
            if rng.random() < 0.4:
                values[name] = at(rng.randrange(0, 12))
        for name in ("agent_replies", "reopens"):
            if rng.random() < 0.5:
                values[name] = rng.randrange(0, 5)
        if rng.random() < 0.3:
            values["channel"] = rng.choice(["email", "chat"])
        return values

    def as_row(account: str, external_id: str, values: dict) -> list:
        cells = []
        for name in HEADER.strip().split(",")[2:]:
            value = values.get(name, "")
            cells.append(value.isoformat() if isinstance(value, dt.datetime) else value)
        return [account, external_id, *cells]

    known: set[str] = set()
    for _round in range(4):
        items = []
        for n in range(60):
            external_id = f"T{n}"
            account = rng.choice(["acme", "globex"])
            items.append((account, external_id, random_item(external_id, external_id not in known)))
        while items:
            inputs = [tickets.TicketInput(account=a, external_id=e, values=v) for a, e, v in items]
            expected = tickets.check_tickets(tickets=inputs, source=TicketSource.API)
            result = ticket_imports.import_tickets(
                source=csv_of([as_row(a, e, v) for a, e, v in items])
            )
            assert {error.line - 2: error.reason for error in result.errors} == {
                index: ticket_imports.reasons(errors) for index, errors in expected.items()
            }
            if not expected:
                written = tickets.record_tickets(tickets=inputs, source=TicketSource.API)
                assert result.counts["tickets_created"] == len(written.created)
                assert result.counts["tickets_updated"] == len(written.updated)
                break
            items = [item for index, item in enumerate(items) if index not in expected]
        known.update(e for _a, e, _v in items)
        for ticket in Ticket.objects.filter(source=TicketSource.API):
            imported = Ticket.objects.get(source=TicketSource.CSV, external_id=ticket.external_id)
            for name in (*tickets.TICKET_FIELDS, "account_id"):
                assert getattr(imported, name) == getattr(ticket, name), (ticket, name)
    # (A new ticket refused in every round is never written.)
    assert Ticket.objects.filter(source=TicketSource.CSV).count() == 52
    assert Ticket.objects.filter(source=TicketSource.API).count() == 52
