"""A staff member's own time zone: chosen on their settings page, used on every staff page."""

import datetime as dt

import pytest
from django.utils import timezone

from accounts.models import StaffProfile
from accounts.roles import CS_STAFF
from tests.factories import AccountFactory, ContactFactory, ResponseFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = StaffFactory(username="ana", role=CS_STAFF)
    client.force_login(user)
    return user


def test_default_is_the_site_zone_and_pages_say_it(client, staff, settings):
    page = client.get("/profile/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'placeholder="Default (UTC)"' in body
    assert 'id="profile-link"' in body and "· <span" in body and "</span>UTC</a>" in body


def test_chosen_zone_is_used_for_times_and_reports(client, staff):
    answered = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
    response = ResponseFactory(
        score=3, answered_at=answered, invitation__contact=ContactFactory(account=AccountFactory())
    )
    page = client.post("/profile/", {"time_zone": "America/Sao_Paulo"})
    assert page.status_code == 302
    assert StaffProfile.objects.get(user=staff).time_zone == "America/Sao_Paulo"
    body = client.get(f"/followups/{response.public_id}/").content.decode()
    # 12:30 UTC is 09:30 in São Paulo (UTC-3, no daylight saving in 2026).
    assert "2026-03-01 09:30 America/Sao_Paulo" in body
    assert "09:30 -03" not in body
    report = client.get("/reports/")
    assert str(report.context["filters"].period.tz) == "America/Sao_Paulo"
    # The admin says which zone its times are in, with a link to change it.
    admin = client.get("/admin/").content.decode()
    assert '<a href="/profile/" id="admin-time-zone">Times in America/Sao_Paulo</a>' in admin
    # A new sign-in keeps it (the session is filled at sign-in, without a query per page).
    client.logout()
    client.force_login(staff)
    assert "</span>America/Sao_Paulo</a>" in client.get("/profile/").content.decode()
    assert timezone.get_current_timezone_name() == "UTC"  # nothing leaks out of the request


def test_unknown_zone_is_a_400_naming_the_field_and_nothing_is_saved(client, staff):
    page = client.post("/profile/", {"time_zone": "Mars/Olympus"})
    assert page.status_code == 400
    assert "Unknown time zone Mars/Olympus" in page.content.decode()
    assert not StaffProfile.objects.exists()


def test_clearing_the_zone_goes_back_to_the_site_default(client, staff):
    client.post("/profile/", {"time_zone": "Europe/Lisbon"})
    client.post("/profile/", {"time_zone": ""})
    assert StaffProfile.objects.get(user=staff).time_zone == ""
    assert "</span>UTC</a>" in client.get("/profile/").content.decode()


def test_profile_needs_a_staff_sign_in(client):
    assert client.get("/profile/").status_code == 302
