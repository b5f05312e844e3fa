"""The answer path's own SQL (surveys/answering.py) and the announcement of saved answers."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from surveys import announcements, answering, services, tasks
from surveys.models import Invitation, Response
from surveys.signals import response_saved
from tests.factories import ContactFactory, InvitationFactory, SurveyFactory

pytestmark = pytest.mark.django_db

ALL_FIELDS = [f.attname for f in Response._meta.concrete_fields]


@pytest.fixture
def heard():
    """Every response_saved announcement, as (response_id, created)."""
    calls = []

    def receiver(sender, *, response_id, created, **kwargs):
        calls.append((response_id, created))

    response_saved.connect(receiver, dispatch_uid="test-heard")
    yield calls
    response_saved.disconnect(dispatch_uid="test-heard")


def as_stored(response: Response) -> dict:
    return {name: getattr(response, name) for name in ALL_FIELDS}


def test_lookup_loads_the_invitation_with_its_survey_and_contact_in_one_query():
    invitation = InvitationFactory(contact=ContactFactory(language="es"))
    with CaptureQueriesContext(connection) as queries:
        found = answering.invitation_for_token(invitation.token)
        values = (found.survey.name, found.contact.email, found.link_fetches, found.expires_at)
    assert len(queries) == 1
    assert values == (
        invitation.survey.name,
        invitation.contact.email,
        invitation.link_fetches,
        invitation.expires_at,
    )
    assert answering.invitation_for_token("x" * 43) is None


def test_lookup_for_an_answer_defers_everything_the_answer_does_not_read():
    invitation = InvitationFactory()
    found = answering.invitation_for_token(invitation.token, for_answer=True)
    loaded = {
        model: {f.attname for f in model._meta.concrete_fields} - instance.get_deferred_fields()
        for model, instance in (
            (Invitation, found),
            (type(found.survey), found.survey),
            (type(found.contact), found.contact),
        )
    }
    assert loaded == {model: set(fields) for model, fields in answering.ANSWER_FIELDS.items()}
    # A deferred field still reads correctly, at the price of a query.
    assert found.survey.name == invitation.survey.name


def test_the_returned_response_is_the_stored_row():
    invitation = InvitationFactory()
    first = services.record_answer(invitation=invitation, score=3, comment="slow", reason="")
    assert as_stored(first) == as_stored(Response.objects.get())
    later = services.record_answer(invitation=invitation, score=9, confirmed_via="tap")
    stored = Response.objects.get()
    assert as_stored(later) == as_stored(stored)
    # A re-answer keeps the identity and the time of the first answer, and a tap keeps the
    # comment given before; the score and how it was confirmed change.
    assert (stored.public_id, stored.answered_at, stored.comment) == (
        first.public_id,
        first.answered_at,
        "slow",
    )
    assert (stored.score, stored.category, stored.confirmed_via) == (9, 1, "tap")
    assert stored.updated_at > first.updated_at


def test_a_submit_replaces_the_comment_and_reason_even_with_empty_ones():
    survey = SurveyFactory(reason_options="Price\nSupport")
    invitation = InvitationFactory(survey=survey)
    services.record_answer(invitation=invitation, score=4, comment="pricey", reason="Price")
    services.record_answer(invitation=invitation, score=5, confirmed_via="typing")
    assert (Response.objects.get().comment, Response.objects.get().reason) == ("pricey", "Price")
    services.record_answer(invitation=invitation, score=5, comment="", reason="")
    assert (Response.objects.get().comment, Response.objects.get().reason) == ("", "")


def test_a_re_answer_keeps_a_staff_exclusion():
    invitation = InvitationFactory()
    first = services.record_answer(invitation=invitation, score=0)
    services.set_excluded(response_ids=[first.pk], excluded=True)
    again = services.record_answer(invitation=invitation, score=1)
    assert again.excluded is True
    assert Response.objects.get().excluded is True


@pytest.mark.parametrize(
    "closed",
    [
        {"status": Invitation.Status.REVOKED},
        {"status": Invitation.Status.SUPPRESSED},
        {"expires_at": timezone.now() - timedelta(minutes=1)},
    ],
)
def test_a_closed_invitation_writes_nothing(closed):
    invitation = InvitationFactory(**closed)
    with pytest.raises(ValidationError, match="closed"):
        services.record_answer(invitation=invitation, score=9)
    assert Response.objects.count() == 0
    assert Invitation.objects.get().answered_at is None


def test_an_answer_post_costs_two_statements(client):
    """The token lookup, then one statement that claims the invitation and upserts the
    response."""
    invitation = InvitationFactory()
    url = reverse("public:answer", args=[invitation.token])
    with CaptureQueriesContext(connection) as queries:
        result = client.post(url, {"score": "7", "comment": "ok"})
    assert result.status_code == 302
    assert result["Location"] == reverse("public:thanks", args=[invitation.token])
    statements = [q["sql"].split()[0] for q in queries.captured_queries]
    assert statements == ["SELECT", "WITH"]
    assert Response.objects.get().comment == "ok"


@pytest.mark.django_db(transaction=True, databases=["default", "answers"])
def test_answers_and_re_answers_with_prepared_statements(answers_connection):
    # Through the answers connection, more runs than its prepare threshold: the later ones use
    # statements PostgreSQL prepared, and store exactly what the first ones did.
    # Rows are committed here, so the eager announcer has run by the time they are read back.
    def stored_row(response):
        return {k: v for k, v in as_stored(response).items() if not k.startswith("announce")}

    for round_ in range(8):
        invitation = InvitationFactory()
        found = answering.invitation_for_token(invitation.token, for_answer=True)
        assert (found.pk, found.survey.kind, found.contact.language) == (
            invitation.pk,
            invitation.survey.kind,
            invitation.contact.language,
        )
        first = services.record_answer(invitation=invitation, score=round_, comment="first")
        assert stored_row(first) == stored_row(Response.objects.get(invitation=invitation))
        later = services.record_answer(invitation=invitation, score=10, confirmed_via="tap")
        stored = Response.objects.get(invitation=invitation)
        assert stored_row(later) == stored_row(stored)
        assert (stored.public_id, stored.answered_at, stored.comment) == (
            first.public_id,
            first.answered_at,
            "first",
        )
        assert (stored.score, stored.category, stored.confirmed_via) == (10, 1, "tap")
        assert Invitation.objects.get(pk=invitation.pk).answered_at == first.answered_at
    closed = InvitationFactory(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(ValidationError, match="closed"):
        services.record_answer(invitation=closed, score=9)
    assert not Response.objects.filter(invitation=closed).exists()
    assert Invitation.objects.get(pk=closed.pk).answered_at is None
    with answers_connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements")
        assert cursor.fetchone()[0] >= 2  # the lookup and the upsert


# --- Announcements -----------------------------------------------------------------------------


def test_each_save_is_announced_once_by_the_announcer(heard, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # nothing runs inline: the test runs the announcer
    invitation = InvitationFactory()
    first = services.record_answer(invitation=invitation, score=2)
    assert heard == []
    assert services.announce_saved_responses() == 1
    assert heard == [(first.pk, True)]
    assert services.announce_saved_responses() == 0
    services.record_answer(invitation=invitation, score=3)
    services.record_answer(invitation=invitation, score=4)
    assert services.announce_saved_responses() == 1  # two saves since: one announcement
    assert heard == [(first.pk, True), (first.pk, False)]
    stored = Response.objects.get()
    assert (stored.announce_pending, stored.announced_at is not None) == (False, True)


def test_the_announcer_works_in_batches(heard, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    answers = [services.record_answer(invitation=InvitationFactory(), score=9) for _ in range(5)]
    assert services.announce_saved_responses(batch=2) == 5
    assert sorted(heard) == sorted((response.pk, True) for response in answers)


def test_a_failing_receiver_does_not_stop_the_others(heard, settings, caplog):
    settings.CELERY_TASK_ALWAYS_EAGER = False

    def broken(sender, **kwargs):
        raise RuntimeError("receiver down")

    response_saved.connect(broken, dispatch_uid="test-broken")
    try:
        responses = [services.record_answer(invitation=InvitationFactory(), score=1)]
        responses.append(services.record_answer(invitation=InvitationFactory(), score=2))
        assert services.announce_saved_responses() == 2
    finally:
        response_saved.disconnect(dispatch_uid="test-broken")
    assert sorted(heard) == sorted((r.pk, True) for r in responses)
    failures = [r for r in caplog.records if r.name == "django.dispatch"]
    assert [str(r.exc_info[1]) for r in failures] == ["receiver down"] * 2


def test_imported_history_is_never_announced(heard):
    contact = ContactFactory()
    services.import_response(
        survey=SurveyFactory(), contact=contact, score=9, comment="", answered_at=timezone.now()
    )
    assert services.announce_saved_responses() == 0
    assert heard == []


def test_without_a_broker_the_answer_is_announced_in_the_request(
    heard, client, django_capture_on_commit_callbacks
):
    # Delivered a minute ago: an answer within seconds of delivery is a suspected bot's.
    invitation = InvitationFactory(sent_at=timezone.now() - timedelta(minutes=1))
    url = reverse("public:answer", args=[invitation.token])
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"score": "6"}).status_code == 302
    assert heard == [(Response.objects.get().pk, True)]


def test_with_a_broker_each_process_wakes_the_announcer_at_most_once_per_delay(
    settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.ANSWER_ANNOUNCE_DELAY = 60.0
    queued = []
    # The broker boundary: what would be published, and with which countdown.
    monkeypatch.setattr(
        tasks.announce_saved_responses, "apply_async", lambda *args, **kwargs: queued.append(kwargs)
    )
    monkeypatch.setattr(announcements, "_last_wake", float("-inf"))
    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            services.record_answer(invitation=InvitationFactory(), score=8)
    assert queued == [{"countdown": 60.0}]
    assert Response.objects.filter(announce_pending=True).count() == 3
    monkeypatch.setattr(announcements, "_last_wake", float("-inf"))  # the delay has passed
    with django_capture_on_commit_callbacks(execute=True):
        services.record_answer(invitation=InvitationFactory(), score=8)
    assert queued == [{"countdown": 60.0}, {"countdown": 60.0}]


def test_concurrent_announcers_announce_each_answer_once(transactional_db, settings):
    """Three workers' runs at once: SKIP LOCKED gives each answer to exactly one of them."""
    settings.CELERY_TASK_ALWAYS_EAGER = False  # nothing runs inline: the test runs the announcer
    answers = [services.record_answer(invitation=InvitationFactory(), score=9) for _ in range(150)]
    heard: list[int] = []
    lock = threading.Lock()

    def receiver(sender, *, response_id, created, **kwargs):
        assert created
        with lock:
            heard.append(response_id)

    response_saved.connect(receiver, dispatch_uid="test-concurrent")
    barrier = threading.Barrier(3)
    counts = []

    def run() -> None:
        try:
            barrier.wait()
            counts.append(services.announce_saved_responses(batch=10))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(3)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        response_saved.disconnect(dispatch_uid="test-concurrent")
    assert sum(counts) == 150
    assert sorted(heard) == sorted(response.pk for response in answers)
    assert not Response.objects.filter(announce_pending=True).exists()
