"""Exports on the real stack: PostgreSQL's COPY path, and background jobs run by a worker."""

import csv
import datetime as dt
import io
import time
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
import requests
from openpyxl import load_workbook
from rest_framework.authtoken.models import Token

from accounts.roles import MARKETING
from metrics import selectors
from metrics.exports import columns, files
from metrics.models import ExportJob
from tests.factories import (
    AccountFactory,
    CesSurveyFactory,
    ContactFactory,
    CsatSurveyFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.integration

TRICKY = [
    '=HYPERLINK("http://evil")',
    "+1",
    "-1",
    "@SUM(A1)",
    "\tTab",
    "\rCR first",
    'line\r\nbreaks\nand "quotes", commas; semicolons',
    "Ótimo atendimento 😀 ñ ç",
    "",
]


@pytest.fixture
def rows(transactional_db):
    owner = StaffFactory(username="olga", role="CS staff")
    survey = SurveyFactory(slug="rel", name='Relational, "NPS"')
    account = AccountFactory(
        external_id="=ACC-1", name="Ação Ltda", owner=owner, mrr=Decimal("1234.56"), currency="BRL"
    )
    start = dt.datetime(2026, 1, 31, 23, 59, 59, tzinfo=dt.UTC)
    made = []
    for i, text in enumerate(TRICKY):
        contact = ContactFactory(email=f"p{i}@example.com", name=text[:200], account=account)
        props = {"channel": text, "odd key/é": i} if i % 2 else {}
        made.append(
            ResponseFactory(
                invitation=InvitationFactory(survey=survey, contact=contact, properties=props),
                score=i % 11,
                comment=text,
                reason=text[:200],
                answered_at=start + dt.timedelta(hours=i),
            )
        )
    for survey_factory, score in ((CsatSurveyFactory, 5), (CesSurveyFactory, 2)):
        made.append(
            ResponseFactory(invitation__survey=survey_factory(), score=score, answered_at=start)
        )
    # An answer without contact or account (erased or imported), score 0.
    made.append(
        ResponseFactory(
            invitation=None,
            survey=survey,
            contact=None,
            account=None,
            score=0,
            category=-1,
            answered_at=start,
        )
    )
    return made


def parse(body: bytes, delimiter=",") -> list[list[str]]:
    text = body.decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))


def test_csv_and_xlsx_match_the_database(rows, tmp_path):
    filters = selectors.Filters(period=selectors.Period(None, None, ZoneInfo("UTC")), kind="")
    options = columns.ExportOptions(tz="America/Sao_Paulo", excel=True)
    counter = [0]
    copied = parse(b"".join(files.csv_chunks(filters, options, counter)), ";")
    assert counter[0] == len(rows)
    files.write_xlsx(filters, options, tmp_path / "out.xlsx")
    sheet = load_workbook(tmp_path / "out.xlsx", read_only=True)["Responses"]
    xlsx = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = copied[0]
    assert xlsx[0] == header
    # Text cells are the same strings in both formats (escaped by the same SQL).
    text_columns = [
        i for i, (_name, _lookup, kind) in enumerate(columns.BASE_COLUMNS) if kind == "text"
    ] + list(range(len(columns.BASE_COLUMNS), len(header)))
    for csv_row, xlsx_row in zip(copied[1:], xlsx[1:], strict=True):
        assert [csv_row[i] for i in text_columns] == [xlsx_row[i] or "" for i in text_columns]
    assert header[-2:] == ["property_channel", "property_odd key/é"]
    by_id = {row[0]: dict(zip(header, row, strict=True)) for row in copied[1:]}
    for response in rows:
        row = by_id[str(response.public_id)]
        assert row["score"] == str(response.score)
        expected = response.comment
        if expected[:1] in ("=", "+", "-", "@", "\t", "\r"):
            expected = "'" + expected
        assert row["comment"] == expected
    zero = by_id[str(rows[-1].public_id)]
    assert (zero["score"], zero["category"], zero["contact_email"], zero["account_mrr"]) == (
        "0",
        "detractor",
        "",
        "",
    )
    assert [by_id[str(r.public_id)]["category"] for r in rows[-3:-1]] == ["satisfied", "difficult"]
    first = by_id[str(rows[0].public_id)]
    assert first["account_external_id"] == "'=ACC-1"
    assert first["account_arr"] == "14814.72"
    assert first["answered_at_utc"] == "2026-01-31 23:59:59"
    assert first["answered_at_local"] == "2026-01-31 20:59:59"


def test_background_export_end_to_end(rows, live_server, workers, smtp, settings, tmp_path):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    settings.SITE_URL = live_server.url
    workers.start(1, MEDIA_ROOT=str(media))
    user = StaffFactory(username="mia", email="mia@example.com", role=MARKETING)
    api = requests.Session()
    api.headers["Authorization"] = f"Token {Token.objects.create(user=user).key}"
    base = f"{live_server.url}/api/v1"

    created = api.post(f"{base}/exports", json={"format": "csv", "tz": "UTC"})
    assert created.status_code == 202, created.text
    job_id = created.json()["id"]
    assert created.json()["total_rows"] == len(rows)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = api.get(f"{base}/exports/{job_id}").json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert (job["status"], job["row_count"], job["progress"]) == ("done", len(rows), 100), job
    [message] = smtp.wait_for(1, timeout=30)
    assert message["To"] == "mia@example.com"
    body = message.get_body(preferencelist=("plain",)).get_content()
    assert f"{live_server.url}/reports/exports/{job_id}/" in body

    download = api.get(job["download_url"])
    assert download.status_code == 200
    parsed = parse(download.content)
    assert len(parsed) == len(rows) + 1
    assert sorted(r[0] for r in parsed[1:]) == sorted(str(r.public_id) for r in rows)

    # Only the requester or an administrator may fetch it.
    other = requests.Session()
    other.headers["Authorization"] = (
        f"Token {Token.objects.create(user=StaffFactory(username='max', role=MARKETING)).key}"
    )
    assert other.get(job["download_url"]).status_code == 404

    xlsx = api.post(f"{base}/exports", json={"format": "xlsx"}).json()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        job = api.get(f"{base}/exports/{xlsx['id']}").json()
        if job["status"] in ("done", "failed"):
            break
        time.sleep(0.2)
    assert job["status"] == "done", job
    sheet = load_workbook(io.BytesIO(api.get(job["download_url"]).content), read_only=True)
    values = list(sheet["Responses"].iter_rows(values_only=True))
    assert len(values) == len(rows) + 1
    assert ExportJob.objects.filter(status="done").count() == 2


def test_export_page_shows_the_job_at_once_and_its_link_without_a_reload(
    rows, live_server, workers, smtp, settings, tmp_path, browser, client
):
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    settings.SITE_URL = live_server.url
    workers.start(1, MEDIA_ROOT=str(media))
    user = StaffFactory(username="mia", email="mia@example.com", role=MARKETING)
    client.force_login(user)
    context = browser.new_context(viewport={"width": 375, "height": 800})
    context.add_cookies(
        [{"name": "sessionid", "value": client.cookies["sessionid"].value, "url": live_server.url}]
    )
    page = context.new_page()
    try:
        page.goto(f"{live_server.url}/reports/exports/?start=2026-01-01&end=2026-12-31&tz=UTC")
        assert page.locator("[data-export-job]").count() == 0
        page.evaluate("window.notReloaded = true")
        page.get_by_role("button", name="Export", exact=True).click()
        row = page.locator("tr", has=page.locator("[data-export-job]"))
        row.first.wait_for(state="attached", timeout=5_000)
        assert page.get_by_role("status").is_visible()
        assert row.locator("[role=progressbar]").count() == 1
        link = row.locator("[data-export-download]")
        link.wait_for(state="visible", timeout=60_000)
        # The same page all along: the row, its bar and its link came without a reload.
        assert page.evaluate("window.notReloaded") is True
        assert row.locator("[role=progressbar]").get_attribute("aria-valuenow") == "100"
        assert row.locator("[data-export-field=status_display]").inner_text() == "Ready"
        job = ExportJob.objects.get()
        assert link.get_attribute("href") == f"/reports/exports/{job.public_id}/download"
        download = page.request.get(live_server.url + link.get_attribute("href"))
        assert download.status == 200
        parsed = parse(download.body())
        assert sorted(r[0] for r in parsed[1:]) == sorted(str(r.public_id) for r in rows)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
    finally:
        context.close()
