"""The responses' and invitations' admin lists stay cheap on big tables: searches read indexes,
counts stop at a cap, and no date hierarchy reads every row."""

import uuid

import pytest
from django.contrib.admin.sites import site
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext

from accounts.roles import CS_STAFF
from surveys import admin_big_tables
from surveys.models import Invitation, Response
from tests.factories import (
    AccountFactory,
    ContactFactory,
    InvitationFactory,
    ResponseFactory,
)

pytestmark = [pytest.mark.django_db, pytest.mark.role(CS_STAFF)]


def _search(model, term):
    model_admin = site._registry[model]
    request = RequestFactory().get("/", {"q": term})
    queryset, may_have_duplicates = model_admin.get_search_results(
        request, model.objects.all(), term
    )
    assert may_have_duplicates is False
    return queryset


def test_response_search_matches_email_comment_or_account_name():
    ana = ContactFactory(email="ana@northwind.example")
    acme = AccountFactory(name="Acme Widgets")
    by_email = ResponseFactory(contact=ana, comment="")
    by_comment = ResponseFactory(comment="The export is SLOW on Mondays")
    by_account = ResponseFactory(account=acme, comment="")
    ResponseFactory(comment="all good")

    assert set(_search(Response, "northwind")) == {by_email}
    assert set(_search(Response, "slow")) == {by_comment}
    assert set(_search(Response, "widgets")) == {by_account}
    assert set(_search(Response, "slow mondays")) == {by_comment}
    assert set(_search(Response, "slow tuesdays")) == set()


def test_invitation_search_matches_email_event_or_id():
    ana = ContactFactory(email="ana@northwind.example")
    by_email = InvitationFactory(contact=ana)
    by_event = InvitationFactory(event_id="ticket-981")
    other = InvitationFactory(event_id="ticket-982")

    assert set(_search(Invitation, "NORTHWIND")) == {by_email}
    assert set(_search(Invitation, "ticket-981")) == {by_event}
    assert set(_search(Invitation, str(other.public_id))) == {other}
    assert set(_search(Invitation, str(uuid.uuid4()))) == set()


@pytest.mark.parametrize(("model", "term"), [(Response, "slow"), (Invitation, "ticket-981")])
def test_searches_can_be_answered_from_indexes(model, term):
    """With sequential scans priced out, a plan that still reads the big table whole means
    no index can answer the search."""
    queryset = _search(model, term)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = queryset.explain()
    assert f"Seq Scan on {model._meta.db_table}" not in plan, plan


def test_changelists_count_up_to_the_cap(staff_client, monkeypatch):
    monkeypatch.setattr(admin_big_tables, "COUNT_CAP", 3)
    ResponseFactory.create_batch(5)
    page = staff_client.get("/admin/surveys/response/")
    assert page.status_code == 200
    assert page.context["cl"].result_count == 3
    assert staff_client.get("/admin/surveys/invitation/").status_code == 200
    assert staff_client.get("/admin/surveys/response/", {"q": "x"}).status_code == 200


def test_response_list_reads_no_distinct_values_of_the_big_table(staff_client):
    """Each statement of the page is either the capped count, the page itself or a small
    table's read: none lists the distinct values of a response column."""
    promoter = ResponseFactory(score=10, category=1)
    ResponseFactory(score=0, category=-1)
    with CaptureQueriesContext(connection) as captured:
        page = staff_client.get("/admin/surveys/response/")
    assert page.status_code == 200
    distinct = [
        q["sql"]
        for q in captured.captured_queries
        if "DISTINCT" in q["sql"] and 'FROM "surveys_response"' in q["sql"]
    ]
    assert distinct == []
    filtered = staff_client.get("/admin/surveys/response/", {"category": "1"})
    assert list(filtered.context["cl"].result_list) == [promoter]
