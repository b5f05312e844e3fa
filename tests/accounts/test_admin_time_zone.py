"""The admin's own change lists and change forms name the zone of the times they show."""

import datetime as dt
import re

import pytest

from accounts.roles import ADMINISTRATORS
from accounts.templatetags.staff_time import staff_time
from surveys.models import Campaign, Referral
from tests.factories import ResponseFactory, StaffFactory, SurveyFactory

pytestmark = pytest.mark.django_db

# 12:30 UTC on 2026-03-01 is 09:30 in São Paulo (UTC-3, no daylight saving in 2026).
AT = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)


@pytest.fixture
def admin_in_sao_paulo(client):
    user = StaffFactory(username="root", role=ADMINISTRATORS, is_superuser=True)
    client.force_login(user)
    assert client.post("/profile/", {"time_zone": "America/Sao_Paulo"}).status_code == 302
    return user


def test_change_list_headers_name_the_zone_of_datetime_columns(client, admin_in_sao_paulo):
    Referral.objects.create(
        response=ResponseFactory(), name="Bea", email="bea@example.com", created_at=AT
    )
    page = client.get("/admin/surveys/referral/").content.decode()
    headers = re.findall(r'<th scope="col" class="([^"]*)">(.*?)</th>', page, re.S)
    by_column = {
        re.search(r"column-(\w+)", cls).group(1): " ".join(re.sub(r"<[^>]+>", " ", text).split())
        for cls, text in headers
        if "column-" in cls
    }
    assert by_column["created_at"] == "Created at (America/Sao_Paulo)"
    assert by_column["name"] == "Name"  # not a datetime: no zone
    # The cell itself is in the staff member's zone: 09:30, not 12:30.
    assert "March 1, 2026, 9:30 a.m." in page


def test_change_form_names_the_zone_under_datetime_fields(client, admin_in_sao_paulo):
    campaign = Campaign.objects.create(survey=SurveyFactory(), name="Spring", created_at=AT)
    page = client.get(f"/admin/surveys/campaign/{campaign.pk}/change/").content.decode()
    created = page[page.index("field-created_at") :]
    created = created[: created.index("</fieldset>")]
    assert "Time zone: America/Sao_Paulo" in created
    assert "March 1, 2026, 9:30 a.m." in created
    name = page[page.index("field-name") :]
    name = name[: name.index('<div class="form-row')]
    assert "Time zone:" not in name


def test_staff_time_names_the_zone_not_an_offset(settings):
    from django.utils import timezone

    with timezone.override("America/Sao_Paulo"):
        assert staff_time(AT) == "2026-03-01 09:30 America/Sao_Paulo"
    with timezone.override("Asia/Kolkata"):
        assert staff_time(AT) == "2026-03-01 18:00 Asia/Kolkata"
    assert staff_time(None) == ""


def test_big_lists_write_times_in_the_zone_named_by_the_header(client, admin_in_sao_paulo):
    """The answers' and invitations' lists write "2026-03-01 09:30" (São Paulo, 12:30 UTC), the
    header naming the zone; a time not reached yet is a dash; the column still sorts."""
    from tests.factories import InvitationFactory

    ResponseFactory(answered_at=AT)
    InvitationFactory(created_at=AT, sent_at=AT + dt.timedelta(hours=15), clicked_at=None)
    for path, column in [
        ("/admin/surveys/response/", "answered_at"),
        ("/admin/surveys/invitation/", "created_at"),
    ]:
        page = client.get(path).content.decode()
        header = re.search(
            rf'<th scope="col" class="[^"]*column-{column}[^"]*">(.*?)</th>', page, re.S
        )
        assert "(America/Sao_Paulo)" in header.group(1)
        # The first column is the row's link to its change form.
        assert re.search(rf'class="field-{column}">(<a [^>]*>)?2026-03-01 09:30<', page)
    # 03:30 UTC the next day is still 2026-03-02 00:30 in São Paulo.
    assert '<td class="field-sent_at">2026-03-02 00:30</td>' in page
    assert '<td class="field-clicked_at">-</td>' in page
    ordered = client.get("/admin/surveys/invitation/", {"o": "7"})
    assert ordered.status_code == 200
    assert ordered.context["cl"].get_ordering_field_columns() == {7: "asc"}
