"""The answer path's single statement and the announcer on the real PostgreSQL."""

import threading
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone

from surveys import services
from surveys.models import Invitation, Response
from surveys.signals import response_saved
from tests.factories import InvitationFactory

pytestmark = pytest.mark.integration

ALL_FIELDS = [f.attname for f in Response._meta.concrete_fields]


def as_stored(response: Response) -> dict:
    return {name: getattr(response, name) for name in ALL_FIELDS}


@pytest.mark.django_db
def test_answers_and_re_answers_on_postgresql():
    assert connection.vendor == "postgresql"
    # More runs than psycopg's prepare threshold: the later ones use the prepared statements.
    for round_ in range(8):
        invitation = InvitationFactory()
        first = services.record_answer(invitation=invitation, score=round_, comment="first")
        assert as_stored(first) == as_stored(Response.objects.get(invitation=invitation))
        later = services.record_answer(invitation=invitation, score=10, confirmed_via="tap")
        stored = Response.objects.get(invitation=invitation)
        assert as_stored(later) == as_stored(stored)
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


def test_concurrent_announcers_announce_each_answer_once(transactional_db):
    """Three workers' runs at once: SKIP LOCKED gives each answer to exactly one of them."""
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
