"""Revenue selectors, endpoints and pages (their SQL uses width_bucket, LATERAL, FILTER and
DISTINCT ON), with the worked examples computed by hand."""

import datetime as dt
from decimal import Decimal as D

import pytest

from accounts.models import Account, ChurnReason
from metrics import revenue_report
from metrics import revenue_selectors as sel
from outcomes.models import SubscriptionEvent
from tests.factories import AccountFactory, ContactFactory, ResponseFactory, SurveyFactory

pytestmark = pytest.mark.django_db
UTC = dt.UTC


def at(text: str) -> dt.datetime:
    return (
        dt.datetime.fromisoformat(text).replace(tzinfo=UTC)
        if "+" not in text
        else dt.datetime.fromisoformat(text)
    )


def ledger(account: Account, *points: tuple[str, str], currency: str = "USD") -> None:
    for i, (when, mrr) in enumerate(points):
        SubscriptionEvent.objects.create(
            account=account,
            source="api",
            external_id=f"{account.external_id}-{i}",
            effective_at=at(when),
            mrr=D(mrr),
            currency=currency,
        )


@pytest.fixture
def february():
    """DESIGN.md's February (month-end MRR): A 1,000->1,200; B 2,000->1,800; C 500->0;
    F 1,000->1,000; D 0->300 (paid before: reactivation); E 0->400 (new)."""
    accounts = {name: AccountFactory(external_id=name, name=name, mrr=D(0)) for name in "ABCDEF"}
    ledger(accounts["A"], ("2025-01-15", "1000"), ("2025-02-10", "1200"))
    ledger(accounts["B"], ("2025-01-01", "2000"), ("2025-02-20", "1800"))
    ledger(accounts["C"], ("2025-01-05", "500"), ("2025-02-14", "0"))
    ledger(accounts["F"], ("2025-01-01", "1000"))
    ledger(accounts["D"], ("2024-11-01", "300"), ("2025-01-10", "0"), ("2025-02-05", "300"))
    ledger(accounts["E"], ("2025-02-25", "400"))
    return accounts


def test_february_through_the_api(api_client, february):
    response = api_client.get(
        "/api/v1/metrics/revenue", {"start": "2025-02-01", "end": "2025-03-01", "tz": "UTC"}
    )
    assert response.status_code == 200
    (usd,) = response.json()["currencies"]
    assert {k: usd[k] for k in list(usd)[:16]} == {
        "currency": "USD",
        "mrr_start": "4500.00",
        "mrr_end": "4700.00",
        "new": "400.00",
        "expansion": "200.00",
        "contraction": "200.00",
        "churn": "500.00",
        "reactivation": "300.00",
        "accounts_start": 4,
        "accounts_churned": 1,
        "logo_churn_pct": 25.0,
        "grr_pct": 84.44,
        "nrr_pct": 88.89,
        "arpa": "940.00",
        # LTV months: the six complete months before 1 March 2025 (September-February).
        # Paying accounts at a month's start: none until December (D pays from 1 November
        # 00:00, not before it), December 1 (D, no churn: 0), January 1 (D churns: 1/1),
        # February 4 (C churns: 1/4). Mean of 0, 1 and 0.25 = 0.416667: lifetime 2.40 months,
        # LTV = ARPA 940 / 0.416667 = 2,256.00.
        "ltv": "2256.00",
        "lifetime_months": 2.4,
    }


def test_monthly_interval_and_ltv(api_client, february):
    body = api_client.get(
        "/api/v1/metrics/revenue",
        {"start": "2025-01-01", "end": "2025-03-01", "tz": "UTC", "interval": "month"},
    ).json()
    (usd,) = body["currencies"]
    january, feb = usd["months"]
    assert (january["start"], january["end"]) == ("2025-01-01", "2025-02-01")
    # January: D (300) churned; A, B, C, F new (1000 + 2000 + 500 + 1000).
    assert (january["mrr_start"], january["mrr_end"]) == ("300.00", "4500.00")
    assert (january["new"], january["churn"], january["logo_churn_pct"]) == (
        "4500.00",
        "300.00",
        100.0,
    )
    assert feb["nrr_pct"] == 88.89 and feb["mrr_end"] == "4700.00"
    # Whole window: start 300 (D), end 4700.
    assert (usd["mrr_start"], usd["mrr_end"]) == ("300.00", "4700.00")


def test_ltv_uses_the_last_six_complete_months(api_client):
    """16 accounts pay from December; one churns in each month January-June."""
    accounts = [AccountFactory(external_id=f"x{i}", mrr=D(0)) for i in range(16)]
    for i, account in enumerate(accounts):
        points = [("2024-12-15", "100")]
        if i < 6:  # one churn in each of January..June
            points.append((f"2025-{i + 1:02d}-10", "0"))
        ledger(account, *points)
    body = api_client.get(
        "/api/v1/metrics/revenue", {"start": "2025-06-01", "end": "2025-07-01", "tz": "UTC"}
    ).json()
    (usd,) = body["currencies"]
    # Months Jan..Jun: starts 16,15,14,13,12,11, one churn each: mean of 1/16 .. 1/11.
    mean = sum(D(1) / D(n) for n in (16, 15, 14, 13, 12, 11)) / 6
    assert usd["lifetime_months"] == float((1 / mean).quantize(D("0.01")))
    assert usd["arpa"] == "100.00"
    assert usd["ltv"] == str((D(100) / mean).quantize(D("0.01")))


def test_period_edges_follow_the_viewer_time_zone(api_client):
    account = AccountFactory(external_id="tz", mrr=D(0))
    # 01:00 UTC on 1 February is still 31 January, 22:00, in Sao Paulo (UTC-3).
    ledger(account, ("2025-02-01T01:00:00", "100"))
    params = {"start": "2025-02-01", "end": "2025-03-01"}
    utc = api_client.get("/api/v1/metrics/revenue", {**params, "tz": "UTC"}).json()
    sao = api_client.get("/api/v1/metrics/revenue", {**params, "tz": "America/Sao_Paulo"}).json()
    assert (utc["currencies"][0]["mrr_start"], utc["currencies"][0]["new"]) == ("0.00", "100.00")
    assert (sao["currencies"][0]["mrr_start"], sao["currencies"][0]["new"]) == ("100.00", "0.00")


def test_currencies_are_separate_rows(api_client):
    ledger(AccountFactory(external_id="u", mrr=D(0)), ("2025-01-01", "100"))
    ledger(AccountFactory(external_id="b", mrr=D(0)), ("2025-01-01", "500"), currency="BRL")
    body = api_client.get("/api/v1/metrics/revenue", {"start": "2025-02-01", "end": "2025-03-01"})
    rows = {row["currency"]: row["mrr_end"] for row in body.json()["currencies"]}
    assert rows == {"BRL": "500.00", "USD": "100.00"}


def test_filters_renewals_reasons_and_cohort(api_client):
    reason, _ = ChurnReason.objects.get_or_create(name="Price")
    a = AccountFactory(external_id="a", plan="Pro", mrr=D(0))
    b = AccountFactory(external_id="b", plan="Pro", mrr=D(0))
    c = AccountFactory(external_id="c", plan="Basic", mrr=D(0))
    SubscriptionEvent.objects.create(
        account=a, source="api", external_id="a0", effective_at=at("2024-01-10"),
        mrr=D("100"), currency="USD", renews_on=dt.date(2025, 2, 10),
    )  # fmt: skip
    SubscriptionEvent.objects.create(
        account=a, source="api", external_id="a1", effective_at=at("2025-02-10"),
        mrr=D("150"), currency="USD", renews_on=dt.date(2026, 2, 10),
    )  # fmt: skip
    SubscriptionEvent.objects.create(
        account=b, source="api", external_id="b0", effective_at=at("2024-01-10"),
        mrr=D("200"), currency="USD", renews_on=dt.date(2025, 2, 20),
    )  # fmt: skip
    ledger(b, ("2025-02-20", "0"))
    Account.objects.filter(pk=b.pk).update(churned_at=at("2025-02-20"), churn_reason=reason)
    ledger(c, ("2024-01-10", "999"))
    body = api_client.get(
        "/api/v1/metrics/revenue",
        {"start": "2025-02-01", "end": "2025-03-01", "plan": "Pro", "tz": "UTC"},
    ).json()
    (usd,) = body["currencies"]
    assert usd["mrr_start"] == "300.00"  # c (Basic) is filtered out
    # a renewed (100 -> 150), b did not (200 -> 0): 1 of 2; gross 100/300, net 150/300.
    assert usd["renewal"] == {
        "due": 2,
        "renewed": 1,
        "rate_pct": 50.0,
        "arr_due": "3600.00",
        "gross_dollar_renewal_pct": 33.33,
        "net_dollar_renewal_pct": 50.0,
    }
    assert usd["churn_reasons"] == [{"reason": "Price", "accounts": 1, "mrr": "200.00"}]
    # Trailing 12 months: a and b paid on 2024-03-01 (300); by 2025-03-01: 150.
    assert usd["cohort_12m"]["nrr_pct"] == 50.0 and usd["cohort_12m"]["grr_pct"] == 33.33


def test_bad_parameters_are_400s(api_client):
    url = "/api/v1/metrics/revenue"
    for params, field in (
        ({"end": "2025-03-01"}, "start"),
        ({"start": "2025-03-01", "end": "2025-02-01"}, "end"),
        ({"start": "2025-02-01", "end": "2025-03-01", "tz": "Mars/Base"}, "tz"),
        ({"start": "2025-02-01", "end": "2025-03-01", "interval": "week"}, "interval"),
        ({"start": "x", "end": "2025-03-01"}, "start"),
    ):
        response = api_client.get(url, params)
        assert response.status_code == 400 and field in response.json(), params


def test_retention_by_score_freezes_the_category_at_period_start(api_client):
    survey = SurveyFactory(slug="nps")
    start = at("2025-02-01")
    rows = {}
    # 10 detractor accounts (3 churn), 10 promoters (1 churns), 5 without answers (0 churn).
    for i in range(25):
        account = AccountFactory(external_id=f"r{i}", mrr=D(0))
        churns = i in (0, 1, 2) or i == 10
        ledger(account, ("2024-06-01", "100"), *([("2025-02-15", "0")] if churns else []))
        if i < 20:
            contact = ContactFactory(account=account)
            score = 3 if i < 10 else 10
            ResponseFactory(
                invitation__survey=survey, invitation__contact=contact,
                score=score, answered_at=start - dt.timedelta(days=30),
            )  # fmt: skip
            # A later answer (after start) must not change the category.
            ResponseFactory(
                invitation__survey=survey, invitation__contact=contact,
                score=10 if score == 3 else 0, answered_at=start + dt.timedelta(days=3),
            )  # fmt: skip
        rows[i] = account
    # An answer older than 365 days before start does not count: r20 stays "no answer".
    old = ContactFactory(account=rows[20])
    ResponseFactory(
        invitation__survey=survey, invitation__contact=old, score=0,
        answered_at=start - dt.timedelta(days=366),
    )  # fmt: skip
    body = api_client.get(
        "/api/v1/metrics/retention-by-score",
        {"start": "2025-02-01", "end": "2025-03-01", "tz": "UTC", "survey": "nps"},
    ).json()
    groups = {g["category"]: g for g in body["nps"]["categories"]}
    assert (groups["detractors"]["accounts_start"], groups["detractors"]["churned"]) == (10, 3)
    assert (groups["promoters"]["accounts_start"], groups["promoters"]["churned"]) == (10, 1)
    assert (groups["no_answer"]["accounts_start"], groups["no_answer"]["churned"]) == (5, 0)
    assert groups["passives"]["accounts_start"] == 0
    assert groups["detractors"]["logo_churn_pct"] == 30.0
    assert groups["detractors"]["ci95"] == [10.78, 60.32]  # Wilson 3/10
    assert groups["detractors"]["low_sample"] is True
    assert groups["detractors"]["revenue"] == [
        {"currency": "USD", "mrr_start": "1000.00", "mrr_end": "700.00", "nrr_pct": 70.0}
    ]
    assert body["nps"]["detractor_promoter_churn_ratio"] == 3.0
    assert body["csat"]["categories"][-1]["category"] == "no_answer"
    health = {g["category"]: g["accounts_start"] for g in body["health"]["categories"]}
    assert list(health) == ["green", "yellow", "red", "no_data"]
    assert sum(health.values()) == 25
    # Health at the start, default weights (NPS 35, recency 15, revenue 10 present; MRR held
    # over the 90 days before: revenue 100; the answer 30 days before: recency 100):
    # promoters (100 x 35 + 100 x 15 + 100 x 10) / 60 = 100, green; detractors
    # (0 x 35 + 100 x 15 + 100 x 10) / 60 = 41.7, yellow; the 5 without an answer in the
    # recency window: recency 0 and revenue 100, (0 x 15 + 100 x 10) / 25 = 40, yellow.
    assert health == {"green": 10, "yellow": 15, "red": 0, "no_data": 0}


def test_account_history_movements(february):
    rows = sel.account_history(account_id=february["D"].pk)
    assert [(r["mrr"], r["movement"]) for r in rows] == [
        (D("300"), "reactivation"),
        (D("0"), "churn"),
        (D("300"), "new"),
    ]


def test_revenue_page_exports_and_account_page(
    staff_client, february, django_assert_max_num_queries
):
    params = {"start": "2025-02-01", "end": "2025-03-01", "tz": "UTC"}
    with django_assert_max_num_queries(20):
        response = staff_client.get("/reports/revenue/", params)
    assert response.status_code == 200
    page = response.content.decode()
    assert "4,500.00" in page and "4,700.00" in page  # start and end of the bridge
    assert "84.44%" in page and "88.89%" in page and "25.0%" in page
    assert "/reports/accounts/C/" in page  # C, the churned account, is a top mover
    bridge = staff_client.get("/reports/revenue/bridge.csv", params)
    assert bridge.status_code == 200
    lines = bridge.content.decode().splitlines()
    assert lines[1].startswith(
        "2025-02-01,2025-03-01,USD,4500.00,400.00,300.00,200.00,200.00,500.00,4700.00,4,1,25.0,"
    )
    movements = staff_client.get("/reports/revenue/movements.csv", params).content.decode()
    assert "C,C,churn,USD,500.00,0.00,500.00," in movements
    assert "D,D,reactivation,USD,0.00,300.00,300.00," in movements
    assert staff_client.get("/reports/revenue/", {"tz": "Nowhere/City"}).status_code == 400
    account = staff_client.get("/reports/accounts/A/").content.decode()
    assert "MRR history" in account and "1,200.00 USD" in account


def test_revenue_page_without_ledger_says_no_data(staff_client):
    response = staff_client.get("/reports/revenue/")
    assert response.status_code == 200
    assert 'id="no-data"' in response.content.decode()


def test_monthly_cohorts(staff_client):
    """X pays from 10 Jan (100), 150 from 5 Feb, churns 3 Mar; Y pays 200 from 20 Jan; Z pays 50
    from 10 Feb. January's cohort (X, Y) starts at 300 on 1 Feb: 350 on 1 Mar (net 116.67%,
    gross min(150, 100) + 200 = 300, 100%), 200 on 1 Apr (net and gross 66.67%). February's
    (Z) keeps its 50."""
    ledger(AccountFactory(external_id="X", mrr=D(0)), ("2025-01-10", "100"), ("2025-02-05", "150"),
           ("2025-03-03", "0"))  # fmt: skip
    ledger(AccountFactory(external_id="Y", mrr=D(0)), ("2025-01-20", "200"))
    ledger(AccountFactory(external_id="Z", mrr=D(0)), ("2025-02-10", "50"))
    window = sel.Window(dt.date(2025, 1, 1), dt.date(2025, 4, 1), UTC)
    report = revenue_report.revenue_report(
        window=window,
        filters=sel.RevenueFilters(),
        monthly=True,
        now=at("2026-01-01"),
        with_cohorts=True,
    )
    cells = {(c.cohort, c.j): (c.accounts, c.mrr, c.kept, c.paying) for c in report.cohorts}
    assert cells == {
        (2, 2): (2, D("300"), D("300"), 2),
        (2, 3): (2, D("350"), D("300"), 2),
        (2, 4): (2, D("200"), D("200"), 1),
        (3, 3): (1, D("50"), D("50"), 1),
        (3, 4): (1, D("50"), D("50"), 1),
    }
    page = staff_client.get(
        "/reports/revenue/", {"start": "2025-01-01", "end": "2025-04-01", "tz": "UTC"}
    ).content.decode()
    assert "117 / 100" in page and "67 / 67" in page


def test_dashboard_revenue_table_uses_the_ledger_mrr_at_the_report_date(staff_client):
    """The account paid 100 until March and 1,000 after: a January-February report shows
    ARR 1,200 (12 x 100), not today's 12,000."""
    survey = SurveyFactory(slug="nps-arr")
    account = AccountFactory(external_id="arr", mrr=D("1000.00"))
    ledger(account, ("2024-12-01", "100"), ("2025-03-10", "1000"))
    ResponseFactory(
        invitation__survey=survey,
        invitation__contact=ContactFactory(account=account),
        score=3,
        answered_at=at("2025-01-15"),
    )
    page = staff_client.get(
        "/reports/", {"kind": "nps", "start": "2025-01-01", "end": "2025-02-28", "tz": "UTC"}
    ).content.decode()
    assert "1,200" in page and "12,000" not in page


def test_page_lists_the_ten_largest_movers_and_every_churn(staff_client):
    for i in range(1, 13):  # expansions of 10, 20, ... 120
        ledger(AccountFactory(external_id=f"up{i}", name=f"Up {i:02d}", mrr=D(0)),
               ("2025-01-01", "100"), ("2025-02-10", str(100 + 10 * i)))  # fmt: skip
    for i in range(1, 13):  # twelve churns
        ledger(AccountFactory(external_id=f"gone{i}", mrr=D(0)),
               ("2025-01-01", "50"), ("2025-02-10", "0"))  # fmt: skip
    params = {"start": "2025-02-01", "end": "2025-03-01", "tz": "UTC"}
    page = staff_client.get("/reports/revenue/", params).content.decode()
    expansions = page.split('id="movers-expansion"')[1].split("</table>")[0]
    assert "Up 12" in expansions and "Up 03" in expansions
    assert "Up 02" not in expansions and "Up 01" not in expansions
    assert expansions.index("Up 12") < expansions.index("Up 03")
    reasons = page.split('id="reasons-USD"')[1].split("</table>")[0]
    assert "<td>12</td><td>600.00</td>" in reasons  # every churn counted, not only ten
    body = staff_client.get("/api/v1/metrics/revenue", params).json()
    assert body["currencies"][0]["churn_reasons"] == [
        {"reason": None, "accounts": 12, "mrr": "600.00"}
    ]


def test_movements_csv_escapes_formulas(staff_client):
    evil = AccountFactory(external_id="evil", name='=HYPERLINK("http://x")', mrr=D(0))
    ledger(evil, ("2025-01-01", "100"), ("2025-02-10", "0"))
    body = staff_client.get(
        "/reports/revenue/movements.csv", {"start": "2025-02-01", "end": "2025-03-01"}
    ).content.decode()
    assert 'evil,"\'=HYPERLINK(""http://x"")",churn,USD,100.00,0.00,100.00,' in body
