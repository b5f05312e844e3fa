"""Revenue per currency, the response funnel, property filters and the health settings admin."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.models import Account
from metrics import selectors
from metrics.models import HealthSettings
from surveys.models import Invitation, Kind
from tests.factories import (
    AccountFactory,
    ContactFactory,
    InvitationFactory,
    ResponseFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.django_db


def _answers(survey, account, scores, **invitation_kwargs):
    contact = ContactFactory(account=account)
    for score in scores:
        ResponseFactory(
            invitation=InvitationFactory(survey=survey, contact=contact, **invitation_kwargs),
            score=score,
            answered_at=timezone.now() - dt.timedelta(days=2),
        )


def test_revenue_is_per_currency_and_never_mixed():
    survey = SurveyFactory()
    promoter_usd = AccountFactory(mrr=Decimal("100.00"), currency="USD")
    detractor_usd = AccountFactory(mrr=Decimal("300.00"), currency="USD")
    silent_usd = AccountFactory(mrr=Decimal("10.50"), currency="USD")  # no answers, no inputs
    passive_brl = AccountFactory(mrr=Decimal("1000.00"), currency="BRL")
    churned_brl = AccountFactory(mrr=Decimal("999.00"), currency="BRL", status="churned")
    _answers(survey, promoter_usd, [10, 9])
    _answers(survey, detractor_usd, [2])
    _answers(survey, passive_brl, [8])
    _answers(survey, churned_brl, [0])

    rows = selectors.account_rows()
    lines = {line.currency: line for line in selectors.revenue(rows)}
    silent = next(row for row in rows if row.account == silent_usd)
    assert (silent.health.score, silent.health.colour, silent.at_risk) == (None, None, False)

    assert list(lines) == ["BRL", "USD"]  # largest ARR first, each currency on its own line
    usd, brl = lines["USD"], lines["BRL"]
    assert usd.accounts == 3
    assert usd.arr == Decimal("4926.00")
    assert usd.arr_promoter == Decimal("1200.00")
    assert usd.arr_detractor == Decimal("3600.00")
    assert usd.arr_no_answer == Decimal("126.00")
    assert usd.arr_passive == Decimal("0")
    # The detractor account is at risk; the silent one has no health score ("no data").
    assert usd.arr_at_risk == Decimal("3600.00")
    # (100 * 1200 + -100 * 3600) / 4800
    assert usd.revenue_weighted_nps == pytest.approx(-50.0)
    assert brl.accounts == 1  # the churned account holds no ARR
    assert brl.arr == Decimal("12000.00")
    assert brl.arr_passive == Decimal("12000.00")
    assert brl.revenue_weighted_nps == 0.0
    assert all(isinstance(line.arr, Decimal) for line in lines.values())


def test_revenue_without_accounts_is_empty():
    assert selectors.revenue(selectors.account_rows()) == []


def test_funnel_counts_per_survey():
    survey = SurveyFactory(name="Relational")
    now = timezone.now()
    bounced = InvitationFactory(survey=survey, sent_at=now, bounced_at=now)
    InvitationFactory(survey=survey, sent_at=now, clicked_at=now, unsubscribed_at=now)
    InvitationFactory(survey=survey, sent_at=now)
    InvitationFactory(
        survey=survey,
        status=Invitation.Status.SUPPRESSED,
        sent_at=None,
        suppression_reason="throttled",
    )
    answered = InvitationFactory(survey=survey, sent_at=now, answered_at=now)
    ResponseFactory(invitation=answered, score=10)
    today = timezone.localdate()
    period = selectors.Period(today - dt.timedelta(days=1), today, dt.UTC)

    (row,) = selectors.funnel(filters=selectors.Filters(period=period, kind=Kind.NPS))

    # Clicked: the page opened by a person (clicked_at) or a counted answer.
    assert (row["name"], row["invited"], row["sent"], row["clicked"], row["answered"]) == (
        "Relational",
        5,
        4,
        2,
        1,
    )
    assert (row["bounced"], row["unsubscribed"]) == (1, 1)
    assert row["response_rate"].pct == 25.0
    assert bounced.contact.bounced_at is None  # only the invitation's own outcome counts


def test_property_filter_uses_invitation_properties():
    survey = SurveyFactory()
    account = AccountFactory()
    _answers(survey, account, [10], properties={"channel": "chat"})
    _answers(survey, account, [0, 1], properties={"channel": "email"})
    period = selectors.Period(None, None, dt.UTC)
    chat = selectors.score_summary(
        filters=selectors.Filters(
            period=period, kind=Kind.NPS, property_key="channel", property_value="chat"
        )
    )
    assert (chat["n"], chat["nps"].score) == (1, 100.0)


def test_kind_summaries_cover_every_kind_and_ignore_the_survey_choice():
    survey = SurveyFactory()
    _answers(survey, AccountFactory(), [10, 0])
    period = selectors.Period(None, None, dt.UTC)
    result = selectors.kind_summaries(
        filters=selectors.Filters(period=period, kind=Kind.CSAT, surveys=(999,))
    )
    assert set(result) == set(Kind.values)
    assert result[Kind.NPS]["nps"].score == 0.0
    assert result[Kind.CSAT]["n"] == 0 and result[Kind.CSAT]["share"].pct is None


def test_health_settings_validation():
    settings_row = HealthSettings(red_below=80, green_from=70)
    with pytest.raises(ValidationError) as error:
        settings_row.full_clean()
    assert error.value.message_dict["green_from"] == [
        "Green must start at or above the red threshold."
    ]
    zero = HealthSettings(
        weight_nps=0,
        weight_csat=0,
        weight_ces=0,
        weight_recency=0,
        weight_support=0,
        weight_adoption=0,
        weight_revenue=0,
    )
    with pytest.raises(ValidationError) as error:
        zero.full_clean()
    assert error.value.message_dict["weight_nps"] == ["At least one weight must be above 0."]
    assert HealthSettings.objects.count() == 0


def test_health_settings_admin_is_a_single_row(admin_client):
    response = admin_client.get(reverse("admin:metrics_healthsettings_changelist"))
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:metrics_healthsettings_change", args=[1])
    assert HealthSettings.objects.count() == 1
    assert admin_client.get(reverse("admin:metrics_healthsettings_add")).status_code == 403
    form = admin_client.get(response["Location"])
    assert form.status_code == 200
    data = {
        "weight_nps": 50,
        "weight_csat": 10,
        "weight_ces": 10,
        "weight_recency": 10,
        "weight_support": 10,
        "weight_adoption": 10,
        "red_below": 30,
        "green_from": 60,
        "window_days": 90,
        "recency_full_days": 30,
        "recency_zero_days": 365,
        "tickets_at_zero": 5,
        "weight_revenue": 0,
        "revenue_days": 90,
        "revenue_drop_at_zero": 50,
        # The segment overrides (an inline form set), none.
        "segment_overrides-TOTAL_FORMS": 0,
        "segment_overrides-INITIAL_FORMS": 0,
    }
    saved = admin_client.post(response["Location"], data)
    assert saved.status_code == 302
    row = HealthSettings.load()
    assert (row.weight_nps, row.red_below, row.green_from, row.window_days) == (50, 30, 60, 90)
    bad = admin_client.post(response["Location"], {**data, "red_below": 90})
    assert bad.status_code == 200
    assert HealthSettings.load().red_below == 30  # nothing saved
    assert Account.objects.count() == 0
