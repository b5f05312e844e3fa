"""Metrics API: summary with group_by and compare, trend, account scores."""

import datetime as dt

import pytest

from tests.factories import (
    AccountFactory,
    ContactFactory,
    InvitationFactory,
    ResponseFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.django_db
PROPERTY_ERROR = (
    "Use key=value (account.key=value for an account property); the key has letters, "
    "digits and single underscores only."
)
UTC = dt.UTC


def _answer(survey, account, score, when, **kwargs):
    contact = ContactFactory(account=account)
    return ResponseFactory(
        invitation=InvitationFactory(survey=survey, contact=contact),
        score=score,
        answered_at=when,
        **kwargs,
    )


@pytest.fixture
def data():
    survey = SurveyFactory(slug="rel")
    starter = AccountFactory(plan="Starter", external_id="s1")
    business = AccountFactory(plan="Business", external_id="b1", mrr="250.00", currency="BRL")
    jan = dt.datetime(2026, 1, 15, 12, tzinfo=UTC)
    feb = dt.datetime(2026, 2, 15, 12, tzinfo=UTC)
    for score in (10, 10, 3):
        _answer(survey, starter, score, feb)
    _answer(survey, business, 8, feb)
    _answer(survey, business, 0, jan)
    _answer(survey, business, 10, feb, excluded=True)
    return survey


def test_summary_keeps_its_shape(api_client, data):
    body = api_client.get(
        "/api/v1/metrics/summary", {"survey": "rel", "start": "2026-02-01", "end": "2026-02-28"}
    ).json()
    assert body == {
        "survey": "rel",
        "kind": "nps",
        "start": "2026-02-01",
        "end": "2026-02-28",
        "responses": 4,
        "nps": {
            "score": 25.0,
            "promoters": 2,
            "passives": 1,
            "detractors": 1,
            "ci95": body["nps"]["ci95"],
            "margin": body["nps"]["margin"],
            "band": "reasonable",
            "low_sample": True,
        },
    }


def test_summary_group_by_plan(api_client, data):
    body = api_client.get("/api/v1/metrics/summary", {"survey": "rel", "group_by": "plan"}).json()
    groups = {group["key"]: group for group in body["groups"]}
    assert groups["Starter"]["responses"] == 3
    assert groups["Starter"]["nps"]["score"] == pytest.approx(33.3)
    assert groups["Business"]["responses"] == 2  # the excluded 10 does not count
    assert groups["Business"]["nps"]["score"] == -50.0


def test_summary_group_by_month_in_time_zone(api_client, data):
    body = api_client.get(
        "/api/v1/metrics/summary", {"survey": "rel", "group_by": "month", "tz": "America/Sao_Paulo"}
    ).json()
    assert [(g["key"], g["responses"]) for g in body["groups"]] == [
        ("2026-01-01", 1),
        ("2026-02-01", 4),
    ]


def test_summary_compare_previous(api_client, data):
    body = api_client.get(
        "/api/v1/metrics/summary",
        {"survey": "rel", "start": "2026-02-01", "end": "2026-02-28", "compare": "previous"},
    ).json()
    compare = body["compare"]
    assert compare["start"] == "2026-01-04" and compare["end"] == "2026-01-31"
    assert compare["responses"] == 1
    assert compare["nps"]["score"] == -100.0
    assert compare["change"]["delta"] == 125.0
    assert isinstance(compare["change"]["significant"], bool)


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        (
            {"survey": "rel", "compare": "previous"},
            "compare",
            "Comparing needs both start and end.",
        ),
        ({"survey": "rel", "group_by": "colour"}, "group_by", '"colour" is not a valid choice.'),
        ({"survey": "rel", "tz": "Mars/Base"}, "tz", "Unknown time zone."),
        ({"survey": "nope"}, "survey", "No survey with slug nope."),
        (
            {"survey": "rel", "property": "no equals"},
            "property",
            PROPERTY_ERROR,
        ),
    ],
)
def test_summary_bad_input(api_client, data, params, field, message):
    response = api_client.get("/api/v1/metrics/summary", params)
    assert response.status_code == 400
    assert response.json()[field] == [message]


def test_trend_by_month(api_client, data):
    body = api_client.get("/api/v1/metrics/trend", {"survey": "rel"}).json()
    assert body["granularity"] == "month"
    assert [(p["period"], p["responses"], p["nps"]["score"]) for p in body["points"]] == [
        ("2026-01-01", 1, -100.0),
        ("2026-02-01", 4, 25.0),
    ]


def test_trend_requires_auth(client, data):
    assert client.get("/api/v1/metrics/trend", {"survey": "rel"}).status_code in (401, 403)


def test_account_scores(api_client, data, django_assert_max_num_queries):
    with time_machine_at(dt.datetime(2026, 2, 20, tzinfo=UTC)):
        # 13: health's inputs from tickets, usage and the ledger (three statements).
        # 15: the account counts read the rollups, the edge hours and each account's latest answer.
        with django_assert_max_num_queries(15):
            response = api_client.get("/api/v1/accounts/b1/scores", {"months": 3})
    body = response.json()
    assert body["account"]["arr"] == "3000.00"
    assert body["account"]["currency"] == "BRL"
    assert body["scores"]["nps"]["responses"] == 2
    assert body["scores"]["nps"]["score"] == -50.0
    assert body["scores"]["csat"]["responses"] == 0
    assert body["scores"]["csat"]["score"] is None
    # The account's category is that of its most recent NPS answer (the 8 of February), not
    # the mean of its answers (8 and 0: 4, which used to make it a detractor).
    assert body["category"] == "passive"
    assert body["category_window_days"] == 365
    assert [(p["period"], p["responses"]) for p in body["trend"]] == [
        ("2026-01-01", 1),
        ("2026-02-01", 1),
    ]
    components = {c["name"]: c for c in body["health"]["components"]}
    assert components["nps"]["value"] == 25.0
    assert components["support"]["value"] is None


def test_account_scores_unknown_account(api_client, data):
    assert api_client.get("/api/v1/accounts/nope/scores").status_code == 404


def time_machine_at(moment):
    import time_machine

    return time_machine.travel(moment, tick=False)


@pytest.mark.parametrize("extra", [0, 20])
def test_summary_and_trend_query_counts_do_not_grow(
    api_client, data, django_assert_max_num_queries, extra
):
    survey = data
    account = AccountFactory()
    for _i in range(extra):
        _answer(survey, account, 9, dt.datetime(2026, 2, 10, tzinfo=UTC))
    params = {"survey": "rel", "start": "2026-02-01", "end": "2026-02-28"}
    # Token and user, the survey, then one query per block: summary, groups, previous period.
    with django_assert_max_num_queries(7):
        body = api_client.get(
            "/api/v1/metrics/summary", {**params, "group_by": "plan", "compare": "previous"}
        ).json()
    assert body["responses"] == 4 + extra
    with django_assert_max_num_queries(5):
        trend = api_client.get("/api/v1/metrics/trend", {**params, "granularity": "day"}).json()
    assert sum(point["responses"] for point in trend["points"]) == 4 + extra
