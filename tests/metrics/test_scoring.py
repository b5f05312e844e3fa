"""Score math against direct reference computations over the raw answers (no database)."""

import math
import statistics

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from metrics import scoring

nps_answers = st.lists(st.integers(min_value=0, max_value=10), max_size=300)


def reference_nps(answers: list[int]):
    """Straight from DESIGN.md: code +1/0/-1, NPS = 100 * mean, SE = 100 * sd_pop / sqrt(n)."""
    if not answers:
        return None, None
    codes = [1 if a >= 9 else (0 if a >= 7 else -1) for a in answers]
    n = len(codes)
    mean = sum(codes) / n
    variance = sum((c - mean) ** 2 for c in codes) / n
    return 100 * mean, 100 * math.sqrt(variance / n)


def counts(answers):
    promoters = sum(1 for a in answers if a >= 9)
    detractors = sum(1 for a in answers if a <= 6)
    return promoters, len(answers) - promoters - detractors, detractors


@given(nps_answers)
def test_nps_matches_reference(answers):
    result = scoring.nps(*counts(answers))
    score, se = reference_nps(answers)
    if score is None:
        assert result.score is None and result.se is None and result.ci95 is None
        assert result.band is None and result.margin is None
        return
    # The score and its plain SE (used for comparisons) are unadjusted.
    assert result.score == pytest.approx(score, abs=1e-9)
    assert result.se == pytest.approx(se, abs=1e-9)
    assert -100 <= result.score <= 100
    # The interval is adjusted-Wald: 3/4 more promoters and detractors, 3 more answers.
    promoters, _passives, detractors = counts(answers)
    n = len(answers) + 3
    p, d = (promoters + 0.75) / n, (detractors + 0.75) / n
    half = scoring.quantile95(len(answers)) * math.sqrt((p + d - (p - d) ** 2) / n)
    lo, hi = result.ci95
    assert lo == pytest.approx(100 * max(-1, p - d - half), abs=1e-9)
    assert hi == pytest.approx(100 * min(1, p - d + half), abs=1e-9)
    assert lo <= result.score <= hi
    assert hi > lo
    assert result.margin == pytest.approx((hi - lo) / 2)
    assert result.low_sample is (len(answers) < 30)


def test_adjusted_wald_reference_values():
    """Worked by hand (Rocks 2016: add 3/4 to promoters and detractors, 3 to n)."""
    # 8 promoters, 1 passive, 1 detractor: NPS 70 (unadjusted).
    # n' = 13, p' = 8.75/13 = 0.6730769, d' = 1.75/13 = 0.1346154, centre 0.5384615;
    # p' + d' - centre^2 = 0.8076923 - 0.2899408 = 0.5177515; SE' = sqrt(0.5177515/13) =
    # 0.1995671; below 30 answers t(0.975, 9) = 2.2621572: half-width 0.4514522.
    small = scoring.nps(8, 1, 1)
    assert small.score == 70.0
    assert small.ci95 == pytest.approx((8.7009, 98.9914), abs=1e-4)
    # 20 promoters: the old interval was 100 +/- 0. n' = 23, p' = 20.75/23 = 0.9021739,
    # d' = 0.75/23 = 0.0326087, centre 0.8695652; 0.9347826 - 0.7561437 = 0.1786389;
    # SE' = sqrt(0.1786389/23) = 0.0881301; t(0.975, 19) = 2.0930241: half 0.1844584.
    unanimous = scoring.nps(20, 0, 0)
    assert unanimous.score == 100.0
    assert unanimous.ci95 == pytest.approx((68.5107, 100.0), abs=1e-3)
    # 50/30/20 of 100: 1.96 from 30 answers on. n' = 103, p' = 50.75/103 = 0.4927184,
    # d' = 20.75/103 = 0.2014563, centre 0.2912621; 0.6941748 - 0.0848336 = 0.6093411;
    # SE' = sqrt(0.6093411/103) = 0.0769151; half 1.959964 x 0.0769151 = 0.1507508.
    # (Plain Wald: 30 +/- 1.96 x 7.8102 = 14.69 to 45.31.)
    large = scoring.nps(50, 30, 20)
    assert large.score == 30.0
    assert large.ci95 == pytest.approx((14.0511, 44.2013), abs=1e-3)


def test_nps_edge_cases():
    empty = scoring.nps(0, 0, 0)
    assert (empty.n, empty.score, empty.band, empty.low_sample) == (0, None, None, True)
    all_zero = scoring.nps(0, 0, 5)  # five answers of 0: a valid score, not missing
    assert (all_zero.score, all_zero.se) == (-100.0, 0.0)
    # Never "± 0": five detractors leave room for a better true NPS.
    assert all_zero.ci95[0] == -100.0 and all_zero.ci95[1] > -60
    assert all_zero.band == "poor"
    one = scoring.nps(1, 0, 0)
    assert (one.n, one.score, one.se) == (1, 100.0, 0.0)
    assert one.ci95[1] - one.ci95[0] > 100
    assert scoring.nps(0, 1, 0).score == 0.0


def test_one_rounding_rule_half_up_on_the_decimal_value():
    # 49 net promoters of 400 answers: NPS 12.25 exactly. round() gives 12.2 (half to even);
    # the pages' floatformat and the API give 12.3.
    assert scoring.nps(149, 151, 100).score == 12.25
    assert scoring.rounded(12.25) == 12.3
    assert scoring.rounded(-12.25) == -12.3
    assert scoring.rounded(9.7) == 9.7
    assert scoring.rounded(2.675, 2) == 2.68  # binary 2.67499...; decimal 2.675 rounds up
    assert scoring.rounded(None) is None


@pytest.mark.parametrize(
    ("score", "band"),
    [
        (100, "excellent"),
        (75, "excellent"),
        (74.96, "excellent"),  # shown as 75.0
        (74.94, "very_good"),  # shown as 74.9
        (74.4, "very_good"),
        (50, "very_good"),
        (49, "reasonable"),
        (0, "reasonable"),
        (-0.04, "reasonable"),  # shown as 0.0 (Django prints "-0.0"; still not below 0)
        (-0.4, "poor"),  # shown as -0.4: below 0
        (-1, "poor"),
        (-100, "poor"),
        (None, None),
    ],
)
def test_bands(score, band):
    assert scoring.nps_band(score) == band


@given(st.lists(st.integers(min_value=1, max_value=7), max_size=200))
def test_mean_matches_statistics(answers):
    result = scoring.mean(len(answers), sum(answers), sum(a * a for a in answers))
    if not answers:
        assert result == scoring.Mean(0, None, None, None)
        return
    assert result.mean == pytest.approx(statistics.fmean(answers))
    if len(answers) == 1:
        assert result.sd is None and result.ci95 is None
        return
    assert result.sd == pytest.approx(statistics.stdev(answers), abs=1e-7)
    multiplier = scoring.Z95 if len(answers) >= 30 else scoring.T975[len(answers) - 2]
    half = multiplier * statistics.stdev(answers) / math.sqrt(len(answers))
    assert result.ci95[0] == pytest.approx(statistics.fmean(answers) - half, abs=1e-7)
    assert result.margin == pytest.approx(half, abs=1e-7)


def test_small_sample_means_use_students_t():
    # 1, 2, 3, 4, 5: mean 3, sd sqrt(2.5) = 1.5811388, SE 0.7071068; t(0.975, 4) = 2.7764451,
    # half-width 1.9632432 (1.96 would give 1.3859, an interval too narrow for five answers).
    result = scoring.mean(5, 15, 55)
    assert result.ci95 == pytest.approx((1.0367568, 4.9632432), abs=1e-6)
    # From 30 answers on, 1.96: 15 ones and 15 fives, sd = sqrt(30 x 4 / 29) = 2.0342447,
    # SE 0.3713907, half 0.7279124.
    thirty = scoring.mean(30, 15 * 1 + 15 * 5, 15 * 1 + 15 * 25)
    assert thirty.ci95 == pytest.approx((2.2720876, 3.7279124), abs=1e-6)


@given(st.integers(min_value=0, max_value=500), st.integers(min_value=0, max_value=500))
def test_wilson_contains_the_share_and_stays_in_range(successes, failures):
    n = successes + failures
    result = scoring.proportion(successes, n)
    if n == 0:
        assert result.pct is None and result.ci95 is None
        return
    lo, hi = result.ci95
    assert 0 <= lo <= result.pct <= hi <= 100
    # Reference Wilson formula.
    z, p = scoring.Z95, successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    assert lo == pytest.approx(min(max(0, centre - half), p) * 100)
    assert hi == pytest.approx(max(min(1, centre + half), p) * 100)


@given(nps_answers, nps_answers)
def test_nps_change_uses_independent_se(a, b):
    first, second = scoring.nps(*counts(a)), scoring.nps(*counts(b))
    change = scoring.nps_change(first, second)
    if not a or not b:
        assert change is None
        return
    se = math.sqrt(first.se**2 + second.se**2)
    assert change.delta == pytest.approx(second.score - first.score)
    assert change.se == pytest.approx(se)
    if min(len(a), len(b)) < scoring.LOW_SAMPLE:
        assert change.significant is False
    elif se > 0:
        assert change.significant is (abs(change.delta) > scoring.Z95 * se)


def test_a_change_is_never_significant_on_a_low_sample():
    # One answer at 100% has an SE of 0; a normal test would call any drop significant.
    one = scoring.proportion(1, 1)
    many = scoring.proportion(77, 100)
    change = scoring.proportion_change(one, many)
    assert change.delta == pytest.approx(-23.0)
    assert change.significant is False
    assert scoring.nps_change(scoring.nps(1, 0, 0), scoring.nps(40, 30, 30)).significant is False
    assert (
        scoring.mean_change(scoring.mean(2, 10, 50), scoring.mean(100, 300, 1000)).significant
        is False
    )
    # The same shift with 30+ answers on each side is significant.
    assert scoring.proportion_change(scoring.proportion(30, 30), many).significant is True


def test_changes_with_no_data_are_none():
    empty = scoring.proportion(0, 0)
    assert scoring.proportion_change(empty, scoring.proportion(3, 4)) is None
    assert scoring.mean_change(scoring.mean(1, 5, 25), scoring.mean(3, 9, 29)) is None


def test_proportion_change_reference():
    a, b = scoring.proportion(40, 100), scoring.proportion(60, 100)
    change = scoring.proportion_change(a, b)
    assert change.delta == pytest.approx(20.0)
    assert change.se == pytest.approx(100 * math.sqrt(0.4 * 0.6 / 100 + 0.6 * 0.4 / 100))
    assert change.significant is True


@given(
    st.dictionaries(
        st.sampled_from(scoring.HEALTH_COMPONENTS),
        st.one_of(st.none(), st.floats(min_value=0, max_value=100)),
    ),
    st.dictionaries(st.sampled_from(scoring.HEALTH_COMPONENTS), st.integers(0, 100)),
)
def test_health_is_the_weighted_mean_of_present_components(values, weights):
    result = scoring.health(values, weights, red_below=40, green_from=70)
    if all(values.get(k) is None for k in scoring.HEALTH_COMPONENTS if k != "recency"):
        values = {**values, "recency": None}  # recency alone is no score
    present = {k: v for k, v in values.items() if v is not None and weights.get(k, 0) > 0}
    if not present:
        assert result.score is None and result.colour is None
        return
    expected = sum(v * weights[k] for k, v in present.items()) / sum(weights[k] for k in present)
    assert result.score == pytest.approx(expected)
    assert sum(c.share for c in result.components) == pytest.approx(1.0)
    assert sum(c.contribution or 0 for c in result.components) == pytest.approx(expected)
    assume(abs(expected - 40) > 1e-9 and abs(expected - 70) > 1e-9)
    assert result.colour == ("red" if expected < 40 else "green" if expected >= 70 else "yellow")


def test_recency_alone_is_no_score():
    weights = dict.fromkeys(scoring.HEALTH_COMPONENTS, 10)
    alone = scoring.health({"recency": 0.0}, weights, red_below=40, green_from=70)
    assert (alone.score, alone.colour) == (None, None)
    with_adoption = scoring.health(
        {"recency": 0.0, "adoption": 100.0}, weights, red_below=40, green_from=70
    )
    assert (with_adoption.score, with_adoption.colour) == (50.0, "yellow")


def test_health_components():
    assert scoring.nps_points(1, 1, 0) == 75.0
    assert scoring.nps_points(0, 0, 0) is None
    assert scoring.recency_points(None, 30, 365) == 0.0
    assert scoring.recency_points(10, 30, 365) == 100.0
    assert scoring.recency_points(197.5, 30, 365) == pytest.approx(50.0)
    assert scoring.support_points(None, 5) is None
    assert scoring.support_points(0, 5) == 100.0
    assert scoring.support_points(9, 5) == 0.0


def test_weighted_nps():
    assert scoring.weighted_nps([]) is None
    assert scoring.weighted_nps([(50.0, 0.0)]) is None
    assert scoring.weighted_nps([(100.0, 3000.0), (-100.0, 1000.0)]) == 50.0
