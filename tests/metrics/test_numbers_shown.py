"""What the pages and the API show: honest intervals everywhere (never "± 0"), small samples
marked, "too few answers to compare", rolling and gapped trends, CSAT scales never merged
(bug 3), and one rounding rule with the CSAT/CES intervals filled in (bug 9)."""

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import ADMINISTRATORS
from metrics import charts, scoring, selectors
from surveys.models import Kind
from tests.factories import (
    AccountFactory,
    CesSurveyFactory,
    ContactFactory,
    CsatSurveyFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.django_db
UTC = dt.UTC


@pytest.fixture
def staff(client):
    client.force_login(StaffFactory(username="boss", role=ADMINISTRATORS))
    return client


@pytest.fixture
def api():
    client = APIClient()
    user = StaffFactory(username="integrator", role=ADMINISTRATORS)
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def answer(survey, scores, *, account=None, when=None):
    contact = ContactFactory(account=account or AccountFactory())
    for score in scores:
        ResponseFactory(
            invitation=InvitationFactory(survey=survey, contact=contact),
            score=score,
            answered_at=when or timezone.now() - dt.timedelta(days=1),
        )
    return contact.account


# --- Intervals ------------------------------------------------------------------------------

# Five promoters. Adjusted-Wald by hand: n' = 8, p' = 5.75/8 = 0.71875, d' = 0.75/8 = 0.09375,
# centre 0.625; p' + d' - centre^2 = 0.8125 - 0.390625 = 0.421875; SE' = sqrt(0.421875/8) =
# 0.2296397; t(0.975, 4) = 2.7764451: half-width 0.6375820, so -1.3 to 100.0 (the old page
# said "100 ± 0").
FIVE_PROMOTERS = "-1.3 to 100.0"
# Four satisfied of five (CSAT): Wilson with z^2 = 3.8415: centre (0.8 + 0.38415) / 1.76829 =
# 0.66966, half 1.96 x sqrt(0.032 + 0.038415) / 1.76829 = 0.29413, so 37.6-96.4.
FOUR_OF_FIVE = "37.6–96.4"


def test_the_accounts_list_shows_intervals_for_every_kind(staff):
    nps, csat, ces = SurveyFactory(), CsatSurveyFactory(), CesSurveyFactory()
    account = answer(nps, [10, 10, 9, 9, 10])
    answer(csat, [5, 4, 5, 4, 1], account=account)
    answer(ces, [7, 6, 5, 5, 2], account=account)
    html = staff.get(reverse("reports:accounts")).content.decode()
    row = re.search(rf'<tr data-account="{account.external_id}">(.*?)</tr>', html, re.S).group(1)
    nps_cell = re.search(r'<td class="nps">(.*?)</td>', row, re.S).group(1)
    assert "100.0" in nps_cell and f"({FIVE_PROMOTERS})" in nps_cell and "n=5" in nps_cell
    assert "±" not in nps_cell
    assert 'class="text-warning-emphasis low-n"' in nps_cell  # five answers: a small sample
    for kind in ("csat", "ces"):
        cell = re.search(rf'<td class="{kind}">(.*?)</td>', row, re.S).group(1)
        assert "80.0% <span" in cell and f"({FOUR_OF_FIVE})" in cell and "low-n" in cell


def test_the_account_page_shows_intervals_and_small_sample_marks(staff):
    nps, csat = SurveyFactory(), CsatSurveyFactory()
    account = answer(nps, [10, 10, 9, 9, 10])
    answer(csat, [5, 4, 5, 4, 1], account=account)
    html = staff.get(reverse("reports:account", args=[account.external_id])).content.decode()
    scores = re.search(r'<table[^>]*id="kind-scores">(.*?)</table>', html, re.S).group(1)
    assert f"(95%: {FIVE_PROMOTERS})" in scores and "± 0" not in scores
    assert f"(95%: {FOUR_OF_FIVE})" in scores
    assert scores.count("low-n") == 4  # NPS and CSAT, recent and all time
    trend = re.search(r'<table[^>]*id="account-trend">(.*?)</table>', html, re.S).group(1)
    assert FIVE_PROMOTERS in trend and 'data-low-sample="true"' in trend


def test_dashboard_trend_and_breakdown_rows_carry_intervals_and_low_n_marks(staff):
    csat = CsatSurveyFactory(slug="support")
    answer(csat, [5, 4, 5, 4, 1], account=AccountFactory(plan="Pro"))
    html = staff.get(reverse("reports:dashboard"), {"kind": "csat"}).content.decode()
    breakdown = re.search(r'<table[^>]*id="breakdown">(.*?)</table>', html, re.S).group(1)
    row = re.search(r"<tr data-low-sample=\"true\"><td>Pro</td>(.*?)</tr>", breakdown, re.S)
    cells = re.findall(r"<td>(.*?)</td>", row.group(1), re.S)
    # n, %, ± (half the Wilson interval: (96.378 - 37.553) / 2 = 29.4), interval.
    assert cells[1:] == ["80.0", "29.4", FOUR_OF_FIVE]
    assert "low-n" in cells[0]
    trend = re.search(r'<table[^>]*id="trend">(.*?)</table>', html, re.S).group(1)
    assert 'data-low-sample="true"' in trend and FOUR_OF_FIVE in trend


def test_the_api_shows_the_same_interval(api):
    survey = SurveyFactory(slug="rel")
    answer(survey, [10, 10, 9, 9, 10])
    body = api.get("/api/v1/metrics/summary", {"survey": "rel"}).json()
    assert body["nps"]["score"] == 100.0
    assert body["nps"]["ci95"] == [-1.3, 100.0]
    assert body["nps"]["margin"] == 50.6  # half the interval's width, never 0
    assert body["nps"]["low_sample"] is True


# --- One rounding rule (bug 9) ----------------------------------------------------------------


def test_the_tile_the_breakdown_and_the_api_round_alike(staff, api):
    survey = SurveyFactory(slug="rel")
    # 16 answers, one more promoter than detractors: NPS 6.25 exactly. Half up: 6.3 (Python's
    # round() gave the API 6.2; the tile printed "6").
    account = AccountFactory(plan="Pro")
    answer(survey, [10] * 5 + [7] * 7 + [0] * 4, account=account)
    html = staff.get(reverse("reports:dashboard"), {"survey": "rel"}).content.decode()
    tile = re.search(r'<div class="display-6[^"]*" data-score="([^"]*)">([^<]*)</div>', html)
    assert tile.groups() == ("6.3", "6.3")
    breakdown = re.search(r'<table[^>]*id="breakdown">(.*?)</table>', html, re.S).group(1)
    assert "<td>6.3</td>" in breakdown
    body = api.get("/api/v1/metrics/summary", {"survey": "rel"}).json()
    assert body["nps"]["score"] == 6.3


def test_a_csat_tile_shows_the_breakdowns_one_decimal(staff):
    csat = CsatSurveyFactory(slug="support")
    # 29 of 30 satisfied: 96.7%. The tile used to say "97%" next to a breakdown's 96.7.
    answer(csat, [5] * 29 + [1], account=AccountFactory(plan="Pro"))
    html = staff.get(reverse("reports:dashboard"), {"survey": "support"}).content.decode()
    assert re.search(r'data-score="96.7">96.7%</div>', html)
    breakdown = re.search(r'<table[^>]*id="breakdown">(.*?)</table>', html, re.S).group(1)
    assert "<td>96.7</td>" in breakdown


# --- Comparisons ------------------------------------------------------------------------------


@pytest.fixture
def thin_previous_period():
    survey = SurveyFactory(slug="rel")
    answer(survey, [10] * 4 + [0] * 6, when=dt.datetime(2026, 1, 15, 12, tzinfo=UTC))
    answer(survey, [10] * 30 + [0] * 10, when=dt.datetime(2026, 2, 15, 12, tzinfo=UTC))
    return survey


def test_a_thin_side_is_too_few_answers_to_compare_on_the_page(staff, thin_previous_period):
    html = staff.get(
        reverse("reports:dashboard"), {"survey": "rel", "start": "2026-02-01", "end": "2026-02-28"}
    ).content.decode()
    tile = re.search(r'id="tile-nps">(.*?)</div></div></div>', html, re.S).group(1)
    assert (
        "Too few answers to compare with the previous period (n = 10 then, 40 now; "
        "30 needed on each side)." in tile
    )
    assert "within the margin of error" not in tile and ">significant<" not in tile


def test_a_thin_side_is_too_few_answers_to_compare_in_the_api(api, thin_previous_period):
    body = api.get(
        "/api/v1/metrics/summary",
        {"survey": "rel", "start": "2026-02-01", "end": "2026-02-28", "compare": "previous"},
    ).json()
    change = body["compare"]["change"]
    assert change["delta"] == 70.0  # 50 - (-20)
    assert (change["significant"], change["comparable"], change["responses"]) == (
        False,
        False,
        [10, 40],
    )
    assert change["message"] == "Too few answers to compare (10 and 40; 30 needed on each side)."


# --- Trends ----------------------------------------------------------------------------------


def test_a_rolling_window_smooths_a_thin_month():
    survey = SurveyFactory()
    answer(survey, [0] * 5, when=dt.datetime(2026, 1, 29, 12, tzinfo=UTC))  # outside 30 days
    answer(survey, [10] * 4, when=dt.datetime(2026, 1, 30, 12, tzinfo=UTC))
    answer(survey, [3], when=dt.datetime(2026, 2, 15, 12, tzinfo=UTC))
    filters = selectors.Filters(
        period=selectors.Period(dt.date(2026, 2, 1), dt.date(2026, 2, 28), UTC),
        kind=Kind.NPS,
        surveys=(survey.pk,),
    )
    (alone,) = selectors.trend(filters=filters, granularity="month")
    (rolling,) = selectors.trend(filters=filters, granularity="month", window_days=30)
    assert (alone["n"], alone["nps"].score) == (1, -100.0)  # one answer swings to -100
    # The 30 days ending 28 February: 30 January to 28 February: 4 promoters, 1 detractor.
    assert (rolling["bucket"], rolling["window_end"]) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert (rolling["n"], rolling["nps"].score) == (5, pytest.approx(60.0))
    assert rolling["low_sample"] is True


def test_the_api_trend_takes_a_window(api):
    survey = SurveyFactory(slug="rel")
    answer(survey, [10] * 4, when=dt.datetime(2026, 1, 30, 12, tzinfo=UTC))
    answer(survey, [3], when=dt.datetime(2026, 2, 15, 12, tzinfo=UTC))
    body = api.get(
        "/api/v1/metrics/trend",
        {"survey": "rel", "start": "2026-02-01", "end": "2026-02-28", "window": "30"},
    ).json()
    assert body["window"] == 30
    assert [(p["period"], p["responses"], p["nps"]["score"]) for p in body["points"]] == [
        ("2026-02-01", 5, 60.0)
    ]
    bad = api.get("/api/v1/metrics/trend", {"survey": "rel", "window": "45"})
    assert bad.status_code == 400 and list(bad.json()) == ["window"]


def _line_paths(svg: str) -> int:
    return len(re.findall(r'<path[^>]*class="line', svg))


def test_periods_without_answers_are_gaps_in_the_chart():
    months = [dt.date(2026, m, 1) for m in range(1, 6)]
    rows = [{"bucket": month, "nps": scoring.nps(3, 1, 1)} for month in months if month.month != 3]
    # January-February and April-May: two segments per series (score, lower, upper bound).
    assert _line_paths(charts.trend_chart(Kind.NPS, rows, buckets=months)) == 6
    # Without the empty month in the axis, one line would join February to April.
    assert _line_paths(charts.trend_chart(Kind.NPS, rows)) == 3


def test_chart_labels_are_never_cut():
    days = [dt.date(2026, 11, 1) + dt.timedelta(days=i) for i in range(12)]
    rows = [{"bucket": day, "nps": scoring.nps(3, 1, 1)} for day in days]
    svg = charts.trend_chart(Kind.NPS, rows, "%Y-%m-%d", buckets=days)
    assert "…" not in svg
    assert ">2026-11-12<" in svg


def test_the_daily_trend_and_the_account_chart_leave_gaps(staff):
    survey = SurveyFactory(slug="rel")
    today = timezone.localdate()
    account = answer(survey, [10], when=timezone.now() - dt.timedelta(days=100))
    answer(survey, [9], account=account, when=timezone.now() - dt.timedelta(days=1))
    page = staff.get(
        reverse("reports:dashboard"),
        {"survey": "rel", "granularity": "day", "start": str(today - dt.timedelta(days=120))},
    )
    chart = str(page.context["trend_chart"])
    assert _line_paths(chart) == 0  # two single days far apart: dots, never a line between
    detail = staff.get(reverse("reports:account", args=[account.external_id]))
    assert _line_paths(str(detail.context["trend_chart"])) == 0


# --- CSAT scales (bug 3) ----------------------------------------------------------------------


def test_csat_surveys_on_different_scales_are_never_merged(staff):
    five = CsatSurveyFactory(name="Support 1-5", slug="five")
    ten = CsatSurveyFactory(name="Onboarding 1-10", slug="ten", scale_max=10)
    answer(five, [4, 4, 5])  # 4 is satisfied on 1-5 (top two boxes)
    answer(ten, [4, 9])  # 4 is unsatisfied on 1-10 (top three boxes: 8-10)
    page = staff.get(reverse("reports:dashboard"), {"kind": "csat"})
    distributions = page.context["distributions"]
    assert [(d["scale"], d["n"]) for d in distributions] == [("1–5", 3), ("1–10", 2)]
    five_rows = {score: (count, cat) for score, count, _w, cat in distributions[0]["rows"]}
    ten_rows = {score: (count, cat) for score, count, _w, cat in distributions[1]["rows"]}
    assert five_rows[4] == (2, 1) and five_rows[5] == (1, 1) and len(five_rows) == 5
    assert ten_rows[4] == (1, -1) and ten_rows[9] == (1, 1) and len(ten_rows) == 10
    html = page.content.decode()
    assert 'data-scale="1–5"' in html and 'data-scale="1–10"' in html
    # Top box combined only from each survey's own top box: 3 of 3 and 1 of 2, so 4 of 5.
    tile = next(t for t in page.context["tiles"] if t["kind"] == "csat")
    assert tile["result"]["share"].pct == 80.0
    assert "Mean not shown: the surveys use different scales." in html
