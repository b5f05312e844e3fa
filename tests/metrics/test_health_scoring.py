"""Pure health-history math, numbers worked by hand: ROC AUC, churn per colour, the reasons
for a change, the trend arrow, and the new components (adoption, revenue)."""

import random

import pytest

from metrics import health_scoring as hs
from metrics import scoring


def test_roc_auc_on_a_small_set_worked_by_hand():
    # Churned accounts scored 20, 50, 70; retained ones 40, 60, 80, 90, 50.
    # Pairs (churned, retained) where the churned one scored lower, out of 3 x 5 = 15:
    #   20: below all 5                       -> 5
    #   50: below 60, 80, 90; ties 50 (1/2)   -> 3.5
    #   70: below 80, 90                      -> 2
    # AUC = (5 + 3.5 + 2) / 15 = 10.5 / 15 = 0.7
    scores = [(20, True), (50, True), (70, True), (40, False), (60, False), (80, False)]
    scores += [(90, False), (50, False)]
    assert hs.roc_auc(scores) == pytest.approx(0.7)


def test_roc_auc_bounds():
    assert hs.roc_auc([(10, True), (90, False)]) == 1.0  # a perfect ranking
    assert hs.roc_auc([(90, True), (10, False)]) == 0.0  # exactly backwards
    assert hs.roc_auc([(50, True), (50, False)]) == 0.5  # a tie is half
    assert hs.roc_auc([(10, True)]) is None  # nobody retained
    assert hs.roc_auc([]) is None


def test_roc_auc_of_noise_is_near_one_half_by_seeded_simulation():
    rng = random.Random(7)
    scores = [(rng.uniform(0, 100), rng.random() < 0.2) for _ in range(4000)]
    assert abs(hs.roc_auc(scores) - 0.5) < 0.03


def test_roc_auc_equals_the_pair_count_definition():
    rng = random.Random(11)
    scores = [(rng.randint(0, 10), rng.random() < 0.3) for _ in range(200)]
    churned = [s for s, lost in scores if lost]
    kept = [s for s, lost in scores if not lost]
    pairs = sum((c < k) + 0.5 * (c == k) for c in churned for k in kept)
    assert hs.roc_auc(scores) == pytest.approx(pairs / (len(churned) * len(kept)))


def test_churn_by_colour_with_wilson_intervals():
    rows = [("green", False)] * 9 + [("green", True)] + [("red", True)] * 3 + [("red", False)]
    green, yellow, red = hs.churn_by_colour(rows)
    assert (green.accounts, green.churned, green.pct) == (10, 1, 10.0)
    assert (yellow.accounts, yellow.pct, yellow.ci95) == (0, None, None)
    assert (red.accounts, red.churned, red.pct) == (4, 3, 75.0)
    # Wilson 1/10: centre (0.1 + 1.96^2/20) / (1 + 1.96^2/10) = 0.2125 / 1.3841 = 0.1535; half
    # 1.96 x sqrt(0.009 + 0.00960) / 1.3841 = 0.1931 -> 1.79% to 40.42%.
    low, high = green.ci95
    assert (round(low, 2), round(high, 2)) == (1.79, 40.42)
    assert red.low_sample


def test_change_reasons_name_the_components_that_moved_the_score():
    # Before: NPS 100 (share .5), adoption 80 (share .5) -> 90. After: adoption 20 -> 60.
    before = {"nps": [100.0, 0.5], "adoption": [80.0, 0.5], "support": [None, 0.0]}
    after = {"nps": [100.0, 0.5], "adoption": [20.0, 0.5], "support": [None, 0.0]}
    reasons = hs.change_reasons(before, after, version_before=1, version_after=1)
    assert reasons == [hs.Reason("changed", "adoption", 80.0, 20.0, -30.0)]


def test_change_reasons_for_new_data_and_new_settings():
    before = {"nps": [50.0, 1.0], "support": [None, 0.0]}
    after = {"nps": [50.0, 0.5], "support": [100.0, 0.5]}
    reasons = hs.change_reasons(before, after, version_before=2, version_after=3)
    assert reasons[0] == hs.Reason("settings", "", 2, 3, 0.0)
    # NPS's contribution 50 -> 25 (-25); support appears with 50 (+50): largest first.
    assert reasons[1:] == [
        hs.Reason("appeared", "support", None, 100.0, 50.0),
        hs.Reason("changed", "nps", 50.0, 50.0, -25.0),
    ]


@pytest.mark.parametrize(
    ("now", "then", "arrow"),
    [(70, 60, "up"), (60, 70, "down"), (64, 60, "steady"), (55, 60, "down"), (None, 60, None)],
)
def test_trend_arrow(now, then, arrow):
    assert hs.trend(now, then) == arrow


@pytest.mark.parametrize(
    ("now", "before", "points"),
    [(100, 100, 100.0), (150, 100, 100.0), (75, 100, 50.0), (50, 100, 0.0), (0, 100, 0.0)],
)
def test_revenue_points(now, before, points):
    # Full points when MRR held or grew; a 25% drop is half-way to the 50% of zero points.
    assert scoring.revenue_points(now, before, 50) == points


def test_revenue_and_adoption_without_data_are_left_out():
    assert scoring.revenue_points(100, None, 50) is None
    assert scoring.revenue_points(100, 0, 50) is None  # nothing to compare with
    assert scoring.adoption_points(None) is None
    assert scoring.adoption_points(130.0) == 100.0


def test_a_component_without_data_scales_the_others_up():
    weights = {name: 10.0 for name in scoring.HEALTH_COMPONENTS}
    values = {"nps": 100.0, "revenue": 50.0}  # every other input missing
    result = scoring.health(values, weights, red_below=40, green_from=70)
    # Every missing input is left out and the two present share the weight: (100 + 50) / 2.
    assert result.score == pytest.approx(75.0)
    assert {c.name: c.share for c in result.components if c.share} == {"nps": 0.5, "revenue": 0.5}
