"""Every way the app writes answers keeps the rollups exact: the answer page's one-statement
upsert (new answers and re-answers), exclusion and restore, quarantine and release, erasure,
the staged CSV import, deleted accounts and surveys; and a rebuild running beside answers."""

from __future__ import annotations

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from accounts.models import Account
from metrics import rollups
from surveys import imports, privacy, services
from surveys.models import Response
from tests.factories import AccountFactory, ContactFactory, InvitationFactory, SurveyFactory
from tests.metrics.beside import rebuild_beside

pytestmark = pytest.mark.django_db


def _rows(using: str = "default") -> dict[tuple, tuple]:
    """{(survey, account, grain, period): (positive, neutral, negative, s0..s10)}, non-zero."""
    columns = ", ".join(rollups.COLUMNS)
    with connections[using].cursor() as cursor:
        cursor.execute(
            f"SELECT survey_id, account_id, grain, period, {columns} FROM {rollups.TABLE}"
        )
        return {tuple(row[:4]): tuple(row[4:]) for row in cursor.fetchall() if any(row[4:])}


def _counts(positive=0, neutral=0, negative=0, **scores) -> tuple:
    """A rollup row's counts, by hand: categories, then answers per score 0..10."""
    return (positive, neutral, negative, *(scores.get(f"s{k}", 0) for k in range(11)))


def _assert_rebuild_agrees() -> None:
    kept = _rows()
    rollups.rebuild()
    assert _rows() == kept


def test_answer_reanswer_exclude_quarantine_release_and_erase():
    account = AccountFactory()
    survey = SurveyFactory()
    invitation = InvitationFactory(survey=survey, contact=ContactFactory(account=account))
    today = dt.datetime.now(dt.UTC).date()
    day, month = (
        (survey.pk, account.pk, "d", today),
        (survey.pk, account.pk, "m", today.replace(day=1)),
    )

    response = services.record_answer(invitation=invitation, score=9)
    assert _rows() == {day: _counts(positive=1, s9=1), month: _counts(positive=1, s9=1)}

    # A re-answer through the same statement (ON CONFLICT ... DO UPDATE): 9 becomes 3.
    services.record_answer(invitation=invitation, score=3)
    assert _rows() == {day: _counts(negative=1, s3=1), month: _counts(negative=1, s3=1)}

    services.set_excluded(response_ids=[response.pk], excluded=True)
    assert _rows() == {}
    services.set_excluded(response_ids=[response.pk], excluded=False)
    assert _rows()[day] == _counts(negative=1, s3=1)

    Response.objects.filter(pk=response.pk).update(excluded=True, quarantined=True)
    assert _rows() == {}
    assert services.release_responses(response_ids=[response.pk]) == 1
    assert _rows()[month] == _counts(negative=1, s3=1)

    # Erasure keeps the answer, anonymously: it still counts.
    privacy.erase_contact(contact=invitation.contact, actor=None)
    assert _rows()[month] == _counts(negative=1, s3=1)
    _assert_rebuild_agrees()


def test_the_staged_import_and_deletes_keep_the_rows_exact():
    account = AccountFactory()
    contact = ContactFactory(account=account)
    survey = SurveyFactory()
    source = (
        "email,survey,score,date\n"
        f"{contact.email},{survey.slug},10,2024-05-01\n"
        f"{contact.email},{survey.slug},7,2024-05-31\n"
        f"{contact.email},{survey.slug},0,2024-06-01\n"
    )
    assert imports.import_responses(source=source, tz="UTC").counts["created"] == 3
    may = (survey.pk, account.pk, "m", dt.date(2024, 5, 1))
    june = (survey.pk, account.pk, "m", dt.date(2024, 6, 1))
    rows = _rows()
    assert rows[may] == _counts(positive=1, neutral=1, s10=1, s7=1)
    assert rows[june] == _counts(negative=1, s0=1)
    assert rows[(survey.pk, account.pk, "d", dt.date(2024, 5, 31))] == _counts(neutral=1, s7=1)
    # The same file again changes nothing.
    imports.import_responses(source=source, tz="UTC")
    assert _rows() == rows

    # A deleted account: its answers stay, without an account (0).
    Account.objects.filter(pk=account.pk).delete()
    rows = _rows()
    assert (survey.pk, account.pk, "m", dt.date(2024, 5, 1)) not in rows
    assert rows[(survey.pk, 0, "m", dt.date(2024, 5, 1))] == _counts(
        positive=1, neutral=1, s10=1, s7=1
    )
    _assert_rebuild_agrees()

    # Deleted answers take what they counted with them.
    Response.objects.filter(survey=survey).delete()
    assert _rows() == {}


def test_the_rebuild_command():
    survey = SurveyFactory()
    contact = ContactFactory()
    Response.objects.create(
        survey=survey, contact=contact, account=contact.account, score=10, category=1
    )
    kept = _rows()
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {rollups.TABLE}")  # as after a restore without them
    out = io.StringIO()
    call_command("rebuild_rollups", "--since", "2000-01-15", stdout=out)
    assert "Rebuilt the answer rollups: 2 rows" in out.getvalue()
    assert "Rebuilt the invitation rollups" in out.getvalue()
    assert _rows() == kept
    with pytest.raises(CommandError, match="--since: '2024-13-01' is not a date"):
        call_command("rebuild_rollups", "--since", "2024-13-01")


@pytest.mark.django_db(transaction=True)
def test_a_rebuild_beside_answers_stays_exact():
    """Answers keep arriving (other connections, committed one by one) while the rollups are
    rebuilt month by month; afterwards the rows equal a quiet rebuild's."""
    survey = SurveyFactory()
    contacts = [ContactFactory(account=AccountFactory()) for _i in range(4)]
    history = [
        Response(
            survey=survey,
            contact=contacts[i % 4],
            account=contacts[i % 4].account,
            score=i % 11,
            category=survey.category_of(i % 11),
            answered_at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=3 * i),
        )
        for i in range(150)
    ]
    Response.objects.bulk_create(history)
    invitations = [InvitationFactory(survey=survey, contact=contacts[i % 4]) for i in range(30)]

    def answer():
        for index, invitation in enumerate(invitations):
            services.record_answer(invitation=invitation, score=index % 11)

    errors = rebuild_beside(answer, rollups.rebuild)
    assert errors == []
    assert Response.objects.count() == 180
    kept = _rows()
    rollups.rebuild()
    assert _rows() == kept
    # And by hand: the 30 answers given today, scores 0..10 in turn.
    today = dt.datetime.now(dt.UTC).date()
    total = sum(
        counts[0] + counts[1] + counts[2]
        for (survey_id, _account, grain, period), counts in kept.items()
        if grain == "d" and period == today
    )
    assert total == 30
