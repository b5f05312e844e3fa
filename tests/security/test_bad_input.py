"""Bad input gets a clear error naming the field, never a 500, and loses nothing stored:
D6 (account ids with "/"), D7 (five causes of 500s), D8/D9 (import and answer crashes) and
D11 (export -> import is lossless)."""

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import imports as contact_imports
from accounts.models import Account, Contact
from accounts.roles import ADMINISTRATORS, CS_STAFF, MARKETING
from metrics import selectors
from metrics.exports import columns, files
from surveys import imports as response_imports
from surveys.models import Campaign, Invitation, Response
from tests.factories import (
    AccountFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.django_db


def api(role: str) -> APIClient:
    client = APIClient()
    user = StaffFactory(username=f"api-{role}".replace(" ", "-"), role=role)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


# --- D6: account ids ------------------------------------------------------------------------


def test_an_existing_account_id_with_a_slash_keeps_every_page_working(client):
    account = Account.objects.create(external_id="acme/eu", name="Acme EU")  # stored long ago
    ResponseFactory(
        invitation__contact__account=account, invitation__survey=SurveyFactory(), score=3
    )
    client.force_login(StaffFactory(role=MARKETING))
    listing = client.get("/reports/accounts/")
    assert listing.status_code == 200
    assert 'href="/reports/accounts/acme/eu/"' in listing.content.decode()
    page = client.get("/reports/accounts/acme/eu/")
    assert page.status_code == 200
    assert "Acme EU" in page.content.decode()
    scores = api(MARKETING).get("/api/v1/accounts/acme/eu/scores")
    assert scores.status_code == 200
    assert scores.json()["account"]["external_id"] == "acme/eu"


@pytest.mark.parametrize("bad", ["acme/eu", "acme eu", "acme?x=1", "#acme", "-acme", "a\x00"])
def test_account_ids_are_checked_on_every_write_path(admin_client, bad):
    survey = SurveyFactory(slug="rel")
    reply = api(CS_STAFF).post(
        "/api/v1/invitations",
        {"survey": "rel", "contact": {"email": "ana@example.com"}, "account": {"external_id": bad}},
        format="json",
    )
    assert reply.status_code == 400
    assert "external_id" in reply.json()["account"]
    result = contact_imports.import_contacts(source=f"email,external_id\nana@example.com,{bad}\n")
    assert len(result.errors) == 1 and result.errors[0].line == 2
    assert "external_id" in result.errors[0].reason or "NUL" in result.errors[0].reason
    form = admin_client.post(
        "/admin/accounts/account/add/",
        {
            "name": "Acme",
            "external_id": bad,
            "status": "active",
            "mrr": "0",
            "currency": "USD",
            "contacts-TOTAL_FORMS": "0",
            "contacts-INITIAL_FORMS": "0",
        },
    )
    assert form.status_code == 200
    assert not Account.objects.exists() and not Contact.objects.exists()
    assert not Invitation.objects.filter(survey=survey).exists()


def test_good_account_ids_are_accepted():
    for good in ("acme-1", "cus_N0x", "0012A00001xyz", "ana@example.com", "org:42", "a.b+c"):
        result = contact_imports.import_contacts(source=f"external_id\n{good}\n")
        assert result.ok, result.errors
    assert Account.objects.count() == 6


# --- D7: five causes of 500s ----------------------------------------------------------------

NOT_A_UUID = "-" * 36


@pytest.mark.parametrize(
    ("role", "path"),
    [
        (CS_STAFF, f"/api/v1/responses/{NOT_A_UUID}/followup"),
        (CS_STAFF, f"/api/v1/responses/{NOT_A_UUID}/followup/notes"),
        (MARKETING, f"/api/v1/exports/{NOT_A_UUID}"),
        (MARKETING, f"/api/v1/exports/{NOT_A_UUID}/file"),
        (CS_STAFF, f"/api/v1/invitations/{NOT_A_UUID}"),
    ],
)
def test_a_36_character_non_uuid_id_is_a_400(role, path):
    reply = api(role).get(path)
    assert reply.status_code == 400
    assert list(reply.json()) == ["id"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=99999999999999999999", "limit"),
        ("limit=0", "limit"),
        ("limit=ten", "limit"),
        ("offset=99999999999999999999", "offset"),
        ("offset=-1", "offset"),
    ],
)
def test_pagination_parameters_are_bounded(query, field):
    SurveyFactory()
    reply = api(MARKETING).get(f"/api/v1/surveys?{query}")
    assert reply.status_code == 400
    assert list(reply.json()) == [field]


def test_the_largest_page_is_served():
    SurveyFactory.create_batch(3)
    reply = api(MARKETING).get("/api/v1/surveys?limit=1000&offset=1")
    assert reply.status_code == 200
    assert len(reply.json()["results"]) == 2


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("start=0001-01-01&tz=Asia/Tokyo", "start"),
        ("end=9999-12-31", "end"),
        ("start=0001-06-01&end=0001-12-31&compare=previous", "start"),
        ("start=1900-01-01&end=1900-06-30&compare=previous", "compare"),
        ("start=1900-02-01&end=1900-06-30&compare=previous_year", "compare"),
    ],
)
def test_dates_out_of_range_are_a_400(query, field):
    SurveyFactory(slug="rel")
    client = api(MARKETING)
    summary = client.get(f"/api/v1/metrics/summary?survey=rel&{query}")
    assert summary.status_code == 400
    assert field in summary.json()
    if field != "compare":
        for path in ("/api/v1/metrics/trend?survey=rel&", "/api/v1/responses?"):
            reply = client.get(path + query.replace("&compare=previous", ""))
            assert reply.status_code == 400, path
            assert field in reply.json()


def test_export_dates_out_of_range_are_refused():
    client = api(MARKETING)
    reply = client.post(
        "/api/v1/exports", {"start": "0001-01-01", "tz": "Asia/Tokyo"}, format="json"
    )
    assert reply.status_code == 400
    assert "start" in reply.json()


def test_the_export_page_names_a_date_out_of_range(client):
    client.force_login(StaffFactory(role=MARKETING))
    page = client.post(
        "/reports/exports/", {"start": "0001-01-01", "tz": "Asia/Tokyo", "format": "csv"}
    )
    assert page.status_code == 200
    assert "Use a date from 1900-01-01 to 2999-12-31." in page.content.decode()


@pytest.mark.parametrize("value", ["a__contains=1", "a__regex=.*", "account.tier__gt=0", "a__=1"])
def test_property_keys_with_double_underscores_are_refused(value):
    survey = SurveyFactory(slug="rel")
    ResponseFactory(invitation__survey=survey, invitation__properties={"a": "1"})
    reply = api(MARKETING).get("/api/v1/metrics/summary", {"survey": "rel", "property": value})
    assert reply.status_code == 400
    assert list(reply.json()) == ["property"]
    assert selectors.parse_property_filter(value) is None
    assert selectors.parse_property_filter("agent_name=bob") == ("agent_name", "bob")


def test_audience_property_names_are_checked_too():
    reply = api(CS_STAFF).post(
        "/api/v1/surveys",
        {
            "name": "R",
            "kind": "nps",
            "audience_property": "a__regex",
            "audience_property_value": "x",
        },
        format="json",
    )
    assert reply.status_code == 400
    assert "audience_property" in reply.json()


@pytest.mark.parametrize("suffix", ["", "&format=json"])
def test_a_non_numeric_campaign_is_a_400(client, suffix):
    survey = SurveyFactory(slug="rel")
    Campaign.objects.create(survey=survey, name="Q3")
    client.force_login(StaffFactory(role=MARKETING))
    reply = client.get(f"/distribution/rel/?campaign=abc{suffix}")
    assert reply.status_code == 400
    assert "campaign" in reply.content.decode()


def test_a_hand_made_cursor_is_refused_not_a_500():
    import base64

    token = base64.b64encode(b"o=0&p=not-a-time").decode()
    reply = api(MARKETING).get(f"/api/v1/responses?cursor={token}")
    assert reply.status_code == 404


def test_nul_characters_in_json_properties_are_a_400():
    SurveyFactory(slug="rel")
    reply = api(CS_STAFF).post(
        "/api/v1/invitations",
        {"survey": "rel", "contact": {"email": "ana@example.com"}, "properties": {"a": "x\x00"}},
        format="json",
    )
    assert reply.status_code == 400
    assert "properties" in reply.json()
    assert not Contact.objects.exists()


# --- D8: imports ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("ana@example.com,acme,1e999", "MRR"),
        ("ana@example.com,acme,12345678901234567890123456789", "MRR"),
        ("ana@example.com,acme,1E+30", "MRR"),
        ("ana@example.com,ac\x00me,1", "NUL"),
        ("a" * 243 + "@example.com,acme,1", "email"),
    ],
)
def test_contact_import_rows_that_crashed_are_listed_errors(row, reason):
    kept = AccountFactory(external_id="kept", mrr="5.00")
    source = f"email,external_id,mrr\nold@example.com,kept,7\n{row}\n"
    result = contact_imports.import_contacts(source=source)
    assert [(e.line, reason in e.reason) for e in result.errors] == [(3, True)]
    assert result.applied is False
    kept.refresh_from_db()
    assert kept.mrr == 5
    assert not Contact.objects.exists()


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ("ana@example.com,rel,9,ok,0001-01-01", "out of range"),
        ("ana@example.com,rel,9,ok,9999-12-31T23:00:00-05:00", "out of range"),
        ("ana@example.com,rel,9,bad\x00comment,2026-01-05", "NUL"),
        ("a" * 243 + "@example.com,rel,9,ok,2026-01-05", "254"),
    ],
)
def test_response_import_rows_that_crashed_are_listed_errors(row, reason):
    survey = SurveyFactory(slug="rel")
    existing = ResponseFactory(invitation__survey=survey, score=4, comment="kept")
    source = f"email,survey,score,comment,date\n{row}\n"
    result = response_imports.import_responses(source=source, tz="Asia/Tokyo")
    assert [(e.line, reason in e.reason) for e in result.errors] == [(2, True)]
    existing.refresh_from_db()
    assert (existing.score, existing.comment) == (4, "kept")
    assert Response.objects.count() == 1


# --- D9: answers ----------------------------------------------------------------------------


def test_an_answer_with_a_nul_character_is_a_400_and_keeps_the_earlier_answer(client):
    invitation = InvitationFactory()
    first = client.post(f"/s/{invitation.token}/", {"score": "8", "comment": "fine"})
    assert first.status_code == 302
    reply = client.post(f"/s/{invitation.token}/", {"score": "2", "comment": "bad\x00"})
    assert reply.status_code == 400
    response = Response.objects.get()
    assert (response.score, response.comment) == (8, "fine")


# --- D11: export -> import ------------------------------------------------------------------

RISKY = ["-slow support", "=SUM(A1:A9)", "+1 great", "@here help", "'=quoted", "''twice", "'x"]


@pytest.mark.parametrize("text", [*RISKY, "\tTabbed", "\rReturn", "plain", "", "'"])
def test_escape_then_unescape_is_the_identity(text):
    escaped = contact_imports.escape_formula(text)
    assert contact_imports.unescape_formula(escaped) == text
    if text[:1] in ("=", "+", "-", "@", "\t", "\r"):
        assert escaped == "'" + text


def test_exported_answers_import_back_unchanged():
    survey = SurveyFactory(slug="rel")
    base = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
    for index, comment in enumerate(RISKY):
        ResponseFactory(
            invitation__survey=survey,
            invitation__contact__name=f"-{comment}",
            score=index + 1,
            comment=comment,
            answered_at=base + dt.timedelta(minutes=index),
        )
    filters = selectors.Filters(period=selectors.Period(None, None, ZoneInfo("UTC")), kind="")
    body = b"".join(files.csv_chunks(filters, columns.ExportOptions())).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {row["comment"] for row in rows} == {contact_imports.escape_formula(c) for c in RISKY}

    answers = io.StringIO()
    writer = csv.writer(answers)
    writer.writerow(["email", "survey", "score", "comment", "date"])
    for row in rows:
        writer.writerow(
            [
                row["contact_email"],
                row["survey"],
                row["score"],
                row["comment"],
                row["answered_at_utc"],
            ]
        )
    result = response_imports.import_responses(source=answers.getvalue(), tz="UTC")
    assert result.ok, result.errors
    imported = Response.objects.filter(confirmed_via=Response.ConfirmedVia.IMPORT)
    assert sorted(imported.values_list("comment", flat=True)) == sorted(RISKY)
    assert sorted(imported.values_list("answered_at", flat=True)) == sorted(
        base + dt.timedelta(minutes=i) for i in range(len(RISKY))
    )

    people = io.StringIO()
    writer = csv.writer(people)
    writer.writerow(["email", "name"])
    for row in rows:
        writer.writerow([row["contact_email"], row["contact_name"]])
    result = contact_imports.import_contacts(source=people.getvalue())
    assert result.ok and result.counts["contacts_unchanged"] == len(RISKY), result.counts
    assert sorted(Contact.objects.values_list("name", flat=True)) == sorted(f"-{c}" for c in RISKY)


@pytest.fixture
def admin_client(client):
    client.force_login(StaffFactory(role=ADMINISTRATORS))
    return client
