"""Revenue pages: roles and input errors (their numbers: tests/metrics/test_revenue_reports.py)."""

import pytest

from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def test_revenue_pages_need_the_reports_permission(client):
    client.force_login(StaffFactory(role=""))
    assert client.get("/reports/revenue/").status_code == 403
    assert client.get("/reports/revenue/movements.csv").status_code == 403
    client.logout()
    assert client.get("/reports/revenue/").status_code == 302


def test_bad_filters_are_a_400_with_the_form(staff_client):
    response = staff_client.get("/reports/revenue/", {"start": "2025-03-01", "end": "2025-02-01"})
    assert response.status_code == 400
    assert b"Fix the filters above" in response.content
    assert (
        staff_client.get("/reports/revenue/bridge.csv", {"tz": "Nowhere/City"}).status_code == 400
    )
