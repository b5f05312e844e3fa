"""Health from data, over time: inputs as of an instant, segment weights, versions, daily
snapshots and their history, the 30-day trend, and the churn backtest on a small set whose
AUC is worked by hand."""

import datetime as dt
import re
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from accounts.roles import CS_STAFF
from metrics import health, selectors
from metrics.health_inputs import health_inputs
from metrics.models import (
    HealthSegmentWeights,
    HealthSettings,
    HealthSettingsVersion,
    HealthSnapshot,
)
from outcomes.models import SubscriptionEvent
from tests.factories import (
    AccountFactory,
    ContactFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
    TicketFactory,
    UsageFactory,
)

pytestmark = pytest.mark.django_db
NOW = dt.datetime(2026, 6, 15, 12, 0, tzinfo=dt.UTC)
TODAY = NOW.date()


@pytest.fixture(autouse=True)
def _clock():
    with time_machine.travel(NOW, tick=False):
        yield


def at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)


def ledger(account, *points):
    for when, mrr in points:
        SubscriptionEvent.objects.create(
            account=account,
            source="api",
            external_id=f"{account.pk}-{when}",
            effective_at=at(when),
            mrr=Decimal(mrr),
            currency="USD",
        )


def answer(account, score, when):
    contact = ContactFactory(account=account)
    survey = SurveyFactory()
    ResponseFactory(
        invitation=InvitationFactory(survey=survey, contact=contact), score=score, answered_at=when
    )


def only(**weights):
    """Settings whose weights are 0 except those given."""
    values = {f"weight_{name}": 0 for name in ("nps", "csat", "ces", "recency", "support")}
    values.update({"weight_adoption": 0, "weight_revenue": 0})
    values.update({f"weight_{name}": weight for name, weight in weights.items()})
    return HealthSettings.objects.create(pk=1, **values)


def test_inputs_are_read_as_of_the_reference_instant():
    acme = AccountFactory(seats=20)
    reference = at("2026-05-01")
    TicketFactory(account=acme, created_at=at("2026-04-01"))  # open then and now
    # Solved after the reference: still open at it.
    TicketFactory(account=acme, created_at=at("2026-04-10"), solved=60 * 24 * 30)
    TicketFactory(account=acme, created_at=at("2026-04-10"), solved=60)  # solved before
    TicketFactory(account=acme, created_at=at("2026-05-02"))  # after the reference
    UsageFactory(account=acme, day=dt.date(2026, 4, 20), value=5)
    UsageFactory(account=acme, day=dt.date(2026, 4, 30), value=15)  # the latest before it
    UsageFactory(account=acme, day=dt.date(2026, 5, 1), value=19)  # the reference day itself
    ledger(acme, ("2025-01-01", "100"), ("2026-03-01", "80"), ("2026-06-01", "200"))
    inputs = health_inputs(reference=reference, revenue_days=90)[acme.pk]
    assert inputs.open_tickets == 2
    assert inputs.adoption_pct == 75.0  # 15 of 20 seats
    # MRR 80 at the reference, 100 ninety days before (31 January).
    assert (inputs.mrr_now, inputs.mrr_before) == (Decimal("80.00"), Decimal("100.00"))
    silent = AccountFactory()
    assert silent.pk not in health_inputs(reference=reference, revenue_days=90)


def test_the_data_components_in_a_score():
    only(support=1, adoption=1, revenue=1)
    acme = AccountFactory(external_id="acme", seats=10)
    TicketFactory.create_batch(2, account=acme)  # 2 open of 5 at zero: 60 points
    UsageFactory(account=acme, value=8)  # adoption 80
    ledger(acme, ("2025-01-01", "100"), ("2026-05-01", "75"))  # -25%: 50 points
    row = selectors.account_row(external_id="acme", health_settings=HealthSettings.load())
    values = {c.name: c.value for c in row.health.components}
    assert (values["support"], values["adoption"], values["revenue"]) == (60.0, 80.0, 50.0)
    assert row.health.score == pytest.approx((60 + 80 + 50) / 3)


def test_a_segments_weights_replace_the_default_set_for_its_accounts():
    settings_row = only(support=1, adoption=1)
    HealthSegmentWeights.objects.create(
        health_settings=settings_row, segment="SMB", weight_support=1
    )
    smb = AccountFactory(external_id="smb", segment="SMB", seats=10)
    big = AccountFactory(external_id="big", segment="Enterprise", seats=10)
    for account in (smb, big):
        TicketFactory(account=account)  # one open: support 80
        UsageFactory(account=account, value=2)  # adoption 20
    settings_row = HealthSettings.load()
    scores = {
        row.pk: row.health_score for row in selectors.account_scores(health_settings=settings_row)
    }
    assert scores[smb.pk] == 80.0  # support alone
    assert scores[big.pk] == 50.0  # (80 + 20) / 2


def test_versions_are_recorded_when_the_configuration_changes():
    first = health.current_version()
    assert (first.number, health.current_version().pk) == (1, first.pk)
    settings_row = HealthSettings.load()
    settings_row.weight_nps = 1
    settings_row.save()
    second = health.current_version()
    assert second.number == 2 and second.config["weights"]["nps"] == 1.0
    HealthSegmentWeights.objects.create(health_settings=settings_row, segment="SMB", weight_nps=5)
    third = health.current_version()
    assert third.config["segments"] == {
        "SMB": {**{k: 0.0 for k in third.config["weights"]}, "nps": 5.0}
    }


def test_snapshots_are_daily_idempotent_and_name_their_version():
    only(support=1)
    acme = AccountFactory(external_id="acme")
    gone = AccountFactory(status="churned", churned_at=at("2026-06-01"))
    TicketFactory(account=acme, created_at=at("2026-06-01"))
    TicketFactory(account=gone, created_at=at("2026-05-01"))
    AccountFactory()  # no data: no snapshot
    assert health.take_snapshots() == 1
    assert health.take_snapshots() == 0
    snapshot = HealthSnapshot.objects.get()
    assert (snapshot.account, snapshot.day, snapshot.score, snapshot.colour) == (
        acme,
        TODAY,
        80.0,
        "green",
    )
    assert snapshot.components["support"] == [80.0, 1.0]
    assert snapshot.version.number == 1


def test_a_backfilled_day_is_scored_as_it_was_then():
    only(support=1)
    acme = AccountFactory()
    TicketFactory(account=acme, created_at=at("2026-06-01"))
    TicketFactory.create_batch(4, account=acme, created_at=at("2026-06-10"))
    call_command("snapshot_health", "--days", "20")
    by_day = dict(HealthSnapshot.objects.values_list("day", "score"))
    assert dt.date(2026, 5, 31) not in by_day  # no ticket yet: no data
    assert by_day[dt.date(2026, 6, 1)] == 80.0  # one open ticket
    assert by_day[dt.date(2026, 6, 10)] == 0.0  # five open tickets
    assert TODAY not in by_day  # backfill stops at yesterday


def snapshot(account, day, score, colour, components, version):
    return HealthSnapshot.objects.create(
        account=account,
        day=day,
        score=score,
        colour=colour,
        components=components,
        version=version,
    )


def test_the_account_page_draws_the_history_with_reasons(client):
    client.force_login(StaffFactory(role=CS_STAFF))
    acme = AccountFactory(external_id="acme")
    v1 = health.current_version()
    before = {"nps": [100.0, 0.5], "adoption": [80.0, 0.5]}
    after = {"nps": [100.0, 0.5], "adoption": [20.0, 0.5]}
    snapshot(acme, TODAY - dt.timedelta(days=3), 90.0, "green", before, v1)
    snapshot(acme, TODAY - dt.timedelta(days=2), 90.0, "green", before, v1)
    snapshot(acme, TODAY - dt.timedelta(days=1), 60.0, "yellow", after, v1)
    body = client.get(reverse("reports:account", args=["acme"])).content.decode()
    changes = body.split('id="health-changes"')[1].split("</table>")[0]
    assert changes.count("<tr>") == 2  # the header and the one change
    assert "-30.0" in changes
    assert "Adoption (active users / seats) 80 → 20: -30.0 points." in changes
    assert "<svg" in body.split('id="health-history"')[1].split("</section>")[0]


def test_the_accounts_list_shows_the_30_day_trend(client):
    only(support=1)
    client.force_login(StaffFactory(role=CS_STAFF))
    v1 = health.current_version()
    falling = AccountFactory(external_id="falling", name="A falling")
    TicketFactory.create_batch(3, account=falling)  # now: 40
    snapshot(falling, TODAY - dt.timedelta(days=30), 80.0, "green", {}, v1)
    steady = AccountFactory(external_id="steady", name="B steady")
    TicketFactory(account=steady)  # now: 80
    snapshot(steady, TODAY - dt.timedelta(days=30), 78.0, "green", {}, v1)
    AccountFactory(external_id="new", name="C new")  # no snapshot 30 days ago: no arrow
    body = client.get(reverse("reports:accounts")).content.decode()
    trends = {
        match.group(1): match.group(2)
        for match in re.finditer(
            r'<tr data-account="([^"]+)">(?:(?!</tr>).)*?data-trend="(\w+)"', body, re.S
        )
    }
    assert trends == {"falling": "down", "steady": "steady"}
    assert "30 days ago: 80" in body


def paying(name, churn_on=None):
    account = AccountFactory(name=name)
    points = [("2025-01-01", "100")]
    if churn_on:
        points.append((churn_on, "0"))
    ledger(account, *points)
    return account


def test_the_backtest_on_snapshots_worked_by_hand():
    """Day D = 2026-02-01; churn within 90 days = MRR 0 by 2026-05-03 (the day after D + 90).
    Scores and colours that day (red < 40 <= yellow < 70 <= green):
        a 20 red churned, b 35 red churned, c 30 red stayed,
        d 55 yellow churned, e 60 yellow stayed,
        f 75 green stayed, g 90 green stayed, h 35 red stayed.
    Red: 4 accounts, 2 churned (50%); yellow 2, 1 (50%); green 2, 0 (0%).
    AUC, churned {20, 35, 55} against stayed {30, 60, 75, 90, 35}, 15 pairs:
        20 is below all 5 -> 5; 35 below 60, 75, 90 and ties 35 -> 3.5; 55 below 60, 75, 90 -> 3
        AUC = 11.5 / 15 = 0.7667."""
    day = dt.date(2026, 2, 1)
    v1 = health.current_version()
    cases = [
        ("a", 20, "red", "2026-03-01"),
        ("b", 35, "red", "2026-04-15"),
        ("c", 30, "red", None),
        ("d", 55, "yellow", "2026-02-20"),
        ("e", 60, "yellow", None),
        ("f", 75, "green", None),
        ("g", 90, "green", None),
        ("h", 35, "red", "2026-06-01"),  # churns after the 90 days: stayed
    ]
    for name, score, colour, churn_on in cases:
        account = paying(name, churn_on)
        snapshot(account, day, float(score), colour, {"nps": [float(score), 1.0]}, v1)
    late = AccountFactory(name="late")
    ledger(late, ("2026-03-01", "100"))  # not paying on D: not in the backtest
    snapshot(late, day, 10.0, "red", {}, v1)
    result = health.backtest(day=day, source="snapshots")
    assert (result.accounts, result.churned) == (8, 3)
    colours = {row.colour: (row.accounts, row.churned, row.pct) for row in result.colours}
    assert colours == {"green": (2, 0, 0.0), "yellow": (2, 1, 50.0), "red": (4, 2, 50.0)}
    assert result.auc == pytest.approx(11.5 / 15)
    nps = next(row for row in result.components if row["name"] == "nps")
    assert (nps["leading"], nps["accounts"], nps["auc"]) == (True, 8, pytest.approx(11.5 / 15))


def test_the_backtest_recomputes_with_the_current_settings():
    only(nps=1)
    day = dt.date(2026, 2, 1)
    loyal, leaving = paying("loyal"), paying("leaving", "2026-03-01")
    answer(loyal, 10, at("2026-01-20"))  # promoter: 100 points
    answer(leaving, 2, at("2026-01-20"))  # detractor: 0
    answer(leaving, 10, at("2026-02-10"))  # after the day: not seen by its score
    result = health.backtest(day=day)
    assert (result.accounts, result.churned, result.auc) == (2, 1, 1.0)
    assert {row.colour: row.churned for row in result.colours}["red"] == 1


def test_the_backtest_needs_the_horizon_to_have_passed():
    result = health.backtest(day=TODAY - dt.timedelta(days=30))
    assert result.error == "horizon"


def test_the_settings_page_runs_the_backtest_and_records_a_version_on_save(admin_client):
    url = reverse("admin:metrics_healthsettings_change", args=[1])
    HealthSettings.load().save()
    page = admin_client.get(url, {"backtest_day": "2026-02-01", "source": "recomputed"})
    assert page.status_code == 200
    body = page.content.decode()
    assert 'id="backtest-colours"' in body and 'id="backtest-components"' in body
    assert "lagging" in body and "leading" in body
    data = {
        **{f"weight_{n}": 10 for n in ("nps", "csat", "ces", "recency", "support", "adoption")},
        "weight_revenue": 0,
        "red_below": 40,
        "green_from": 70,
        "window_days": 180,
        "recency_full_days": 30,
        "recency_zero_days": 365,
        "tickets_at_zero": 5,
        "revenue_days": 90,
        "revenue_drop_at_zero": 50,
        "segment_overrides-TOTAL_FORMS": 1,
        "segment_overrides-INITIAL_FORMS": 0,
        "segment_overrides-0-segment": "SMB",
        "segment_overrides-0-weight_support": 3,
        **{f"segment_overrides-0-weight_{n}": 0 for n in ("nps", "csat", "ces", "recency")},
        "segment_overrides-0-weight_adoption": 0,
        "segment_overrides-0-weight_revenue": 0,
    }
    saved = admin_client.post(url, data)
    assert saved.status_code == 302, saved.content.decode()[:3000]
    version = HealthSettingsVersion.objects.get()
    assert version.config["segments"]["SMB"]["support"] == 3.0
    assert version.created_by.username == "admin"
    assert "v1" in admin_client.get(url).content.decode()


def test_the_settings_page_refuses_a_bad_backtest_day(admin_client):
    HealthSettings.load().save()
    url = reverse("admin:metrics_healthsettings_change", args=[1])
    body = admin_client.get(url, {"backtest_day": "yesterday"}).content.decode()
    assert 'id="backtest-colours"' not in body
    assert "Enter a valid date" in body


def test_the_daily_task_snapshots_then_checks_the_rules():
    from metrics import tasks

    only(support=1)
    TicketFactory(account=AccountFactory())
    assert tasks.daily_health() == {"snapshots": 1, "alerts": 0}
    assert tasks.daily_health() == {"snapshots": 0, "alerts": 0}
