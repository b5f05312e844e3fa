"""The revenue math on hand-worked examples (no database)."""

from decimal import Decimal as D

from metrics import revenue_scoring as rs


def february_rows():
    """DESIGN.md's February: (start currency, S, end currency, E, paid before start)."""
    return [
        ("USD", D("1000"), "USD", D("1200"), True),  # A: expansion 200
        ("USD", D("2000"), "USD", D("1800"), True),  # B: contraction 200
        ("USD", D("500"), "USD", D("0"), True),  # C: churn 500
        ("USD", D("1000"), "USD", D("1000"), True),  # F: unchanged
        ("USD", D("0"), "USD", D("300"), True),  # D: paid before -> reactivation 300
        (None, D("0"), "USD", D("400"), False),  # E: first payment -> new 400
    ]


def test_february_worked_example():
    bridge = rs.bridges(february_rows())["USD"]
    assert (bridge.mrr_start, bridge.mrr_end) == (D("4500"), D("4700"))
    assert (bridge.new, bridge.reactivation) == (D("400"), D("300"))
    assert (bridge.expansion, bridge.contraction, bridge.churn) == (D("200"), D("200"), D("500"))
    # 4500 + 400 + 300 + 200 - 200 - 500 = 4700
    assert bridge.balanced
    assert (bridge.accounts_start, bridge.accounts_churned, bridge.accounts_end) == (4, 1, 5)
    assert bridge.logo_churn_pct == 25.0  # 1 of 4
    assert bridge.grr_pct == 84.44  # (4500 - 200 - 500) / 4500 = 0.844444
    assert bridge.nrr_pct == 88.89  # (4500 + 200 - 200 - 500) / 4500 = 0.888888
    assert bridge.arpa == D("940.00")  # 4700 / 5
    assert bridge.counts == {
        "new": 1,
        "reactivation": 1,
        "expansion": 1,
        "contraction": 1,
        "churn": 1,
    }


def test_chartmogul_example_gross_and_net_mrr_churn():
    """ChartMogul: $100 at start, $10 churn, $10 contraction, $10 expansion -> gross MRR churn
    20%, net MRR churn 10% (so GRR 80%, NRR 90%)."""
    rows = [
        ("USD", D("40"), "USD", D("50"), True),
        ("USD", D("30"), "USD", D("20"), True),
        ("USD", D("10"), "USD", D("0"), True),
        ("USD", D("20"), "USD", D("20"), True),
    ]
    bridge = rs.bridges(rows)["USD"]
    assert bridge.mrr_start == D("100")
    assert 100 - bridge.grr_pct == 20.0
    assert 100 - bridge.nrr_pct == 10.0


def test_currencies_are_never_added_and_a_switch_churns_and_restarts():
    rows = [
        ("USD", D("100"), "USD", D("100"), True),
        ("EUR", D("50"), "EUR", D("70"), True),
        ("USD", D("30"), "EUR", D("40"), True),  # moved from USD to EUR
    ]
    out = rs.bridges(rows)
    assert set(out) == {"USD", "EUR"}
    assert (out["USD"].mrr_start, out["USD"].mrr_end, out["USD"].churn) == (
        D("130"),
        D("100"),
        D("30"),
    )
    assert (out["EUR"].mrr_start, out["EUR"].mrr_end) == (D("50"), D("110"))
    assert (out["EUR"].expansion, out["EUR"].reactivation) == (D("20"), D("40"))
    assert out["USD"].balanced and out["EUR"].balanced


def test_empty_sets_give_none_never_zero():
    bridge = rs.Bridge("USD")
    assert bridge.logo_churn_pct is None
    assert bridge.grr_pct is None and bridge.nrr_pct is None
    assert bridge.arpa is None
    assert rs.ltv(None, None) == (None, None)


def test_ltv_and_lifetime_from_mean_monthly_churn():
    # Months churn 2%, 4%, none paying (left out), 3%: mean 3% -> lifetime 33.33 months.
    churn = rs.mean_monthly_churn([D("0.02"), D("0.04"), None, D("0.03")])
    assert churn == D("0.03")
    value, lifetime = rs.ltv(D("940.00"), churn)
    assert value == D("31333.33")  # 940 / 0.03
    assert lifetime == 33.33
    assert rs.ltv(D("940.00"), D("0")) == (None, None)  # no churn: no LTV


def test_renewal_rates():
    renewal = rs.Renewal("USD")
    renewal.add(D("100"), D("120"))  # renewed with expansion
    renewal.add(D("200"), D("150"))  # renewed smaller
    renewal.add(D("100"), D("0"))  # lost
    assert (renewal.due, renewal.renewed) == (3, 2)
    assert renewal.rate_pct == 66.67
    assert renewal.gross_pct == 62.5  # (100 + 150 + 0) / 400
    assert renewal.net_pct == 67.5  # (120 + 150 + 0) / 400


def test_category_retention_interval_and_ratio():
    detractors = rs.CategoryRetention("detractors")
    promoters = rs.CategoryRetention("promoters")
    for churned in [True] * 3 + [False] * 7:
        detractors.add("USD", D("100"), D("0") if churned else D("100"))
    for churned in [True] * 1 + [False] * 9:
        promoters.add("USD", D("100"), D("0") if churned else D("110"))
    assert detractors.logo_churn_pct == 30.0
    lo, hi = detractors.ci95
    # Wilson 95% for 3/10: 10.78% .. 60.32%
    assert round(lo, 2) == 10.78 and round(hi, 2) == 60.32
    assert detractors.low_sample and promoters.low_sample
    assert rs.churn_ratio(detractors, promoters) == 3.0
    assert promoters.revenue["USD"].nrr_pct == 99.0  # (9 x 110) / 1000
