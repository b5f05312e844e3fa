"""Every path that finds one contact by email reads the contacts' unique index, never the table.

Each path runs for real against PostgreSQL with a few thousand contacts (statistics gathered),
its statements are captured, and each one that reads `accounts_contact` is EXPLAINed: the plan
must not contain a sequential scan of the contacts table.
"""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import Contact
from accounts.roles import CS_STAFF
from surveys.distribution import events
from surveys.imports import import_responses
from tests.factories import InvitationFactory, StaffFactory, SurveyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def contacts():
    Contact.objects.bulk_create(
        Contact(email=f"Person{n}@Example.com", name=f"Person {n}") for n in range(4000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE accounts_contact")
    return Contact.objects.get(email="Person1234@Example.com")


def _email_lookup_plans(queries) -> list[str]:
    """EXPLAIN of each captured statement that compares a contact's email."""
    plans = []
    with connection.cursor() as cursor:
        for query in queries:
            sql = query["sql"]
            if 'UPPER("accounts_contact"."email"' not in sql:
                continue
            cursor.execute(f"EXPLAIN {sql}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))
    return plans


def _assert_index_reads(queries) -> None:
    plans = _email_lookup_plans(queries)
    assert plans, "no statement looked a contact up by email"
    for plan in plans:
        assert "Seq Scan on accounts_contact" not in plan, plan
        assert "contact_email_ci_unique" in plan, plan


def test_the_api_trigger_finds_the_contact_through_the_index(contacts):
    with CaptureQueriesContext(connection) as captured:
        found = account_services.upsert_contact(email="PERSON1234@example.COM", name="P")
    assert found.pk == contacts.pk
    _assert_index_reads(captured.captured_queries)


def test_bounce_events_find_the_contact_through_the_index(contacts):
    InvitationFactory(contact=contacts)
    with CaptureQueriesContext(connection) as captured:
        changed = events.record_delivery_event(
            event_type="bounced", recipient="person1234@EXAMPLE.com"
        )
    assert changed == 1
    _assert_index_reads(captured.captured_queries)


def test_data_requests_find_the_contact_through_the_index(contacts):
    token, _ = Token.objects.get_or_create(user=StaffFactory(username="cs", role=CS_STAFF))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    with CaptureQueriesContext(connection) as captured:
        answer = api.post(
            "/api/v1/contacts/data", {"email": "PERSON1234@example.com"}, format="json"
        )
    assert answer.status_code == 200
    assert answer.json()["contact"]["email"] == "Person1234@Example.com"
    _assert_index_reads(captured.captured_queries)


def test_the_response_import_looks_contacts_up_in_one_statement_not_one_per_row(contacts):
    """The import matches every row's email with one join on upper(email) (a hash join over
    the file's rows), so its statements do not grow with the number of rows."""
    SurveyFactory(slug="nps")

    def statements(rows: int) -> int:
        lines = [f"person{n}@example.com,nps,9,2024-05-01T10:{n % 60:02d}:00" for n in range(rows)]
        source = "email,survey,score,date\n" + "\n".join(lines) + "\n"
        with CaptureQueriesContext(connection) as captured:
            result = import_responses(source=source, tz="UTC", dry_run=True)
        assert result.ok and result.counts["created"] == rows
        assert result.counts["contacts_created"] == 0
        return len(captured.captured_queries)

    assert statements(1) == statements(50)
