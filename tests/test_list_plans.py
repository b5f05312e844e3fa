"""The API's lists over the big tables read a range of an index, newest first: no sort of the
whole table, whatever its size (checked on the plans of real pages)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import CS_STAFF
from surveys.models import Response
from tests.factories import InvitationFactory, ResponseFactory, StaffFactory

pytestmark = pytest.mark.django_db


def _plans_of_pages(path: str, table: str) -> list[str]:
    token, _ = Token.objects.get_or_create(user=StaffFactory(username="cs", role=CS_STAFF))
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    with CaptureQueriesContext(connection) as captured:
        first = api.get(path, {"page_size": 2})
        assert first.status_code == 200
        assert api.get(first.json()["next"]).status_code == 200
    plans = []
    with connection.cursor() as cursor:
        for query in captured.captured_queries:
            sql = query["sql"]
            if f'FROM "{table}"' in sql and "ORDER BY" in sql and "LIMIT" in sql:
                cursor.execute(f"EXPLAIN {sql}")
                plans.append("\n".join(row[0] for row in cursor.fetchall()))
    assert len(plans) == 2
    return plans


def test_response_pages_read_the_time_index():
    first = ResponseFactory()
    now = timezone.now()
    Response.objects.bulk_create(
        Response(
            survey_id=first.survey_id,
            contact_id=first.contact_id,
            account_id=first.account_id,
            score=n % 11,
            category=0,
            answered_at=now - dt.timedelta(minutes=n),
        )
        for n in range(5000)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE surveys_response")
    for plan in _plans_of_pages("/api/v1/responses", "surveys_response"):
        assert "response_answered_id" in plan, plan
        assert "Seq Scan on surveys_response" not in plan, plan


def test_invitation_pages_read_the_creation_index():
    InvitationFactory.create_batch(5)
    for plan in _plans_of_pages("/api/v1/invitations", "surveys_invitation"):
        assert "Seq Scan on surveys_invitation" not in plan, plan
        assert "created_at" in plan and "Index" in plan, plan
