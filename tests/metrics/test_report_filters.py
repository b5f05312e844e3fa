"""Bug 1: one invalid report filter silently dropped every other filter (`?plan=Enterprise`
showed n = 52, adding `&tz=Bad/Zone` showed n = 139 with "Enterprise" still selected). A page
now shows the errors and no numbers at all; the time zone is a select of IANA names."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.roles import ADMINISTRATORS
from metrics.forms import ReportFilterForm
from tests.factories import (
    AccountFactory,
    ContactFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_user_client(client):
    client.force_login(StaffFactory(username="boss", role=ADMINISTRATORS))
    return client


@pytest.fixture
def answers():
    survey = SurveyFactory(slug="rel")
    enterprise = AccountFactory(plan="Enterprise")
    starter = AccountFactory(plan="Starter")
    yesterday = timezone.now() - dt.timedelta(days=1)
    for account, scores in ((enterprise, [10, 9]), (starter, [0, 3, 5, 8, 10])):
        contact = ContactFactory(account=account)
        for score in scores:
            ResponseFactory(
                invitation=InvitationFactory(survey=survey, contact=contact),
                score=score,
                answered_at=yesterday,
            )
    return survey


def nps_tile_n(response) -> int:
    return next(t for t in response.context["tiles"] if t["kind"] == "nps")["result"]["n"]


def test_a_valid_filter_narrows_the_numbers(admin_user_client, answers):
    everyone = admin_user_client.get(reverse("reports:dashboard"))
    enterprise = admin_user_client.get(reverse("reports:dashboard"), {"plan": "Enterprise"})
    assert (nps_tile_n(everyone), nps_tile_n(enterprise)) == (7, 2)


@pytest.mark.parametrize(
    ("bad", "field", "message"),
    [
        ({"tz": "Bad/Zone"}, "tz", "Unknown time zone Bad/Zone: choose one from the list."),
        (
            {"prop": "bad key=1"},
            "prop",
            "Use key=value (account.key=value for an account property); the key has letters, "
            "digits and single underscores only.",
        ),
        (
            {"start": "2026-02-01", "end": "2026-01-01"},
            "end",
            "The end date is before the start date.",
        ),
        ({"start": "2026-13-45"}, "start", "Enter a date as YYYY-MM-DD, e.g. 2025-01-31."),
        # Used to overflow (a 500) when the day after the end was computed.
        ({"end": "9999-12-31"}, "end", "Use a date from 1900-01-01 to 2999-12-31."),
        (
            {"granularity": "day", "start": "2000-01-01", "end": "2025-12-31"},
            "granularity",
            "A trend by Day over this period has 9497 points (at most 1200): choose a coarser "
            "one or a shorter period.",
        ),
        (
            {"window": "45"},
            "window",
            "Select a valid choice. 45 is not one of the available choices.",
        ),
    ],
)
def test_an_invalid_filter_shows_its_error_and_no_numbers(
    admin_user_client, answers, bad, field, message
):
    response = admin_user_client.get(reverse("reports:dashboard"), {"plan": "Enterprise", **bad})
    assert response.status_code == 400
    assert response.context["form"].errors[field] == [message]
    # No numbers at all: not the unfiltered ones (n = 7), not even the plan's own (n = 2).
    for name in ("tiles", "data", "trend", "funnel", "revenue", "distributions"):
        assert name not in response.context
    html = response.content.decode()
    assert 'id="filter-errors"' in html
    assert "data-score=" not in html and 'id="breakdown"' not in html
    # The filters stay displayed as the user gave them.
    assert re.search(r'<option value="Enterprise" selected>', html)


def test_the_time_zone_is_a_searchable_box_of_iana_names(admin_user_client, answers):
    page = admin_user_client.get(reverse("reports:dashboard"), {"tz": "America/Sao_Paulo"})
    assert page.status_code == 200
    html = page.content.decode()
    box = re.search(r'<input type="text" name="tz"[^>]*>', html).group(0)
    assert 'value="America/Sao_Paulo"' in box
    assert 'list="id_tz-zones"' in box
    assert 'placeholder="Default (UTC)"' in box
    zones = re.search(r'<datalist id="id_tz-zones">(.*?)</datalist>', html, re.S).group(1)
    assert '<option value="Europe/Lisbon">' in zones
    assert str(page.context["filters"].period.tz) == "America/Sao_Paulo"
    # The filters in force are summarised above the numbers, in words.
    assert re.search(r'id="filter-summary">.*Time zone <strong>America/Sao Paulo</strong>', html)


def test_an_invalid_form_has_no_filters():
    form = ReportFilterForm({"plan": "", "tz": "Bad/Zone"})
    assert not form.is_valid()
    with pytest.raises(ValueError, match="no filters"):
        form.filters()


def test_the_accounts_list_never_lists_accounts_for_other_filters(admin_user_client, answers):
    response = admin_user_client.get(
        reverse("reports:accounts"), {"plan": "Enterprise", "renewing_days": "-3"}
    )
    assert response.status_code == 400
    assert response.context["form"].errors["renewing_days"] == [
        "Ensure this value is greater than or equal to 0."
    ]
    assert "page" not in response.context and "revenue" not in response.context
    assert 'id="accounts"' not in response.content.decode()


def test_the_export_form_refuses_an_unknown_time_zone(admin_user_client, answers):
    response = admin_user_client.post(
        reverse("reports:exports"), {"format": "csv", "tz": "Bad/Zone", "plan": "Enterprise"}
    )
    assert response.status_code == 200
    assert response.context["form"].errors["tz"] == [
        "Unknown time zone Bad/Zone: choose one from the list."
    ]
    assert response["Content-Type"].startswith("text/html")
