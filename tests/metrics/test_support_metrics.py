"""Support figures: the issue's worked example (T1..T4) worked by hand, through the pure math,
the SQL and `GET /api/v1/metrics/support`; filters, periods and bad input."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from accounts.roles import CS_STAFF
from metrics import support_scoring as ss
from metrics import support_selectors as sel
from tests.factories import (
    AccountFactory,
    ContactFactory,
    CsatSurveyFactory,
    InvitationFactory,
    ResponseFactory,
    TicketFactory,
)

URL = "/api/v1/metrics/support"
T0 = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)

# The worked example, by hand (minutes):
#   T1 reply 30, solved 60, 1 reply          -> solved, FCR
#   T2 reply 120, solved 360, 3 replies      -> solved, not FCR (3 replies)
#   T3 reply 15, solved 180 after a reopen   -> solved, not FCR (reopened)
#   T4 reply 10, still open                  -> not solved
# created 4, solved 3: solve rate 3/4 = 75%; FCR 1/3 = 33.33%; reopened 1 of the 3 ever solved
# = 33.33%. First reply over 4 replies: mean (30 + 120 + 15 + 10) / 4 = 175 / 4 = 43.75; sorted
# 10, 15, 30, 120: median (15 + 30) / 2 = 22.5; p90 at rank 0.9 x 3 = 2.7: 30 + 0.7 x 90 = 93.
# Resolution over the 3 solved: mean (60 + 360 + 180) / 3 = 200; sorted 60, 180, 360: median
# 180; p90 at rank 0.9 x 2 = 1.8: 180 + 0.8 x 180 = 324.
EXPECTED = {
    "tickets_created": 4,
    "tickets_solved": 3,
    "solve_rate_pct": 75.0,
    "fcr_pct": 33.33,
    "reopen_pct": 33.33,
    "first_reply_minutes": {"mean": 43.75, "median": 22.5, "p90": 93.0},
    "resolution_minutes": {"mean": 200.0, "median": 180.0, "p90": 324.0},
}


def worked_example(account, **extra):
    kw = {"account": account, "created_at": T0, **extra}
    return [
        TicketFactory(reply=30, solved=60, agent_replies=1, **kw),
        TicketFactory(reply=120, solved=360, agent_replies=3, **kw),
        TicketFactory(reply=15, first_solved=90, solved=180, agent_replies=2, reopens=1, **kw),
        TicketFactory(reply=10, agent_replies=1, **kw),
    ]


def test_the_worked_example_in_pure_math():
    facts = [
        ss.TicketFacts(first_reply=30, solved=60, agent_replies=1, reopens=0),
        ss.TicketFacts(first_reply=120, solved=360, agent_replies=3, reopens=0),
        ss.TicketFacts(first_reply=15, solved=180, agent_replies=2, reopens=1),
        ss.TicketFacts(first_reply=10, solved=None, agent_replies=1, reopens=0),
    ]
    assert ss.summarize(facts).payload() == EXPECTED


def test_percentile_interpolates_between_closest_ranks():
    assert ss.percentile([10, 15, 30, 120], 0.5) == 22.5
    assert ss.percentile([120, 10, 30, 15], 0.9) == pytest.approx(93.0)
    assert ss.percentile([7], 0.9) == 7
    assert ss.percentile([], 0.5) is None


def test_an_empty_period_gives_nulls_never_zeros():
    assert ss.summarize([]).payload() == {
        "tickets_created": 0,
        "tickets_solved": 0,
        "solve_rate_pct": None,
        "fcr_pct": None,
        "reopen_pct": None,
        "first_reply_minutes": {"mean": None, "median": None, "p90": None},
        "resolution_minutes": {"mean": None, "median": None, "p90": None},
    }


@pytest.mark.django_db
@pytest.mark.role(CS_STAFF)
def test_the_worked_example_through_the_api(api_client):
    acme = AccountFactory(external_id="acme", plan="Enterprise")
    worked_example(acme)
    # Outside the period or another account: never counted.
    TicketFactory(account=acme, created_at=T0 - dt.timedelta(days=40), reply=1, solved=2)
    reply = api_client.get(URL, {"start": "2026-03-01", "end": "2026-04-01", "tz": "UTC"})
    assert reply.status_code == 200, reply.json()
    assert reply.json() == {"start": "2026-03-01", "end": "2026-04-01", "tz": "UTC", **EXPECTED}


@pytest.mark.django_db
@pytest.mark.role(CS_STAFF)
def test_filters_by_account_plan_and_channel(api_client):
    acme = AccountFactory(external_id="acme", plan="Enterprise")
    worked_example(acme)
    other = AccountFactory(external_id="globex", plan="Starter")
    TicketFactory(account=other, created_at=T0, reply=5, solved=5, channel="chat")
    period = {"start": "2026-03-01", "end": "2026-04-01"}
    assert api_client.get(URL, period).json()["tickets_created"] == 5
    by_account = api_client.get(URL, {**period, "account": "acme"}).json()
    assert {k: by_account[k] for k in EXPECTED} == EXPECTED
    assert api_client.get(URL, {**period, "plan": "Enterprise"}).json()["tickets_created"] == 4
    chat = api_client.get(URL, {**period, "channel": "Chat"}).json()
    assert (chat["tickets_created"], chat["fcr_pct"]) == (1, 100.0)


@pytest.mark.django_db
@pytest.mark.role(CS_STAFF)
def test_the_period_is_read_in_the_viewers_time_zone(api_client):
    account = AccountFactory()
    # 02:00 UTC on 1 March is 23:00 on 28 February in São Paulo (UTC-3).
    TicketFactory(account=account, created_at=dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC))
    march = {"start": "2026-03-01", "end": "2026-04-01"}
    assert api_client.get(URL, {**march, "tz": "UTC"}).json()["tickets_created"] == 1
    assert api_client.get(URL, {**march, "tz": "America/Sao_Paulo"}).json()["tickets_created"] == 0


@pytest.mark.django_db
@pytest.mark.role(CS_STAFF)
@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"end": "2026-04-01"}, "start"),
        ({"start": "2026-03-01"}, "end"),
        ({"start": "2026-03-01", "end": "2026-03-01"}, "end"),
        ({"start": "2026-03-01", "end": "2046-03-01"}, "end"),
        ({"start": "2026-02-30", "end": "2026-04-01"}, "start"),
        ({"start": "2026-03-01", "end": "2026-04-01", "tz": "Mars/Base"}, "tz"),
        ({"start": "2026-03-01", "end": "2026-04-01", "account": "nobody"}, "account"),
        ({"start": "2026-03-01", "end": "2026-04-01", "account": "a\x00"}, "account"),
    ],
)
def test_bad_parameters_are_400s_naming_them(api_client, query, field):
    reply = api_client.get(URL, query)
    assert reply.status_code == 400
    assert field in reply.json()


@pytest.mark.django_db
def test_the_breakdowns_come_from_one_scan_and_add_up():
    acme = AccountFactory(plan="Enterprise")
    worked_example(acme, assignee="maria")
    globex = AccountFactory(plan="Starter")
    TicketFactory(account=globex, created_at=T0 + dt.timedelta(days=31), reply=5, channel="chat")
    filters = sel.SupportFilters(dt.date(2026, 3, 1), dt.date(2026, 5, 1), ZoneInfo("UTC"))
    report = sel.support_report(filters=filters)
    assert report.summary.created == 5
    assert [(key, s.created) for key, s in report.by["channel"]] == [("email", 4), ("chat", 1)]
    assert [(key, s.created) for key, s in report.by["plan"]] == [("Enterprise", 4), ("Starter", 1)]
    assert [(key, s.created) for key, s in report.by["month"]] == [
        (dt.date(2026, 3, 1), 4),
        (dt.date(2026, 4, 1), 1),
    ]
    maria = dict(report.by["assignee"])["maria"]
    assert maria.payload() == EXPECTED
    assert sel.support_summary(filters=filters).payload() == report.summary.payload()


@pytest.mark.django_db
def test_csat_per_ticket_by_first_reply_bucket_channel_and_assignee():
    survey = CsatSurveyFactory()
    acme = AccountFactory()
    contact = ContactFactory(account=acme)
    fast = TicketFactory(account=acme, created_at=T0, reply=20, assignee="maria", external_id="F")
    slow = TicketFactory(account=acme, created_at=T0, reply=300, assignee="joao", external_id="S")
    TicketFactory(account=acme, created_at=T0, external_id="N", channel="chat")  # no reply
    # The invitation's event id names the ticket (one per survey), or its `ticket` property.
    answers = [(fast, 5, "event"), (fast, 4, "property"), (fast, 5, "property")]
    answers += [(slow, 2, "event"), (slow, 4, "property")]
    for ticket, score, by in answers:
        invitation = InvitationFactory(
            survey=survey,
            contact=contact,
            event_id=ticket.external_id if by == "event" else None,
            properties={"ticket": ticket.external_id} if by == "property" else {},
        )
        ResponseFactory(invitation=invitation, score=score)
    InvitationFactory(survey=survey, contact=contact, event_id="N")  # asked, never answered
    excluded = InvitationFactory(survey=survey, contact=contact, properties={"ticket": "N"})
    ResponseFactory(invitation=excluded, score=1, excluded=True)
    # Another account's ticket with the same id is not this answer's ticket.
    TicketFactory(account=AccountFactory(), source="csv", created_at=T0, reply=1, external_id="F")
    filters = sel.SupportFilters(dt.date(2026, 3, 1), dt.date(2026, 4, 1), ZoneInfo("UTC"))
    csat = sel.csat_by_ticket(filters=filters)
    # 5 answers, 4 and 5 satisfied: fast 3 of 3, slow 1 of 2.
    assert (csat["total"]["answers"], csat["total"]["satisfied"]) == (5, 4)
    buckets = {key: (s["answers"], s["satisfied"]) for key, s in csat["reply_bucket"]}
    assert buckets == {"under_1h": (3, 3), "4h_24h": (1 + 1, 1)}
    assert [key for key, _s in csat["reply_bucket"]] == ["under_1h", "4h_24h"]
    assignees = {key: s["pct"] for key, s in csat["assignee"]}
    assert assignees == {"maria": 100.0, "joao": 50.0}
    low, high = dict(csat["assignee"])["joao"]["ci95"]
    assert low < 50 < high and dict(csat["assignee"])["joao"]["low_sample"] is True


def test_recurrence_flags_months_against_the_accounts_own_trailing_mean():
    months = [(i, c) for i, c in enumerate([2, 3, 2, 3, 2, 0, 6, 0, 1])]
    rows = ss.recurrence(months)
    assert [row.trailing_mean for row in rows[:6]] == [None] * 6
    # Month 6: the previous six (2, 3, 2, 3, 2, 0) average 2; 6 tickets is 3x: high.
    assert (rows[6].trailing_mean, rows[6].ratio, rows[6].flag) == (2.0, 3.0, "high")
    # Month 7: mean of (3, 2, 3, 2, 0, 6) = 16 / 6 = 2.67 >= 2, and 0 <= a quarter: quiet.
    assert rows[7].flag == "quiet"
    # Month 8: mean of (2, 3, 2, 0, 6, 0) = 13 / 6 = 2.17; 1 ticket is 0.46 of it: neither.
    assert rows[8].flag is None


def test_adoption_and_usage_trend():
    assert ss.adoption_pct(42, 50) == 84.0
    assert ss.adoption_pct(60, 50) == 120.0  # more users than licensed seats
    assert ss.adoption_pct(42, None) is None and ss.adoption_pct(None, 50) is None
    assert ss.usage_trend_pct(70, 100) == pytest.approx(-30.0)
    assert ss.usage_trend_pct(10, 0) is None


@pytest.mark.django_db
def test_the_breakdowns_match_a_reference_on_seeded_random_tickets():
    """Every group's counts and times equal the pure-math reference (and PostgreSQL's own
    `percentile_cont` over the group): seeded tickets with tied times, groups of one ticket,
    tickets without a reply or unsolved, a channel with no reply at all, and group names
    whose order differs between collations ("Email"/"email", accents)."""
    import random

    from django.db import connection

    rng = random.Random(20261130)
    plans = ["Starter", "starter", "Ação"]
    accounts = [AccountFactory(plan=plan) for plan in plans]
    channels = ["email", "Email", "chat", "único"]
    expected: dict[tuple[str, object], list[ss.TicketFacts]] = {}
    for i in range(240):
        account = rng.choice(accounts)
        channel = rng.choice(channels)
        assignee = rng.choice(["ana", "Ana", "bruno", "çelik"])
        created = T0 + dt.timedelta(days=rng.choice([0, 31]), minutes=rng.randrange(600))
        reply = rng.choice([None, 5, 5, 30, 30, 45, 120, rng.randrange(1, 2000)])
        if channel == "único":
            reply = None  # a channel whose first-reply percentiles have no values
        solved = rng.choice([None, 60, 60, 240, rng.randrange(1, 5000)])
        reopens = int(rng.random() < 0.2)
        replies = rng.choice([0, 1, 2])
        TicketFactory(
            account=account,
            channel=channel,
            assignee=assignee,
            created_at=created,
            reply=reply,
            solved=solved,
            reopens=reopens,
            agent_replies=replies,
        )
        facts = ss.TicketFacts(
            first_reply=reply, solved=solved, agent_replies=replies, reopens=reopens
        )
        month = dt.date(created.year, created.month, 1)
        for key in (("", None), ("channel", channel), ("assignee", assignee)):
            expected.setdefault(key, []).append(facts)
        expected.setdefault(("plan", account.plan), []).append(facts)
        expected.setdefault(("month", month), []).append(facts)
    # Groups of a single ticket, one with a reply and one without.
    lone = AccountFactory(plan="Solo")
    TicketFactory(account=lone, channel="fax", assignee="zé", created_at=T0, reply=7, solved=9)
    TicketFactory(account=lone, channel="sms", assignee="yu", created_at=T0)
    expected[("channel", "fax")] = [
        ss.TicketFacts(first_reply=7, solved=9, agent_replies=1, reopens=0)
    ]
    expected[("channel", "sms")] = [
        ss.TicketFacts(first_reply=None, solved=None, agent_replies=1, reopens=0)
    ]
    both = [f for (name, _), group in expected.items() if name == "channel" for f in group]
    expected[("", None)] = both
    expected[("assignee", "zé")] = [expected[("channel", "fax")][0]]
    expected[("assignee", "yu")] = [expected[("channel", "sms")][0]]
    expected[("plan", "Solo")] = expected[("channel", "fax")] + expected[("channel", "sms")]
    expected[("month", dt.date(2026, 3, 1))] += expected[("plan", "Solo")]

    filters = sel.SupportFilters(dt.date(2026, 3, 1), dt.date(2026, 5, 1), ZoneInfo("UTC"))
    report = sel.support_report(filters=filters)

    def same(actual: ss.SupportSummary, reference: ss.SupportSummary):
        for name in ("created", "solved", "ever_solved", "reopened", "fcr"):
            assert getattr(actual, name) == getattr(reference, name), name
        for name in ("first_reply", "resolution"):
            got, want = getattr(actual, name), getattr(reference, name)
            assert got.n == want.n
            assert got.median == want.median  # exact: whole minutes, same interpolation
            assert got.p90 == want.p90
            if want.mean is None:
                assert got.mean is None
            else:
                assert got.mean == pytest.approx(want.mean, rel=1e-12)

    same(report.summary, ss.summarize(expected[("", None)]))
    groups = {(name, key) for name in sel.DIMENSIONS for key, _summary in report.by[name]}
    assert groups == {key for key in expected if key[0]}
    for name in sel.DIMENSIONS:
        for key, summary in report.by[name]:
            same(summary, ss.summarize(expected[(name, key)]))
    unanswered = dict(report.by["channel"])["único"].first_reply
    assert (unanswered.n, unanswered.median, unanswered.p90) == (0, None, None)

    # And PostgreSQL's own percentile_cont, group by group, for the first replies by channel.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT channel, percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP ("
            " ORDER BY date_part('epoch', first_reply_at - created_at) / 60)"
            " FROM outcomes_ticket GROUP BY channel"
        )
        direct = {channel: quantiles for channel, quantiles in cursor.fetchall()}
    for channel, summary in report.by["channel"]:
        if summary.first_reply.n:
            assert [summary.first_reply.median, summary.first_reply.p90] == direct[channel]
