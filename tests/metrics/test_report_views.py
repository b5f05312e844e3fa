"""Report pages: content, filters, escaping, access, and a query count independent of data size."""

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from metrics.models import HealthSettings
from surveys.models import Kind
from tests.factories import (
    AccountFactory,
    CesSurveyFactory,
    ContactFactory,
    CsatSurveyFactory,
    InvitationFactory,
    ResponseFactory,
    SurveyFactory,
    TicketFactory,
    UsageFactory,
)

pytestmark = pytest.mark.django_db
PROPERTY_ERROR = (
    "Use key=value (account.key=value for an account property); the key has letters, "
    "digits and single underscores only."
)


def _answers(survey, account, scores, *, when=None, comment=""):
    when = when or timezone.now() - dt.timedelta(days=1)
    contact = ContactFactory(account=account)
    for score in scores:
        ResponseFactory(
            invitation=InvitationFactory(survey=survey, contact=contact),
            score=score,
            answered_at=when,
            comment=comment,
        )


def _dataset(size: int):
    nps = SurveyFactory(slug="rel")
    csat = CsatSurveyFactory(slug="support")
    ces = CesSurveyFactory(slug="effort")
    for i in range(size):
        account = AccountFactory(
            plan=["Starter", "Business"][i % 2], currency=["USD", "BRL"][i % 2]
        )
        _answers(nps, account, [10, 9, 3][: 1 + i % 3])
        _answers(csat, account, [5, 2])
        _answers(ces, account, [6])
    return nps


def test_dashboard_requires_staff(client, django_user_model):
    response = client.get(reverse("reports:dashboard"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


def test_dashboard_shows_no_data_not_zero(staff_client):
    SurveyFactory(slug="rel")
    response = staff_client.get(reverse("reports:dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="tile-nps"' in html
    assert "No data" in html


def test_dashboard_tiles_and_tables(staff_client):
    _dataset(4)
    response = staff_client.get(reverse("reports:dashboard"), {"group_by": "plan"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "<svg" in html and "kozea.github.io" not in html
    assert 'id="breakdown"' in html and "Starter" in html and "Business" in html
    assert 'data-currency="USD"' in html and 'data-currency="BRL"' in html
    tiles = {tile["kind"]: tile for tile in response.context["tiles"]}
    assert tiles[Kind.NPS]["result"]["n"] == 1 + 2 + 3 + 1
    assert tiles[Kind.CSAT]["result"]["share"].pct == 50.0
    assert tiles[Kind.CES]["result"]["share"].pct == 100.0


@pytest.mark.parametrize("size", [1, 6])
def test_dashboard_query_count_is_bounded(staff_client, django_assert_max_num_queries, size):
    _dataset(size)
    # 17: the revenue table reads each account's MRR at the report date from the ledger;
    # 20: health reads open tickets, usage and the ledger trend (three statements).
    # 23: the survey ids of the kind, and each account's latest answer (the account counts
    # read the rollups and the edge hours apart).
    with django_assert_max_num_queries(23):
        response = staff_client.get(reverse("reports:dashboard"), {"kind": "nps"})
    assert response.status_code == 200


def test_dashboard_rejects_bad_filters_with_messages(staff_client):
    response = staff_client.get(
        reverse("reports:dashboard"),
        {"start": "2026-02-01", "end": "2026-01-01", "tz": "Mars/Base", "prop": "bad key"},
    )
    assert response.status_code == 400
    errors = response.context["form"].errors
    assert errors["end"] == ["The end date is before the start date."]
    assert errors["tz"] == ["Unknown time zone Mars/Base: choose one from the list."]
    assert errors["prop"] == [PROPERTY_ERROR]
    assert "tiles" not in response.context  # no numbers for other filters than these


@pytest.mark.parametrize("size", [1, 8])
def test_account_list_query_count_is_bounded(staff_client, django_assert_max_num_queries, size):
    _dataset(size)
    # Scores of every account from light rows, then one query for the page's full accounts.
    # 15: health's inputs from tickets, usage and the ledger (3), the page's 30-day trends (1).
    # 17: the counts from the rollups and the edge hours, then each account's latest answer.
    with django_assert_max_num_queries(17):
        response = staff_client.get(reverse("reports:accounts"), {"sort": "health", "desc": "on"})
    assert response.status_code == 200
    assert response.context["total"] == size


def test_account_list_filters_detractors_renewing_soon(staff_client):
    survey = SurveyFactory()
    today = timezone.localdate()
    soon_bad = AccountFactory(name="Soon bad", renewal_date=today + dt.timedelta(days=10))
    soon_good = AccountFactory(name="Soon good", renewal_date=today + dt.timedelta(days=10))
    late_bad = AccountFactory(name="Late bad", renewal_date=today + dt.timedelta(days=200))
    _answers(survey, soon_bad, [2, 3])
    _answers(survey, soon_good, [10, 9])
    _answers(survey, late_bad, [1])
    response = staff_client.get(
        reverse("reports:accounts"), {"at_risk": "on", "renewing_days": "30"}
    )
    names = [row.account.name for row in response.context["page"]]
    assert names == ["Soon bad"]


def test_account_page_escapes_comments_and_shows_breakdown(
    staff_client, django_assert_max_num_queries
):
    survey = SurveyFactory()
    account = AccountFactory(external_id="acme", seats=10)
    TicketFactory.create_batch(2, account=account)  # open: support 100 x (1 - 2/5) = 60
    UsageFactory(account=account, value=8)  # 8 of 10 seats active: adoption 80
    _answers(survey, account, [9], comment="<script>alert(1)</script>")
    # 15: the MRR history and movements read the account's ledger; 20: the support and
    # adoption cards read its tickets (figures, months), usage (windows, days) and milestones;
    # 25: health's inputs (3) and its history (snapshots, 2 with the settings version).
    # 28: the account counts (rollups, edge hours, latest answer) and the survey ids of a trend.
    with django_assert_max_num_queries(28):
        response = staff_client.get(reverse("reports:account", args=["acme"]))
    html = response.content.decode()
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    components = {c.name: c for c in response.context["row"].health.components}
    assert components["nps"].value == 100.0
    assert components["support"].value == 60.0
    assert components["adoption"].value == 80.0
    assert components["csat"].value is None


def test_account_page_unknown_account_is_404(staff_client):
    assert staff_client.get(reverse("reports:account", args=["nope"])).status_code == 404


def test_health_settings_change_the_score(staff_client):
    survey = SurveyFactory()
    account = AccountFactory(external_id="acme", seats=10)
    UsageFactory(account=account, value=0)  # nobody active: adoption 0
    _answers(survey, account, [10])
    HealthSettings.objects.create(
        pk=1,
        weight_nps=0,
        weight_csat=0,
        weight_ces=0,
        weight_recency=0,
        weight_support=0,
        weight_adoption=10,
        weight_revenue=0,
        red_below=40,
        green_from=70,
    )
    response = staff_client.get(reverse("reports:account", args=["acme"]))
    assert response.context["row"].health.score == 0.0
    assert response.context["row"].health.colour == "red"
    assert Account.objects.get().mrr == Decimal("100.00")
