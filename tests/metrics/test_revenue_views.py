"""Revenue pages and endpoints in the fast tier: input errors, roles, and the clear message on a
database that is not PostgreSQL (their numbers are tested on PostgreSQL in the integration tier:
tests/integration/test_revenue_pg.py)."""

import pytest
from django.db import connection

from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.mark.skipif(connection.vendor == "postgresql", reason="checks the non-PostgreSQL message")
def test_without_postgresql_the_page_and_api_say_so(staff_client, api_client):
    response = staff_client.get("/reports/revenue/")
    assert response.status_code == 503 and b"need PostgreSQL" in response.content
    assert staff_client.get("/reports/revenue/bridge.csv").status_code == 503
    api = api_client.get("/api/v1/metrics/revenue", {"start": "2025-01-01", "end": "2025-02-01"})
    assert api.status_code == 503 and "PostgreSQL" in api.json()["detail"]


def test_revenue_pages_need_the_reports_permission(client):
    client.force_login(StaffFactory(role=""))
    assert client.get("/reports/revenue/").status_code == 403
    assert client.get("/reports/revenue/movements.csv").status_code == 403
    client.logout()
    assert client.get("/reports/revenue/").status_code == 302
