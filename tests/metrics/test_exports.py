"""Response exports: content round trip, formula escaping, XLSX, filters, jobs, links, audit."""

import csv
import datetime as dt
import io
import uuid
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import Group
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import AuditLog
from accounts.roles import ADMINISTRATORS, CS_STAFF, MARKETING
from metrics import selectors
from metrics.exports import background, columns, files, storage
from metrics.models import ExportJob
from surveys.models import Kind
from tests.factories import (
    AccountFactory,
    ContactFactory,
    CsatSurveyFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)

UTC = dt.UTC
ANSWERED = dt.datetime(2026, 3, 1, 2, 30, 15, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def data(db):
    owner = StaffFactory(username="olga", role=CS_STAFF)
    survey = SurveyFactory(slug="rel", name="Relational", kind=Kind.NPS)
    account = AccountFactory(
        external_id="ACC-1",
        name="Ação Ltda",
        plan="Pro",
        segment="SMB",
        region="LatAm",
        owner=owner,
        status="active",
        mrr=Decimal("1234.50"),
        currency="BRL",
    )
    ana = ContactFactory(
        email="ana@example.com", name="Ana Çedilha", language="pt-br", account=account
    )
    zero = ResponseFactory(
        invitation=InvitationFactory(
            survey=survey,
            contact=ana,
            properties={"channel": "chat", "agent": "=cmd|' /C calc'!A0"},
        ),
        score=0,
        comment="Péssimo 😞\nsegunda linha",
        reason="Preço",
        answered_at=ANSWERED,
    )
    lone = ContactFactory(email="solo@example.com", name="", language="", account=None)
    nine = ResponseFactory(
        invitation=InvitationFactory(survey=survey, contact=lone, properties={"ticket": 42}),
        account=None,
        score=9,
        comment="",
        answered_at=ANSWERED + dt.timedelta(days=1),
    )
    return {"survey": survey, "account": account, "zero": zero, "nine": nine, "owner": owner}


def all_time(tz="UTC", **kwargs) -> selectors.Filters:
    return selectors.Filters(period=selectors.Period(None, None, ZoneInfo(tz)), kind="", **kwargs)


def read_csv(body: bytes, delimiter=",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(body.decode("utf-8"), newline=""), delimiter=delimiter))


def test_csv_round_trip_equals_the_database_rows(data):
    body = b"".join(
        files.csv_chunks(
            all_time("America/Sao_Paulo"), columns.ExportOptions(tz="America/Sao_Paulo")
        )
    )
    header, *rows = read_csv(body)
    assert header == [
        "response_id",
        "survey",
        "survey_name",
        "kind",
        "score",
        "category",
        "comment",
        "reason",
        "confirmed_via",
        "answered_at_utc",
        "answered_at_local",
        "contact_email",
        "contact_name",
        "contact_language",
        "account_external_id",
        "account_name",
        "account_plan",
        "account_segment",
        "account_region",
        "account_owner",
        "account_status",
        "account_mrr",
        "account_arr",
        "account_currency",
        "quarantined",
        "suspected_bot",
        "excluded",
        "property_agent",
        "property_channel",
        "property_ticket",
    ]
    assert rows == [
        [
            str(data["zero"].public_id),
            "rel",
            "Relational",
            "nps",
            "0",
            "detractor",
            "Péssimo 😞\nsegunda linha",
            "Preço",
            "submit",
            "2026-03-01 02:30:15",
            "2026-02-28 23:30:15",
            "ana@example.com",
            "Ana Çedilha",
            "pt-br",
            "ACC-1",
            "Ação Ltda",
            "Pro",
            "SMB",
            "LatAm",
            "olga",
            "active",
            "1234.50",
            "14814.00",
            "BRL",
            "false",
            "false",
            "false",
            "'=cmd|' /C calc'!A0",
            "chat",
            "",
        ],
        [
            str(data["nine"].public_id),
            "rel",
            "Relational",
            "nps",
            "9",
            "promoter",
            "",
            "",
            "submit",
            "2026-03-02 02:30:15",
            "2026-03-01 23:30:15",
            "solo@example.com",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "",
            "false",
            "false",
            "false",
            "",
            "",
            "42",
        ],
    ]


@pytest.mark.parametrize("dangerous", ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_cells_starting_a_formula_are_escaped(data, dangerous, tmp_path):
    data["zero"].comment = dangerous
    data["zero"].save()
    data["account"].name = dangerous
    data["account"].save()
    data["zero"].invitation.properties = {"agent": dangerous}
    data["zero"].invitation.save()
    body = b"".join(files.csv_chunks(all_time(), columns.ExportOptions()))
    header, first, _second = read_csv(body)
    path = tmp_path / "out.xlsx"
    files.write_xlsx(all_time(), columns.ExportOptions(), path)
    sheet = load_workbook(path, read_only=True)["Responses"]
    xlsx_header, xlsx_first, _ = [list(row) for row in sheet.iter_rows(values_only=True)]
    for column in ("comment", "account_name", "property_agent"):
        assert first[header.index(column)] == "'" + dangerous
        assert xlsx_first[xlsx_header.index(column)] == "'" + dangerous


@pytest.mark.parametrize("safe", ["a=b", "'x", " =x", "x-1"])
def test_safe_cells_are_left_alone(data, safe):
    data["zero"].comment = safe
    data["zero"].save()
    data["zero"].invitation.properties = {"agent": safe}
    data["zero"].invitation.save()
    header, first, second = read_csv(
        b"".join(files.csv_chunks(all_time(), columns.ExportOptions()))
    )
    assert first[header.index("comment")] == safe
    assert first[header.index("property_agent")] == safe
    # Empty and missing values stay empty.
    assert second[header.index("comment")] == ""
    assert second[header.index("property_agent")] == ""


def test_an_apostrophe_before_a_risky_character_gets_one_more(data):
    """So that an import, which takes one leading apostrophe off, gives back "'=x"."""
    data["zero"].comment = "'=x"
    data["zero"].save()
    data["zero"].invitation.properties = {"agent": "'=x"}
    data["zero"].invitation.save()
    header, first, _second = read_csv(
        b"".join(files.csv_chunks(all_time(), columns.ExportOptions()))
    )
    assert first[header.index("comment")] == "''=x"
    assert first[header.index("property_agent")] == "''=x"


def test_excel_option_writes_a_bom_and_semicolons(data):
    body = b"".join(files.csv_chunks(all_time(), columns.ExportOptions(excel=True)))
    assert body.startswith(b"\xef\xbb\xbfresponse_id;survey;")
    rows = read_csv(body[3:], delimiter=";")
    assert [row[4] for row in rows[1:]] == ["0", "9"]


def test_xlsx_opens_with_typed_cells(data, tmp_path):
    path = tmp_path / "out.xlsx"
    count = files.write_xlsx(all_time(), columns.ExportOptions(tz="America/Sao_Paulo"), path)
    assert count == 2
    sheet = load_workbook(path, read_only=True)["Responses"]
    header, first, second = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert header[:6] == ["response_id", "survey", "survey_name", "kind", "score", "category"]
    assert first[header.index("score")] == 0
    assert second[header.index("score")] == 9
    assert first[header.index("comment")] == "Péssimo 😞\nsegunda linha"
    assert first[header.index("answered_at_utc")] == dt.datetime(2026, 3, 1, 2, 30, 15)
    assert first[header.index("answered_at_local")] == dt.datetime(2026, 2, 28, 23, 30, 15)
    assert first[header.index("account_mrr")] == pytest.approx(1234.5)
    assert first[header.index("account_arr")] == pytest.approx(14814.0)
    # openpyxl would store "=..." as a formula; the escaped text stays text.
    assert first[header.index("property_agent")] == "'=cmd|' /C calc'!A0"
    assert second[header.index("account_name")] in (None, "")


def test_excluded_responses_are_left_out_like_in_the_reports(data):
    data["nine"].excluded = True
    data["nine"].save()
    rows = read_csv(b"".join(files.csv_chunks(all_time(), columns.ExportOptions())))
    assert [row[0] for row in rows[1:]] == [str(data["zero"].public_id)]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"plan": "Pro"}, ["zero"]),
        ({"segment": "SMB"}, ["zero"]),
        ({"region": "LatAm"}, ["zero"]),
        ({"status": "churned"}, []),
        ({"language": "pt-br"}, ["zero"]),
        ({"owner": "olga"}, ["zero"]),
        ({}, ["zero", "nine"]),
    ],
)
def test_filters_are_the_reports_filters(data, filters, expected):
    if "owner" in filters:
        filters = {"owner": data["owner"].pk}
    qs = columns.export_queryset(all_time(**filters))
    assert list(qs.values_list("pk", flat=True)) == [data[name].pk for name in expected]


def test_date_range_is_inclusive_in_the_chosen_time_zone(data):
    # 02:30 UTC on 1 March is still 28 February in São Paulo.
    period = selectors.Period(
        dt.date(2026, 2, 28), dt.date(2026, 2, 28), ZoneInfo("America/Sao_Paulo")
    )
    qs = columns.export_queryset(selectors.Filters(period=period, kind=""))
    assert list(qs.values_list("pk", flat=True)) == [data["zero"].pk]


def test_one_survey_and_kind_filters(data):
    csat = CsatSurveyFactory(slug="csat")
    other = ResponseFactory(invitation=InvitationFactory(survey=csat), score=5)
    assert list(
        columns.export_queryset(all_time(surveys=(csat.pk,))).values_list("pk", flat=True)
    ) == [other.pk]
    assert files.count_rows(all_time()) == 3
    assert files.count_rows(replace_kind(all_time(), Kind.CSAT)) == 1


def replace_kind(filters, kind):
    from dataclasses import replace

    return replace(filters, kind=kind)


# --- Staff pages ----------------------------------------------------------------------------


@pytest.fixture
def marketing(db):
    return StaffFactory(username="mia", email="mia@example.com", role=MARKETING)


def post_export(client, **fields):
    form = {"kind": "", "start": "2026-01-01", "end": "2026-12-31", "tz": "UTC", "format": "csv"}
    form.update(fields)
    return client.post(reverse("reports:exports"), form)


def test_small_export_is_a_job_shown_at_once_in_recent_exports(
    client, data, marketing, django_capture_on_commit_callbacks
):
    client.force_login(marketing)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_export(client, plan="Pro")
    job = ExportJob.objects.get()
    # Back to the export page with the same filters, the job on top of "Recent exports".
    assert response.status_code == 302
    location = response["Location"]
    assert location.startswith(reverse("reports:exports") + "?")
    assert "plan=Pro" in location and "start=2026-01-01" in location
    page = client.get(location).content.decode()
    assert f'data-export-job="{reverse("reports:export-detail", args=[job.public_id])}"' in page
    assert 'role="progressbar"' in page
    assert "1 rows: the file is being written" in page
    download = reverse("reports:export-download", args=[job.public_id])
    assert f'href="{download}"' in page
    assert (job.status, job.total_rows, job.row_count, job.progress) == ("done", 1, 1, 100)
    rows = read_csv(b"".join(client.get(download).streaming_content))
    assert [row[0] for row in rows[1:]] == [str(data["zero"].public_id)]
    entry = AuditLog.objects.get()
    assert (entry.actor, entry.action, entry.row_count) == (marketing, "export_responses", 1)
    assert entry.filters["plan"] == "Pro"
    assert entry.filters["start"] == "2026-01-01"
    assert entry.filters["format"] == "csv"


def test_the_page_script_gets_the_new_row_as_json(
    client, data, marketing, django_capture_on_commit_callbacks
):
    client.force_login(marketing)
    form = {"kind": "", "start": "2026-01-01", "end": "2026-12-31", "tz": "UTC", "format": "csv"}
    # Not run yet (no commit callbacks): the row shows a pending job at 0%, without a link.
    response = client.post(reverse("reports:exports"), form, HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    reply = response.json()
    job = ExportJob.objects.get()
    assert (reply["status"], reply["progress"], reply["download_url"]) == ("pending", 0, "")
    assert reply["total"] == 2
    assert f'data-export-job="/reports/exports/{job.public_id}/"' in reply["row"]
    assert 'aria-valuenow="0"' in reply["row"]
    assert "data-export-done hidden" in reply["row"]

    bad = client.post(
        reverse("reports:exports"), {**form, "tz": "Bad/Zone"}, HTTP_ACCEPT="application/json"
    )
    assert bad.status_code == 400
    assert list(bad.json()["errors"]) == ["tz"]
    assert ExportJob.objects.count() == 1


def test_small_xlsx_export_downloads(client, data, marketing, django_capture_on_commit_callbacks):
    client.force_login(marketing)
    with django_capture_on_commit_callbacks(execute=True):
        post_export(client, format="xlsx")
    job = ExportJob.objects.get()
    response = client.get(reverse("reports:export-download", args=[job.public_id]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    sheet = load_workbook(io.BytesIO(body), read_only=True)["Responses"]
    assert len(list(sheet.iter_rows(values_only=True))) == 3


def test_invalid_form_shows_errors_and_exports_nothing(client, data, marketing):
    client.force_login(marketing)
    response = post_export(client, start="2026-05-01", end="2026-01-01")
    assert response.status_code == 200
    assert "The end date is before the start date." in response.content.decode()
    assert AuditLog.objects.count() == 0


def test_big_export_runs_as_a_job_and_emails_a_link(
    client, data, marketing, settings, mailoutbox, django_capture_on_commit_callbacks
):
    client.force_login(marketing)
    with django_capture_on_commit_callbacks(execute=True):
        response = post_export(client)
    job = ExportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("reports:exports") + "?")
    assert (job.status, job.total_rows, job.row_count, job.progress) == ("done", 2, 2, 100)
    assert job.expires_at - job.finished_at == dt.timedelta(hours=settings.EXPORT_EXPIRY_HOURS)
    [message] = mailoutbox
    assert message.to == ["mia@example.com"]
    assert f"https://surveys.example.com/reports/exports/{job.public_id}/" in message.body
    assert AuditLog.objects.get().row_count == 2

    page = client.get(reverse("reports:export-detail", args=[job.public_id]))
    assert b"100%" in page.content
    download = client.get(reverse("reports:export-download", args=[job.public_id]))
    assert download.status_code == 200
    rows = read_csv(b"".join(download.streaming_content))
    assert len(rows) == 3


def test_download_only_for_requester_or_administrator(client, data, marketing, tmp_path):
    job = finished_job(marketing)
    url = reverse("reports:export-download", args=[job.public_id])
    other = StaffFactory(username="max", role=MARKETING)
    client.force_login(other)
    assert client.get(url).status_code == 403
    assert client.get(reverse("reports:export-detail", args=[job.public_id])).status_code == 404
    client.force_login(StaffFactory(username="root", role=ADMINISTRATORS))
    assert client.get(url).status_code == 200
    client.force_login(marketing)
    assert client.get(url).status_code == 200


def test_expired_link_is_gone_and_the_purge_deletes_the_file(client, marketing, db):
    job = finished_job(marketing, expires_at=timezone.now() - dt.timedelta(minutes=1))
    client.force_login(marketing)
    url = reverse("reports:export-download", args=[job.public_id])
    assert client.get(url).status_code == 410
    name = job.file.name
    assert default_storage.exists(name)
    assert storage.purge_expired_exports() == 1
    assert not default_storage.exists(name)
    assert storage.purge_expired_exports() == 0


def test_job_not_ready_is_409(client, marketing):
    job = ExportJob.objects.create(requested_by=marketing, format="csv", total_rows=10)
    client.force_login(marketing)
    assert client.get(reverse("reports:export-download", args=[job.public_id])).status_code == 409


def test_run_export_job_is_idempotent(data, marketing, mailoutbox):
    job = ExportJob.objects.create(
        requested_by=marketing,
        format="csv",
        filters=columns.filters_as_dict(all_time()),
        options={"tz": "UTC"},
        total_rows=2,
    )
    assert background.run_export_job(job_id=job.pk) is True
    assert background.run_export_job(job_id=job.pk) is False
    assert len(mailoutbox) == 1
    assert AuditLog.objects.count() == 1


def finished_job(user, **kwargs) -> ExportJob:
    name = default_storage.save(f"exports/{uuid.uuid4()}.csv", io.BytesIO(b"response_id\n"))
    now = timezone.now()
    values = {
        "status": "done",
        "file": name,
        "row_count": 0,
        "finished_at": now,
        "expires_at": now + dt.timedelta(hours=1),
    }
    values.update(kwargs)
    return ExportJob.objects.create(requested_by=user, format="csv", **values)


# --- API ------------------------------------------------------------------------------------


def token_client(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_api_responses_cursor_pagination_and_filters(data, marketing):
    api = token_client(marketing)
    first = api.get("/api/v1/responses", {"page_size": 1})
    assert first.status_code == 200
    body = first.json()
    assert [row["id"] for row in body["results"]] == [str(data["nine"].public_id)]
    assert body["previous"] is None
    second = api.get(body["next"]).json()
    assert [row["id"] for row in second["results"]] == [str(data["zero"].public_id)]
    row = second["results"][0]
    assert row["score"] == 0
    assert row["category"] == "detractor"
    assert row["account"]["arr"] == "14814.00"
    assert row["contact"] == {
        "email": "ana@example.com",
        "name": "Ana Çedilha",
        "language": "pt-br",
    }
    assert row["properties"]["channel"] == "chat"
    assert second["next"] is None

    filtered = api.get("/api/v1/responses", {"plan": "Pro", "owner": "olga"}).json()
    assert [r["id"] for r in filtered["results"]] == [str(data["zero"].public_id)]
    bad = api.get("/api/v1/responses", {"tz": "Mars/Base", "status": "zombie"})
    assert bad.status_code == 400
    assert set(bad.json()) == {"tz", "status"}


def test_api_export_job_lifecycle(data, marketing, django_capture_on_commit_callbacks):
    api = token_client(marketing)
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post("/api/v1/exports", {"format": "xlsx", "plan": "Pro"}, format="json")
    assert created.status_code == 202, created.content
    job_id = created.json()["id"]
    detail = api.get(f"/api/v1/exports/{job_id}").json()
    assert (detail["status"], detail["row_count"], detail["progress"]) == ("done", 1, 100)
    assert detail["download_url"] == f"https://surveys.example.com/api/v1/exports/{job_id}/file"
    file = api.get(f"/api/v1/exports/{job_id}/file")
    assert file.status_code == 200
    sheet = load_workbook(io.BytesIO(b"".join(file.streaming_content)), read_only=True)
    assert len(list(sheet["Responses"].iter_rows())) == 2

    stranger = token_client(StaffFactory(username="max", role=MARKETING))
    assert stranger.get(f"/api/v1/exports/{job_id}").status_code == 404
    assert stranger.get(f"/api/v1/exports/{job_id}/file").status_code == 404


def test_api_export_rejects_bad_input_and_creates_nothing(data, marketing):
    api = token_client(marketing)
    response = api.post("/api/v1/exports", {"format": "pdf", "survey": "nope"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"format", "survey"}
    assert ExportJob.objects.count() == 0


def test_roles_group_permissions_exist(db):
    marketing = Group.objects.get(name=MARKETING)
    codenames = set(marketing.permissions.values_list("codename", flat=True))
    assert {"view_reports", "add_exportjob", "view_response"} <= codenames
    assert "change_response" not in codenames


def test_export_page_starts_from_the_report_filters(client, data, marketing):
    client.force_login(marketing)
    page = client.get(reverse("reports:exports"), {"plan": "Pro", "start": "2026-02-01"})
    assert page.status_code == 200
    form = page.context["form"]
    assert (form["plan"].value(), form["start"].value()) == ("Pro", "2026-02-01")
    assert AuditLog.objects.count() == 0
