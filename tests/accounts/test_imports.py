"""CSV imports: accounts and contacts, historical responses; commands and admin pages."""

import datetime as dt
from decimal import Decimal
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from accounts import imports
from accounts.models import Account, AuditLog, Contact
from accounts.roles import CS_STAFF, MARKETING
from surveys import imports as response_imports
from surveys.models import Response
from tests.factories import (
    AccountFactory,
    ContactFactory,
    CsatSurveyFactory,
    StaffFactory,
    SurveyFactory,
)

SAMPLES = Path(__file__).resolve().parents[2] / "docs" / "samples"

GOOD = (
    "email,name,language,external_id,account_name,plan,segment,region,status,owner,mrr,"
    "currency,renewal_date,property_role\n"
    "ana@example.com,Ana,pt-BR,ACC-1,Ação Ltda,Pro,SMB,LatAm,active,olga,1234.50,brl,"
    "2027-01-31,buyer\n"
    "bob@example.com,Bob,en,ACC-1,,,,,,,,,,\n"
    ',,,ACC-2,Beta Inc,Starter,,Europe,trial,,"1.000,00",EUR,,\n'
)


@pytest.fixture
def owner(db):
    return StaffFactory(username="olga", email="olga@example.com", role=CS_STAFF)


def snapshot() -> tuple:
    return (
        list(Account.objects.order_by("pk").values()),
        list(Contact.objects.order_by("pk").values()),
        AuditLog.objects.count(),
    )


def test_good_file_upserts_accounts_and_contacts(owner):
    result = imports.import_contacts(source=GOOD.encode(), actor=owner)
    assert result.errors == []
    assert result.applied is True
    assert result.counts == {
        "accounts_created": 2,
        "accounts_updated": 0,
        "accounts_unchanged": 0,
        "contacts_created": 2,
        "contacts_updated": 0,
        "contacts_unchanged": 0,
    }
    acc1 = Account.objects.get(external_id="ACC-1")
    assert (acc1.name, acc1.plan, acc1.segment, acc1.region, acc1.status, acc1.owner) == (
        "Ação Ltda",
        "Pro",
        "SMB",
        "LatAm",
        "active",
        owner,
    )
    assert (acc1.mrr, acc1.currency, acc1.renewal_date) == (
        Decimal("1234.50"),
        "BRL",
        dt.date(2027, 1, 31),
    )
    acc2 = Account.objects.get(external_id="ACC-2")
    assert (acc2.mrr, acc2.currency, acc2.status, acc2.plan) == (
        Decimal("1000.00"),
        "EUR",
        "trial",
        "Starter",
    )
    ana = Contact.objects.get(email="ana@example.com")
    assert (ana.name, ana.language, ana.account, ana.properties) == (
        "Ana",
        "pt-br",
        acc1,
        {"role": "buyer"},
    )
    assert Contact.objects.get(email="bob@example.com").account == acc1
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.row_count) == ("import_contacts", owner, 3)


def test_reimport_is_idempotent(owner):
    imports.import_contacts(source=GOOD.encode(), actor=owner)
    before = snapshot()[:2]
    again = imports.import_contacts(source=GOOD.encode(), actor=owner)
    assert again.counts == {
        "accounts_created": 0,
        "accounts_updated": 0,
        "accounts_unchanged": 2,
        "contacts_created": 0,
        "contacts_updated": 0,
        "contacts_unchanged": 2,
    }
    assert snapshot()[:2] == before


def test_upsert_updates_only_given_cells_and_matches_email_case_insensitively(owner):
    account = AccountFactory(external_id="ACC-1", plan="Basic", region="Europe", mrr=Decimal("5"))
    contact = ContactFactory(email="Ana@Example.com", name="Old", language="es", account=None)
    result = imports.import_contacts(
        source=b"email,name,external_id,plan\nana@example.com,Ana,ACC-1,Pro\n", actor=owner
    )
    assert result.counts["accounts_updated"] == 1
    assert result.counts["contacts_updated"] == 1
    account.refresh_from_db()
    contact.refresh_from_db()
    assert (account.plan, account.region, account.mrr) == ("Pro", "Europe", Decimal("5.00"))
    assert (contact.email, contact.name, contact.language, contact.account) == (
        "Ana@Example.com",
        "Ana",
        "es",
        account,
    )


def test_old_mac_line_endings_and_quoted_line_breaks_are_read(owner):
    source = b'email,name\rana@example.com,"Ana\r\nSouza"\rbob@example.com,Bob\r'
    result = imports.import_contacts(source=source, actor=owner)
    assert result.errors == []
    assert dict(Contact.objects.values_list("email", "name")) == {
        "ana@example.com": "Ana\r\nSouza",
        "bob@example.com": "Bob",
    }


def test_semicolons_and_a_byte_order_mark_are_read(owner):
    source = "\ufeffemail;name;mrr;external_id\nana@example.com;Ana;1234,50;A\n".encode()
    result = imports.import_contacts(source=source, actor=owner)
    assert result.errors == []
    assert Account.objects.get(external_id="A").mrr == Decimal("1234.50")


BAD_ROWS = [
    ("not-an-email,,,,,,,,,,,", "'not-an-email' is not a valid email address."),
    ("a@example.com,,xx,,,,,,,,,", "Unknown language 'xx'; use one of en, es, pt-br."),
    (
        "a@example.com,,,A,,,,zombie,,,,",
        "Unknown status 'zombie'; use one of active, churned, trial.",
    ),
    ("a@example.com,,,A,,,,,nobody,,,", "No active staff user 'nobody' to own the account."),
    ("a@example.com,,,A,,,,,,ten,,", "MRR 'ten' is not a number."),
    ("a@example.com,,,A,,,,,,-1,,", "MRR must be zero or more."),
    ("a@example.com,,,A,,,,,,1.234,,", "MRR '1.234' has too many digits."),
    ("a@example.com,,,A,,,,,,,XYZ,", "Unknown currency 'XYZ'."),
    ("a@example.com,,,A,,,,,,,,31/01/2027", "'31/01/2027' is not a date as YYYY-MM-DD."),
    (",Ana,,,,,,,,,,", "A row needs an email (a contact) or an external_id (an account)."),
    ("a@example.com,,,,,Pro,,,,,,", "Account columns need the account's external_id."),
    ("a@example.com,,,A," + "x" * 201 + ",,,,,,,", "account_name is longer than 200 characters."),
    # Every problem of a row is named, not only the first.
    (
        "a@example.com,,xx,," + "x" * 201 + ",,,,,-1,,",
        "account_name is longer than 200 characters.; Unknown language 'xx'; use one of en, "
        "es, pt-br.; MRR must be zero or more.; Account columns need the account's external_id.",
    ),
    ("a@example.com,too,many,cells,,,,,,,,,,", "14 cells where the header has 12."),
]


@pytest.mark.parametrize(("row", "reason"), BAD_ROWS)
def test_each_kind_of_bad_row_is_reported_with_its_line_and_nothing_is_written(owner, row, reason):
    header = (
        "email,name,language,external_id,account_name,plan,region,status,owner,mrr,currency,"
        "renewal_date"
    )
    source = f"{header}\ngood@example.com,Good,,,,,,,,,,\n{row}\n".encode()
    before = snapshot()
    result = imports.import_contacts(source=source, actor=owner)
    assert [(e.line, e.reason) for e in result.errors] == [(3, reason)]
    assert result.applied is False
    assert snapshot() == before


def test_duplicates_and_conflicts_in_the_file_are_bad_rows(owner):
    source = (
        b"email,external_id,plan\n"
        b"ana@example.com,A,Pro\n"
        b"ANA@example.com,A,Pro\n"
        b"bob@example.com,A,Basic\n"
    )
    result = imports.import_contacts(source=source, actor=owner)
    assert [(e.line, e.reason) for e in result.errors] == [
        (3, "ANA@example.com already appears on line 2."),
        (4, "Account A has other plan on line 2."),
    ]
    assert Contact.objects.count() == 0
    assert Account.objects.count() == 0


def test_line_numbers_count_physical_lines_of_quoted_cells(owner):
    source = b'email,name\n"ana@example.com","Ana\nSecond line"\n\nbad,Bob\n'
    result = imports.import_contacts(source=source, actor=owner)
    assert [(e.line, e.reason) for e in result.errors] == [
        (5, "'bad' is not a valid email address.")
    ]


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (b"", "The file is empty."),
        (b"email,name\n\xff\xfe,x\n", "The file is not UTF-8 (first bad byte on line 2)."),
        (b"email,colour\na@example.com,red\n", "Unknown columns: colour."),
        (
            b"name,plan\nAna,Pro\n",
            "The header needs an email column, an external_id column, or both.",
        ),
        (b"email,email\na@example.com,b@example.com\n", "Columns appear twice: email."),
    ],
)
def test_unreadable_files_are_refused_whole(owner, source, message):
    with pytest.raises(imports.ImportFileError) as caught:
        imports.import_contacts(source=source, actor=owner)
    assert str(caught.value).startswith(message)
    assert snapshot() == ([], [], 0)


def test_too_many_rows_is_refused(owner, settings):
    settings.IMPORT_MAX_ROWS_STAGED = 2
    source = b"email\na@example.com\nb@example.com\nc@example.com\n"
    with pytest.raises(imports.ImportFileError, match="more than 2 rows"):
        imports.import_contacts(source=source, actor=owner)
    assert Contact.objects.count() == 0


def test_dry_run_previews_and_writes_nothing(owner):
    before = snapshot()
    result = imports.import_contacts(source=GOOD.encode(), actor=owner, dry_run=True)
    assert result.errors == []
    assert result.applied is False
    assert result.counts["accounts_created"] == 2
    assert result.counts["contacts_created"] == 2
    assert snapshot() == before


def test_nothing_is_half_applied_when_the_database_refuses(owner, monkeypatch):
    def explode(*args, **kwargs):
        from django.db import IntegrityError

        raise IntegrityError("duplicate key")

    # The last step (the ledger's events) fails after accounts and contacts were written.
    monkeypatch.setattr(imports, "announce_billing_changes", explode)
    with pytest.raises(imports.ImportFileError, match="nothing was written"):
        imports.import_contacts(source=GOOD.encode(), actor=owner)
    # The accounts and contacts were inserted before it failed: rolled back with them.
    assert snapshot() == ([], [], 0)


# --- Command --------------------------------------------------------------------------------


def test_command_imports_the_sample_file(db):
    StaffFactory(username="demo", role=CS_STAFF)
    out = StringIO()
    call_command("import_contacts", str(SAMPLES / "contacts.csv"), stdout=out, stderr=StringIO())
    assert "row(s) imported." in out.getvalue()
    assert Contact.objects.filter(email="ana.souza@example.com.br").exists()
    assert Account.objects.filter(external_id="ACME-001").exists()


def test_command_dry_run_and_bad_rows(db, tmp_path):
    path = tmp_path / "c.csv"
    path.write_text("email,language\nok@example.com,en\nbad,en\nx@example.com,klingon\n")
    err = StringIO()
    with pytest.raises(CommandError, match=r"2 bad row\(s\) of 3; nothing was written."):
        call_command("import_contacts", str(path), stdout=StringIO(), stderr=err)
    assert "line 3: 'bad' is not a valid email address." in err.getvalue()
    assert "line 4: Unknown language 'klingon'" in err.getvalue()
    path.write_text("email\nok@example.com\n")
    out = StringIO()
    call_command("import_contacts", str(path), "--dry-run", stdout=out, stderr=StringIO())
    assert "contacts created: 1" in out.getvalue()
    assert "Dry run: 1 row(s) valid; nothing was written." in out.getvalue()
    assert Contact.objects.count() == 0


def test_command_missing_file(db):
    with pytest.raises(CommandError, match="Cannot read /nonexistent.csv"):
        call_command("import_contacts", "/nonexistent.csv")


# --- Admin page -----------------------------------------------------------------------------


def upload(client, url, content: bytes, dry_run: bool):
    from django.core.files.uploadedfile import SimpleUploadedFile

    data = {"file": SimpleUploadedFile("f.csv", content, content_type="text/csv")}
    if dry_run:
        data["dry_run"] = "on"
    return client.post(url, data)


def test_admin_import_page_dry_run_lists_bad_rows_then_applies(client, owner):
    client.force_login(owner)
    url = reverse("admin:accounts_contact_import")
    page = upload(client, url, b"email\nok@example.com\nnope\n", dry_run=True)
    assert page.status_code == 200
    body = page.content.decode()
    assert "<td>3</td><td>&#x27;nope&#x27; is not a valid email address.</td>" in body
    assert Contact.objects.count() == 0
    preview = upload(client, url, b"email\nok@example.com\n", dry_run=True)
    assert "Dry run: every row is valid; nothing was written." in preview.content.decode()
    assert Contact.objects.count() == 0
    applied = upload(client, url, b"email\nok@example.com\n", dry_run=False)
    assert applied.status_code == 302
    assert Contact.objects.get().email == "ok@example.com"


def test_admin_import_page_needs_import_permissions(client, db):
    client.force_login(StaffFactory(username="mkt", role=MARKETING))
    url = reverse("admin:accounts_contact_import")
    assert client.get(url).status_code == 403
    assert upload(client, url, b"email\nok@example.com\n", dry_run=False).status_code == 403
    assert Contact.objects.count() == 0


# --- Historical responses -------------------------------------------------------------------


@pytest.fixture
def surveys(db):
    return SurveyFactory(slug="nps-2024"), CsatSurveyFactory(slug="csat")


HISTORY = (
    "email,survey,score,comment,date\n"
    'ana@example.com,nps-2024,0,"Péssimo, nunca mais",2024-01-15\n'
    "bob@example.com,nps-2024,10,,2024-02-01T14:30:00-03:00\n"
    "ana@example.com,csat,5,Ótimo,2024-03-01 09:00\n"
)


def test_response_history_import(surveys, owner):
    account = AccountFactory(external_id="A")
    ContactFactory(email="Ana@Example.com", account=account)
    result = response_imports.import_responses(source=HISTORY.encode(), actor=owner, tz="UTC")
    assert result.errors == []
    assert result.counts == {"contacts_created": 1, "created": 3, "updated": 0, "unchanged": 0}
    rows = list(
        Response.objects.order_by("answered_at").values_list(
            "survey__slug",
            "contact__email",
            "account__external_id",
            "score",
            "category",
            "comment",
            "answered_at",
            "confirmed_via",
            "invitation",
        )
    )
    assert rows == [
        (
            "nps-2024",
            "Ana@Example.com",
            "A",
            0,
            -1,
            "Péssimo, nunca mais",
            dt.datetime(2024, 1, 15, tzinfo=dt.UTC),
            "import",
            None,
        ),
        (
            "nps-2024",
            "bob@example.com",
            None,
            10,
            1,
            "",
            dt.datetime(2024, 2, 1, 17, 30, tzinfo=dt.UTC),
            "import",
            None,
        ),
        (
            "csat",
            "Ana@Example.com",
            "A",
            5,
            1,
            "Ótimo",
            dt.datetime(2024, 3, 1, 9, 0, tzinfo=dt.UTC),
            "import",
            None,
        ),
    ]
    assert AuditLog.objects.get().action == "import_responses"


def test_response_history_reimport_adds_nothing_and_updates_changed_scores(surveys, owner):
    response_imports.import_responses(source=HISTORY.encode(), actor=owner, tz="UTC")
    again = response_imports.import_responses(source=HISTORY.encode(), actor=owner, tz="UTC")
    assert again.counts == {"contacts_created": 0, "created": 0, "updated": 0, "unchanged": 3}
    changed = HISTORY.replace("nps-2024,10,", "nps-2024,8,")
    third = response_imports.import_responses(source=changed.encode(), actor=owner, tz="UTC")
    assert third.counts == {"contacts_created": 0, "created": 0, "updated": 1, "unchanged": 2}
    assert Response.objects.count() == 3
    assert Response.objects.get(contact__email="bob@example.com").category == 0


def test_response_history_dates_without_offset_use_the_given_zone(surveys, owner):
    source = b"email,survey,score,comment,date\na@example.com,nps-2024,9,,2024-01-15 10:00\n"
    response_imports.import_responses(source=source, actor=owner, tz="America/Sao_Paulo")
    assert Response.objects.get().answered_at == dt.datetime(2024, 1, 15, 13, 0, tzinfo=dt.UTC)


BAD_HISTORY = [
    ("nope,nps-2024,9,,2024-01-01", "'nope' is not a valid email address."),
    (",nps-2024,9,,2024-01-01", "The email is empty."),
    ("a@example.com,missing,9,,2024-01-01", "No survey with slug 'missing'."),
    ("a@example.com,nps-2024,11,,2024-01-01", "Score '11': Choose a score from 0 to 10."),
    ("a@example.com,csat,0,,2024-01-01", "Score '0': Choose a score from 1 to 5."),
    ("a@example.com,nps-2024,nine,,2024-01-01", "Score 'nine': Choose a score."),
    (
        "a@example.com,nps-2024,9,,01/02/2024",
        "'01/02/2024' is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][+HH:MM]).",
    ),
    ("a@example.com,nps-2024,9,,", "The date is empty."),
    ("a@example.com,nps-2024,9,,2999-01-01", "The date 2999-01-01 is in the future."),
    (
        "a@example.com,nps-2024,9," + "x" * 5001 + ",2024-01-01",
        "Keep the comment under 5,000 characters.",
    ),
    ("ok@example.com,nps-2024,9,,2024-01-01", "The same answer is on line 2."),
    # Every problem of the row, not only the first.
    (
        "not-an-email,nps-2024,11,,2999-01-01",
        "'not-an-email' is not a valid email address.; Score '11': Choose a score from 0 to "
        "10.; The date 2999-01-01 is in the future.",
    ),
]


@pytest.mark.parametrize(("row", "reason"), BAD_HISTORY)
def test_response_history_bad_rows(surveys, owner, row, reason):
    source = f"email,survey,score,comment,date\nok@example.com,nps-2024,9,,2024-01-01\n{row}\n"
    result = response_imports.import_responses(source=source.encode(), actor=owner, tz="UTC")
    assert [(e.line, e.reason) for e in result.errors] == [(3, reason)]
    assert Response.objects.count() == 0
    assert Contact.objects.count() == 0
    assert AuditLog.objects.count() == 0


def test_response_history_streams_a_file_and_reports_every_bad_line(surveys, owner, tmp_path):
    """A file is read as it is imported; errors name their lines in a file far beyond one
    read buffer, and a byte that is not UTF-8 names its own line."""
    lines = [f"p{n}@example.com,nps-2024,{n % 11},,2024-01-01T{n % 24:02d}:{n % 60:02d}:00"
             for n in range(5000)]  # fmt: skip
    lines[3999] = "p3999@example.com,nps-2024,12,,2024-01-01"
    path = tmp_path / "history.csv"
    path.write_text("email,survey,score,comment,date\n" + "\n".join(lines) + "\n")
    with path.open("rb") as handle:
        result = response_imports.import_responses(source=handle, actor=owner, tz="UTC")
    assert [(e.line, e.reason) for e in result.errors] == [
        (4001, "Score '12': Choose a score from 0 to 10.")
    ]
    assert Response.objects.count() == 0

    path.write_bytes(path.read_bytes().replace(b"p4500@", b"p\xff@"))
    with path.open("rb") as handle, pytest.raises(imports.ImportFileError) as caught:
        response_imports.import_responses(source=handle, actor=owner, tz="UTC")
    assert str(caught.value).startswith("The file is not UTF-8 (first bad byte on line 4502).")
    assert Response.objects.count() == 0


def test_response_history_header_must_be_right(surveys, owner):
    with pytest.raises(imports.ImportFileError) as caught:
        response_imports.import_responses(source=b"email,score,when\n", actor=owner)
    assert str(caught.value) == (
        "The header must be email,survey,score,date,comment "
        "(missing columns: survey, date; unknown columns: when)."
    )


def test_response_history_dry_run_writes_nothing(surveys, owner):
    result = response_imports.import_responses(
        source=HISTORY.encode(), actor=owner, tz="UTC", dry_run=True
    )
    assert result.counts == {"contacts_created": 2, "created": 3, "updated": 0, "unchanged": 0}
    assert (Response.objects.count(), Contact.objects.count(), AuditLog.objects.count()) == (
        0,
        0,
        0,
    )


def test_response_history_command_with_the_sample(surveys, db):
    SurveyFactory(slug="demo-nps")
    out = StringIO()
    call_command(
        "import_responses",
        str(SAMPLES / "responses.csv"),
        "--tz",
        "UTC",
        stdout=out,
        stderr=StringIO(),
    )
    assert "row(s) imported." in out.getvalue()
    assert Response.objects.filter(confirmed_via="import").count() == 5
    with pytest.raises(CommandError, match="Unknown time zone 'Mars/Base'"):
        call_command("import_responses", str(SAMPLES / "responses.csv"), "--tz", "Mars/Base")


def test_response_history_admin_page(client, surveys, owner):
    client.force_login(owner)
    url = reverse("admin:surveys_response_import")
    applied = upload(client, url, HISTORY.encode(), dry_run=False)
    assert applied.status_code == 302
    assert Response.objects.count() == 3


# --- Big files: worker and progress page ----------------------------------------------------


def test_big_admin_import_runs_as_a_job_with_a_progress_page(
    client, owner, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.IMPORT_SYNC_MAX_ROWS = 2
    settings.MEDIA_ROOT = tmp_path / "media"
    client.force_login(owner)
    source = b"email\n" + b"".join(f"p{i}@example.com\n".encode() for i in range(5))
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, reverse("admin:accounts_contact_import"), source, dry_run=False)
    assert response.status_code == 302
    page = client.get(response["Location"])
    body = page.content.decode()
    assert '<progress id="import-progress" max="100" value="100">' in body
    assert "contacts_created: 5" in body
    assert Contact.objects.count() == 5
    assert list((tmp_path / "media" / "imports").iterdir()) == []  # the upload is deleted
    # Someone else cannot see the job.
    client.force_login(StaffFactory(username="other", role=CS_STAFF))
    assert client.get(response["Location"]).status_code == 404


def test_big_admin_import_lists_bad_rows_and_writes_nothing(
    client, owner, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.IMPORT_SYNC_MAX_ROWS = 2
    settings.MEDIA_ROOT = tmp_path / "media"
    client.force_login(owner)
    source = b"email\na@example.com\nb@example.com\nnope\nc@example.com\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, reverse("admin:accounts_contact_import"), source, dry_run=False)
    body = client.get(response["Location"]).content.decode()
    assert "1 bad rows of 4; nothing was written." in body
    assert "<td>4</td><td>&#x27;nope&#x27; is not a valid email address.</td>" in body
    assert Contact.objects.count() == 0


def test_big_response_history_import_runs_as_a_job(
    client, surveys, owner, settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.IMPORT_SYNC_MAX_ROWS = 1
    settings.MEDIA_ROOT = tmp_path / "media"
    client.force_login(owner)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(
            client, reverse("admin:surveys_response_import"), HISTORY.encode(), dry_run=True
        )
    body = client.get(response["Location"]).content.decode()
    assert "Dry run: every row is valid; nothing was written." in body
    assert "created: 3" in body
    assert Response.objects.count() == 0


def test_licensed_seats_are_an_account_column(owner):
    result = imports.import_contacts(source=b"external_id,seats\nacme,25\nglobex,\n", actor=owner)
    assert result.ok and result.applied
    assert dict(Account.objects.values_list("external_id", "seats")) == {"acme": 25, "globex": None}
    bad = imports.import_contacts(source=b"external_id,seats\nacme,-3\nglobex,2.5\n", actor=owner)
    assert [(e.line, e.reason) for e in bad.errors] == [
        (2, "Seats '-3' is not a whole number of 0 or more."),
        (3, "Seats '2.5' is not a whole number of 0 or more."),
    ]
    assert Account.objects.get(external_id="acme").seats == 25
