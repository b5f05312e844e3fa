"""A ticket's `plan` is its account's current plan ('' without one), whatever writes the ticket
or the account: the ORM, bulk writes, raw SQL, a cascade, two transactions at once
(outcomes.ticket_plan); and the support report's plan breakdown, which reads it, by hand."""

from __future__ import annotations

import datetime as dt
import threading
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, transaction
from django.db.models import Case, Value, When
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from accounts.models import Account
from metrics import support_selectors as sel
from outcomes import ticket_imports, ticket_plan, zendesk_inbox
from outcomes.models import Ticket
from tests.factories import AccountFactory, TicketFactory
from tests.metrics.beside import in_thread

T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
RAW_INSERT = (
    "INSERT INTO outcomes_ticket (account_id, source, external_id, subject, channel, "
    "requester_email, assignee, organization, status, created_at, agent_replies, reopens, "
    "raw, recorded_at, updated_at{plan}) VALUES (%s, 'api', %s, '', '', '', '', '', 'open', "
    "%s, 0, 0, '{{}}', now(), now(){value})"
)


def raw_insert(cursor, account_id: int | None, external_id: str, plan: str | None = None):
    """A ticket inserted by SQL of its own, naming no plan or the plan given."""
    sql = RAW_INSERT.format(
        plan="" if plan is None else ", plan", value="" if plan is None else ", %s"
    )
    params = [account_id, external_id, T0] + ([] if plan is None else [plan])
    cursor.execute(sql, params)


def plans() -> dict[str, str]:
    """{external id: plan} of every ticket, as stored."""
    return dict(Ticket.objects.values_list("external_id", "plan"))


def stale() -> list[str]:
    """The tickets whose plan is not their account's ('' without one), by a join."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT t.external_id FROM outcomes_ticket t "
            "LEFT JOIN accounts_account a ON a.id = t.account_id "
            "WHERE t.plan IS DISTINCT FROM COALESCE(a.plan, '') ORDER BY 1"
        )
        return [row[0] for row in cursor.fetchall()]


def new_ticket(external_id: str, account: Account | None) -> Ticket:
    return Ticket(
        account=account, source="api", external_id=external_id, status="open", created_at=T0
    )


def test_the_table_names_are_the_models():
    assert (ticket_plan.TICKETS, ticket_plan.ACCOUNTS) == ("outcomes_ticket", "accounts_account")


@pytest.mark.django_db
def test_a_new_ticket_gets_its_accounts_plan_by_every_insert():
    acme = AccountFactory(plan="Enterprise")
    globex = AccountFactory(plan="Starter")

    new_ticket("orm", acme).save()
    Ticket.objects.create(
        account=globex, source="api", external_id="create", status="open", created_at=T0
    )
    Ticket.objects.bulk_create([new_ticket("bulk-1", globex), new_ticket("bulk-2", acme)])
    with connection.cursor() as cursor:
        raw_insert(cursor, globex.pk, "raw")
        raw_insert(cursor, acme.pk, "raw-wrong", plan="Free")
        raw_insert(cursor, None, "raw-none", plan="Free")
    new_ticket("none", None).save()

    assert plans() == {
        "orm": "Enterprise",
        "create": "Starter",
        "bulk-1": "Starter",
        "bulk-2": "Enterprise",
        "raw": "Starter",
        "raw-wrong": "Enterprise",
        "raw-none": "",
        "none": "",
    }


@pytest.mark.django_db
def test_a_plan_change_reaches_that_accounts_tickets_only():
    acme = AccountFactory(plan="Enterprise")
    globex = AccountFactory(plan="Starter")
    initech = AccountFactory(plan="Starter")
    TicketFactory(account=acme, external_id="a1")
    TicketFactory(account=acme, external_id="a2")
    TicketFactory(account=globex, external_id="g1")
    TicketFactory(account=initech, external_id="i1")
    TicketFactory(account=None, external_id="n1")

    acme.plan = "Growth"
    acme.save()
    assert plans() == {"a1": "Growth", "a2": "Growth", "g1": "Starter", "i1": "Starter", "n1": ""}

    # Several accounts in one statement; initech's plan is written but unchanged.
    changed = Account.objects.filter(pk__in=[acme.pk, globex.pk, initech.pk]).update(
        plan=Case(When(pk=initech.pk, then=Value("Starter")), default=Value("Scale"))
    )
    assert changed == 3
    assert plans() == {"a1": "Scale", "a2": "Scale", "g1": "Scale", "i1": "Starter", "n1": ""}

    # Another column of an account leaves its tickets as they were.
    before = dict(Ticket.objects.values_list("external_id", "updated_at"))
    Account.objects.filter(pk=acme.pk).update(name="Acme Corp")
    assert dict(Ticket.objects.values_list("external_id", "updated_at")) == before
    assert stale() == []


@pytest.mark.django_db
def test_an_account_write_that_keeps_the_plan_writes_no_ticket():
    acme = AccountFactory(plan="Enterprise")
    TicketFactory(account=acme, external_id="a1")
    TicketFactory(account=acme, external_id="a2")

    def versions():
        # A row's ctid changes with every write of it (a new row version).
        with connection.cursor() as cursor:
            cursor.execute("SELECT external_id, ctid::text FROM outcomes_ticket")
            return dict(cursor.fetchall())

    before = versions()
    acme.name = "Acme Corp"
    acme.save()  # writes every column, the plan with its own value
    Account.objects.filter(pk=acme.pk).update(plan="Enterprise")
    assert versions() == before
    Account.objects.filter(pk=acme.pk).update(plan="Growth")
    assert set(versions().values()).isdisjoint(before.values())


@pytest.mark.django_db
def test_a_moved_ticket_takes_its_new_accounts_plan():
    acme = AccountFactory(plan="Enterprise")
    globex = AccountFactory(plan="Starter")
    moved = TicketFactory(account=acme, external_id="moved")
    TicketFactory(account=acme, external_id="stays")
    bulk = TicketFactory(account=acme, external_id="bulk")
    unassigned = TicketFactory(account=acme, external_id="unassigned")

    moved.account = globex
    moved.save()
    Ticket.objects.filter(pk=bulk.pk).update(account=globex)
    Ticket.objects.filter(pk=unassigned.pk).update(account=None)
    Ticket.objects.bulk_update([Ticket(pk=unassigned.pk, account=acme)], ["account"])

    assert plans() == {
        "moved": "Starter",
        "stays": "Enterprise",
        "bulk": "Starter",
        "unassigned": "Enterprise",
    }


@pytest.mark.django_db
def test_a_wrong_plan_written_directly_is_corrected():
    acme = AccountFactory(plan="Enterprise")
    TicketFactory(account=acme, external_id="a1")
    TicketFactory(account=None, external_id="n1")

    assert Ticket.objects.update(plan="x") == 2
    assert plans() == {"a1": "Enterprise", "n1": ""}

    # A stale instance saved after its account's plan changed writes the new plan.
    kept = Ticket.objects.get(external_id="a1")
    Account.objects.filter(pk=acme.pk).update(plan="Growth")
    kept.subject = "Printer on fire"
    kept.save()
    assert kept.plan == "Enterprise"  # the instance is not refreshed ...
    assert plans() == {"a1": "Growth", "n1": ""}  # ... the row is right


@pytest.mark.django_db
def test_deleting_an_account_deletes_its_tickets_and_leaves_the_others_right():
    acme = AccountFactory(plan="Enterprise")
    globex = AccountFactory(plan="Starter")
    TicketFactory(account=acme, external_id="a1")
    TicketFactory(account=globex, external_id="g1")
    TicketFactory(account=None, external_id="n1")

    acme.delete()  # Ticket.account is on_delete=CASCADE
    Account.objects.filter(pk=globex.pk).update(plan="Growth")

    assert plans() == {"g1": "Growth", "n1": ""}
    assert stale() == []


@pytest.mark.django_db
def test_a_ticket_written_before_its_account_in_one_transaction():
    """The foreign key is checked at commit: a ticket may name an account inserted later in
    the same transaction, and gets its plan then."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence('accounts_account', 'id'))")
        account_id = cursor.fetchone()[0]
        raw_insert(cursor, account_id, "early")
        AccountFactory(pk=account_id, plan="Enterprise")
    assert plans() == {"early": "Enterprise"}


@pytest.mark.django_db
def test_the_csv_import_and_the_zendesk_mapping_write_the_plans():
    AccountFactory(external_id="acme", plan="Enterprise")
    globex = AccountFactory(external_id="globex", plan="Starter")
    header = "account,external_id,status,created_at\n"
    created = T0.isoformat()
    ticket_imports.import_tickets(
        source=f"{header}acme,C1,open,{created}\nnewco,C2,open,{created}\n".encode()
    )
    # newco is created by the import, with no plan.
    assert plans() == {"C1": "Enterprise", "C2": ""}
    ticket_imports.import_tickets(source=f"{header}globex,C1,open,{created}\n".encode())
    assert plans() == {"C1": "Starter", "C2": ""}

    TicketFactory(account=None, source="zendesk", external_id="Z1", organization="org-1")
    assert zendesk_inbox.map_organization(organization_id="org-1", account=globex) == 1
    assert plans() == {"C1": "Starter", "C2": "", "Z1": "Starter"}
    assert zendesk_inbox.map_organization(organization_id="org-1", account=None) == 1
    assert plans() == {"C1": "Starter", "C2": "", "Z1": ""}


@pytest.mark.django_db
def test_the_support_reports_plan_breakdown_by_hand():
    """Acme (Enterprise): 3 tickets in March, 2 solved; Globex (Starter): 2 tickets, 1
    solved; one ticket without account; one Acme ticket in February, outside the period.
    By hand: Enterprise 3 created / 2 solved, Starter 2 / 1, '' 1 / 0; total 6 / 3. After
    Globex moves to Enterprise: Enterprise 5 / 3, '' 1 / 0; the plan filter agrees."""
    acme = AccountFactory(plan="Enterprise")
    globex = AccountFactory(plan="Starter")
    TicketFactory(account=acme, created_at=T0, solved=60)
    TicketFactory(account=acme, created_at=T0, solved=30, channel="chat")
    TicketFactory(account=acme, created_at=T0 + dt.timedelta(days=3))
    TicketFactory(account=acme, created_at=T0 - dt.timedelta(days=20), solved=10)
    TicketFactory(account=globex, created_at=T0, solved=15)
    TicketFactory(account=globex, created_at=T0 + dt.timedelta(days=1), channel="chat")
    TicketFactory(account=None, created_at=T0)
    march = {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 4, 1), "tz": ZoneInfo("UTC")}

    def by_plan():
        report = sel.support_report(filters=sel.SupportFilters(**march))
        return report.summary.created, [(key, s.created, s.solved) for key, s in report.by["plan"]]

    assert by_plan() == (6, [("Enterprise", 3, 2), ("Starter", 2, 1), ("", 1, 0)])
    enterprise = sel.support_summary(filters=sel.SupportFilters(**march, plan="Enterprise"))
    assert (enterprise.created, enterprise.solved) == (3, 2)

    globex.plan = "Enterprise"
    globex.save()
    assert by_plan() == (6, [("Enterprise", 5, 3), ("", 1, 0)])
    enterprise = sel.support_summary(filters=sel.SupportFilters(**march, plan="Enterprise"))
    assert (enterprise.created, enterprise.solved) == (5, 3)
    starter = sel.support_summary(filters=sel.SupportFilters(**march, plan="Starter"))
    assert starter.created == 0


# --- Two transactions at once ---------------------------------------------------------------


def _held_open(work):
    """Run `work` in a transaction on its own connection and keep that transaction open until
    `finish` is set. Returns, once `work` has run, the thread, its errors and `finish`."""
    done, finish = threading.Event(), threading.Event()

    def run():
        with transaction.atomic():
            work()
            done.set()
            finish.wait(20)

    thread, errors = in_thread(run)
    assert done.wait(20)
    return thread, errors, finish


@pytest.mark.django_db(transaction=True)
def test_a_plan_change_waits_for_a_ticket_being_written_to_its_account():
    acme = AccountFactory(plan="Enterprise")
    writer, writer_errors, finish = _held_open(lambda: new_ticket("t1", acme).save())
    changer, changer_errors = in_thread(
        lambda: Account.objects.filter(pk=acme.pk).update(plan="Growth")
    )
    changer.join(0.5)
    assert changer.is_alive()  # it waits for the ticket's transaction
    finish.set()
    writer.join(20)
    changer.join(20)
    assert (writer_errors, changer_errors) == ([], [])
    assert plans() == {"t1": "Growth"}


@pytest.mark.django_db(transaction=True)
def test_a_ticket_written_during_a_plan_change_gets_the_new_plan():
    acme = AccountFactory(plan="Enterprise")
    changer, changer_errors, finish = _held_open(
        lambda: Account.objects.filter(pk=acme.pk).update(plan="Growth")
    )
    writer, writer_errors = in_thread(lambda: new_ticket("t1", acme).save())
    writer.join(0.5)
    assert writer.is_alive()  # it waits for the plan change
    finish.set()
    changer.join(20)
    writer.join(20)
    assert (writer_errors, changer_errors) == ([], [])
    assert plans() == {"t1": "Growth"}


@pytest.mark.django_db(transaction=True)
def test_ordinary_account_updates_do_not_wait_for_ticket_writes():
    acme = AccountFactory(plan="Enterprise")
    writer, writer_errors, finish = _held_open(lambda: new_ticket("t1", acme).save())
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
        assert Account.objects.filter(pk=acme.pk).update(name="Acme Corp") == 1
    finally:
        finish.set()
        writer.join(20)
    assert writer_errors == []
    assert plans() == {"t1": "Enterprise"}


# --- Any sequence of writes -----------------------------------------------------------------

writes = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "create",
                "bulk_create",
                "raw_insert",
                "move",
                "unassign",
                "set_plan",
                "plan_many",
                "write_plan",
                "delete_account",
                "new_account",
            ]
        ),
        st.integers(0, 5),
        st.sampled_from(["", "Starter", "Growth", "x"]),
    ),
    max_size=25,
)


class TestAnySequenceOfWrites(TestCase):
    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(writes)
    def test_every_ticket_has_its_accounts_plan_after_any_writes(self, steps):
        accounts = [AccountFactory(plan=plan) for plan in ("Starter", "Growth", "")]
        count = 0

        def account(index: int) -> Account | None:
            live = list(Account.objects.order_by("pk"))
            return live[index % len(live)] if live and index < 5 else None

        def one_ticket(index: int) -> Ticket | None:
            live = list(Ticket.objects.order_by("pk"))
            return live[index % len(live)] if live else None

        for action, index, plan in steps:
            count += 1
            name = f"T{count}"
            if action == "create":
                new_ticket(name, account(index)).save()
            elif action == "bulk_create":
                Ticket.objects.bulk_create(
                    [new_ticket(f"{name}a", account(index)), new_ticket(f"{name}b", None)]
                )
            elif action == "raw_insert":
                target = account(index)
                with connection.cursor() as cursor:
                    raw_insert(cursor, target and target.pk, name, plan=plan)
            elif action in ("move", "unassign") and (chosen := one_ticket(index)):
                chosen.account = account(index + 1) if action == "move" else None
                chosen.save()
            elif action == "set_plan" and (target := account(index)):
                target.plan = plan
                target.save()
            elif action == "plan_many":
                Account.objects.filter(pk__in=[a.pk for a in accounts[: index % 4]]).update(
                    plan=plan
                )
            elif action == "write_plan":
                Ticket.objects.filter(pk__gte=index).update(plan=plan)
            elif action == "delete_account" and (target := account(index)):
                target.delete()
            elif action == "new_account":
                accounts.append(AccountFactory(plan=plan))

        assert stale() == []


def _triggers_on() -> dict[str, bool]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgname, tgenabled <> 'D' FROM pg_trigger "
            "WHERE tgrelid = 'outcomes_ticket'::regclass AND NOT tgisinternal"
        )
        return dict(cursor.fetchall())


@pytest.mark.django_db
def test_the_migrations_backfill_gives_stored_tickets_their_plans():
    acme = AccountFactory(plan="Enterprise")
    free = AccountFactory(plan="")
    TicketFactory(account=acme, external_id="a1")
    TicketFactory(account=free, external_id="f1")
    TicketFactory(account=None, external_id="n1")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no foreign key check left pending
        # As the column starts: '' on every ticket (written with the row trigger off).
        cursor.execute("ALTER TABLE outcomes_ticket DISABLE TRIGGER outcomes_ticket_plan_row")
        cursor.execute("UPDATE outcomes_ticket SET plan = ''")
        cursor.execute("ALTER TABLE outcomes_ticket ENABLE TRIGGER outcomes_ticket_plan_row")
        assert plans() == {"a1": "", "f1": "", "n1": ""}
        # One trigger off before the backfill stays off after it; the others are on again.
        cursor.execute("ALTER TABLE outcomes_ticket DISABLE TRIGGER metrics_ticket_rollup_delete")
        before = _triggers_on()
        cursor.execute(ticket_plan.backfill_with_triggers_off_sql())
        assert _triggers_on() == before
        assert before["outcomes_ticket_plan_row"] is True
        assert before["metrics_ticket_rollup_delete"] is False
    assert plans() == {"a1": "Enterprise", "f1": "", "n1": ""}
