"""The responses' and invitations' admin lists stay cheap on big tables: searches read indexes,
counts stop at a cap, and no date hierarchy reads every row."""

import re
import uuid

import pytest
from django.contrib import admin
from django.contrib.admin.sites import site
from django.contrib.admin.utils import display_for_value
from django.db import connection
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.utils import translation

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


LISTS = [
    ("/admin/surveys/response/", {}),
    ("/admin/surveys/response/", {"q": "northwind"}),
    ("/admin/surveys/response/", {"q": "slow"}),
    ("/admin/surveys/invitation/", {}),
    ("/admin/surveys/invitation/", {"q": "northwind"}),
]


def _statements(client, path, params):
    with CaptureQueriesContext(connection) as captured:
        page = client.get(path, params)
    assert page.status_code == 200
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize(("path", "params"), LISTS)
def test_changelist_queries_do_not_grow_with_the_rows_shown(staff_client, path, params):
    """One row or a full page: the same statements (no query per row for its survey, contact
    or account)."""
    ana = ContactFactory(email="ana@northwind.example")
    ResponseFactory(contact=ana, invitation=InvitationFactory(contact=ana), comment="slow")
    one_row = _statements(staff_client, path, params)

    for _index in range(admin_big_tables.LIST_PER_PAGE + 1):
        other = ContactFactory(email=f"ana{_index}@northwind.example", account=AccountFactory())
        ResponseFactory(
            contact=other,
            account=other.account,
            invitation=InvitationFactory(contact=other),
            comment="slow again",
        )
    page = staff_client.get(path, params)
    assert len(page.context["cl"].result_list) == admin_big_tables.LIST_PER_PAGE
    assert len(_statements(staff_client, path, params)) == len(one_row)


def test_a_page_shows_twenty_five_rows_and_links_the_next(staff_client):
    ResponseFactory.create_batch(26)
    first = staff_client.get("/admin/surveys/response/")
    assert len(first.context["cl"].result_list) == 25
    assert first.context["cl"].multi_page is True
    second = staff_client.get("/admin/surveys/response/", {"p": "2"})
    assert len(second.context["cl"].result_list) == 1


@pytest.mark.parametrize("model", [Response, Invitation])
def test_row_checkbox_is_the_admins_own(model):
    """The checkbox written directly is the input Django's widget renders, translated too."""
    row = ResponseFactory() if model is Response else InvitationFactory()
    model_admin = site._registry[model]
    ours = model_admin.action_checkbox(row)
    assert ours == admin.ModelAdmin.action_checkbox(model_admin, row)
    assert f'value="{row.pk}"' in ours
    with translation.override("pt-br"):
        assert model_admin.action_checkbox(row) == admin.ModelAdmin.action_checkbox(
            model_admin, row
        )


# Tables the searches must reach through an index: the big ones and the people and accounts
# a term is looked up in first.
SEARCHED_TABLES = ["surveys_response", "surveys_invitation", "accounts_contact", "accounts_account"]


@pytest.mark.parametrize(("path", "params"), [p for p in LISTS if p[1]])
def test_every_statement_of_a_search_can_be_answered_from_indexes(staff_client, path, params):
    """Each statement the searched page runs, planned with sequential scans priced out: a plan
    that still reads one of these tables whole means no index answers it."""
    ana = ContactFactory(email="ana@northwind.example", account=AccountFactory(name="Northwind"))
    ResponseFactory(contact=ana, invitation=InvitationFactory(contact=ana), comment="slow")
    statements = _statements(staff_client, path, params)
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        for sql in statements:
            if not sql.startswith("SELECT"):
                continue
            cursor.execute(f"EXPLAIN {sql}")
            plan = "\n".join(row[0] for row in cursor.fetchall())
            scanned = [t for t in SEARCHED_TABLES if re.search(rf"Seq Scan on {t}\b", plan)]
            assert scanned == [], (sql, plan)


@pytest.mark.parametrize("field_name", ["suspected_bot", "quarantined", "excluded"])
def test_yes_no_columns_look_like_the_admins_own(staff_client, field_name):
    row = ResponseFactory(**{field_name: True})
    column = admin_big_tables.icon_column(Response, field_name)
    assert column(row) == display_for_value(True, "-", boolean=True)
    assert column(ResponseFactory()) == display_for_value(False, "-", boolean=True)
    page = staff_client.get("/admin/surveys/response/").content.decode()
    assert f'<td class="field-{field_name}">{column(row)}</td>' in page
    assert f'<th scope="col" class="sortable column-{field_name}">' in page


@pytest.mark.parametrize(
    ("path", "unread"),
    [
        ("/admin/surveys/response/", ["bot_signals", "question_translations", "properties"]),
        ("/admin/surveys/invitation/", ["link_fetches", "question_translations", "properties"]),
    ],
)
def test_the_page_reads_only_the_columns_it_shows(staff_client, path, unread):
    ResponseFactory()
    statements = _statements(staff_client, path, {})
    [page] = [sql for sql in statements if f"LIMIT {admin_big_tables.LIST_PER_PAGE}" in sql]
    assert [column for column in unread if f'."{column}"' in page] == []
