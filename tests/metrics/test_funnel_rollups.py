"""The funnel's rollups: for random invitations, answers and sequences of writes through every
path (ORM saves, bulk and queryset writes, the answer's upsert, exclusion, quarantine release,
deletes), the funnel read from the rollups equals the funnel counted from the rows for random
periods and time zones, and the rollups the triggers kept equal those rebuilt from the rows."""

import datetime as dt
import os
import threading
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metrics import funnel_rollups, selectors
from metrics.models import InvitationRollup, InvitationRollupExclusion
from metrics.selectors.funnel import funnel_counts, rollups_answer
from surveys import services
from surveys.models import Invitation, Response
from tests.factories import ContactFactory, InvitationFactory, ResponseFactory, SurveyFactory

UTC = dt.UTC
# Invitations from late January to early April 2024: three month boundaries, a leap day.
BASE = dt.datetime(2024, 1, 28, tzinfo=UTC)
QUARTERS = 68 * 24 * 4
ZONES = ["UTC", "America/Sao_Paulo", "Asia/Kolkata", "Pacific/Kiritimati"]
COUNTED = ("invited", "sent", "clicked", "answered", "bounced", "unsubscribed")

# Quarter hours: edges of the local days of +05:30 and +14:00 fall on them too.
moments = st.integers(0, QUARTERS).map(lambda q: BASE + dt.timedelta(minutes=15 * q))
maybe_moment = st.none() | moments

invitations = st.fixed_dictionaries(
    {
        "survey": st.integers(0, 2),
        "created_at": moments,
        "sent_at": maybe_moment,
        "clicked_at": maybe_moment,
        "answered_at": maybe_moment,
        "bounced_at": maybe_moment,
        "unsubscribed_at": maybe_moment,
        "response": st.sampled_from([None, "counted", "excluded", "quarantined"]),
    }
)

FIELDS = ("sent_at", "clicked_at", "answered_at", "bounced_at", "unsubscribed_at")
index = st.integers(0, 50)
writes = st.one_of(
    st.tuples(st.just("update"), index, st.sampled_from(FIELDS), maybe_moment),
    st.tuples(st.just("save"), index, st.sampled_from(FIELDS), maybe_moment),
    st.tuples(st.just("created_at"), index, moments),
    st.tuples(st.just("survey"), index, st.integers(0, 2)),
    st.tuples(
        st.just("bulk_update"), st.lists(index, max_size=6), st.sampled_from(FIELDS), moments
    ),
    st.tuples(st.just("update_survey"), st.integers(0, 2), st.sampled_from(FIELDS), maybe_moment),
    st.tuples(st.just("answer"), index, st.booleans()),
    st.tuples(st.just("exclude"), index, st.booleans()),
    st.tuples(st.just("release"), index),
    st.tuples(st.just("move_response"), index, index),
    st.tuples(st.just("delete_invitation"), index),
    st.tuples(st.just("delete_response"), index),
    st.tuples(st.just("delete_survey"), st.integers(0, 2)),
    st.tuples(st.just("create"), st.lists(invitations, min_size=1, max_size=4)),
)

periods = st.tuples(
    st.none() | st.dates(dt.date(2024, 1, 25), dt.date(2024, 4, 8)),
    st.integers(0, 75),
    st.sampled_from(ZONES),
    st.booleans(),  # open end
)


def create(specs, surveys, contact) -> None:
    """Invitations and their answers in two bulk INSERTs (an import's shape)."""
    rows = Invitation.objects.bulk_create(
        Invitation(
            survey=surveys[spec["survey"]],
            contact=contact,
            status=Invitation.Status.SENT,
            expires_at=dt.datetime(2999, 1, 1, tzinfo=UTC),
            **{name: spec[name] for name in ("created_at", *FIELDS)},
        )
        for spec in specs
    )
    Response.objects.bulk_create(
        Response(
            invitation=row,
            survey=row.survey,
            contact=contact,
            account=contact.account,
            score=9,
            category=1,
            answered_at=spec["answered_at"] or spec["created_at"],
            excluded=spec["response"] in ("excluded", "quarantined"),
            quarantined=spec["response"] == "quarantined",
            suspected_bot=spec["response"] == "quarantined",
        )
        for row, spec in zip(rows, specs, strict=True)
        if spec["response"]
    )


def pick(number: int):
    ids = list(Invitation.objects.order_by("pk").values_list("pk", flat=True))
    return Invitation.objects.get(pk=ids[number % len(ids)]) if ids else None


def write(step, surveys, contact) -> None:  # noqa: C901, PLR0912 (one branch per write path)
    kind, *args = step
    if kind == "create":
        create(args[0], surveys, contact)
        return
    if kind in ("update_survey", "delete_survey"):
        invitations = Invitation.objects.filter(survey=surveys[args[0]])
        if kind == "delete_survey":
            invitations.delete()
        else:
            invitations.update(**{args[1]: args[2]})
        return
    if kind == "bulk_update":
        picked = {inv.pk: inv for number in args[0] if (inv := pick(number))}
        for invitation in picked.values():
            setattr(invitation, args[1], args[2])
        Invitation.objects.bulk_update(picked.values(), [args[1]])
        return
    invitation = pick(args[0])
    if invitation is None:
        return
    response = Response.objects.filter(invitation=invitation).first()
    if kind == "update":
        Invitation.objects.filter(pk=invitation.pk).update(**{args[1]: args[2]})
    elif kind == "save":
        setattr(invitation, args[1], args[2])
        invitation.save()
    elif kind == "created_at":
        invitation.created_at = args[1]
        invitation.save(update_fields=["created_at"])
    elif kind == "survey":
        invitation.survey = surveys[args[1]]
        invitation.save(update_fields=["survey"])
    elif kind == "answer":
        # The answer's one statement: the invitation's claim and the response's upsert.
        signals = {"reasons": ["instant"]} if args[1] else None
        try:
            services.record_answer(invitation=invitation, score=7, bot_signals=signals)
        except ValidationError:
            pass  # closed: nothing written
    elif kind == "exclude" and response:
        services.set_excluded(response_ids=[response.pk], excluded=args[1])
    elif kind == "release" and response:
        services.release_responses(response_ids=[response.pk])
    elif kind == "move_response" and response:
        target = pick(args[1])
        if not Response.objects.filter(invitation=target).exists():
            response.invitation = target
            response.save(update_fields=["invitation"])
    elif kind == "delete_invitation":
        Invitation.objects.filter(pk=invitation.pk).delete()  # cascades to its response
    elif kind == "delete_response" and response:
        response.delete()


def kept_rows() -> tuple[set, set]:
    rollups = {
        (row["survey_id"], row["grain"], row["period"], *(row[name] for name in COUNTED))
        for row in InvitationRollup.objects.values()
        if any(row[name] for name in COUNTED)
    }
    exclusions = set(InvitationRollupExclusion.objects.values_list())
    return rollups, exclusions


def funnels(period_spec, surveys) -> tuple[list, list]:
    start, days, zone, open_end = period_spec
    end = None if open_end else (start or dt.date(2024, 1, 25)) + dt.timedelta(days=days)
    filters = selectors.Filters(period=selectors.Period(start, end, ZoneInfo(zone)), kind="")
    survey_ids = [survey.pk for survey in surveys]
    # The counts: the response rate of random rows may divide answers by fewer sends.
    return (
        funnel_counts(filters=filters, survey_ids=survey_ids),
        funnel_counts(filters=filters, survey_ids=survey_ids, use_rollups=False),
    )


@pytest.mark.django_db
@settings(
    max_examples=int(os.environ.get("FUNNEL_EXAMPLES", "40")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    initial=st.lists(invitations, max_size=12),
    steps=st.lists(writes, max_size=10),
    checks=st.lists(periods, min_size=1, max_size=4),
)
def test_funnel_from_rollups_equals_the_rows_after_any_writes(initial, steps, checks):
    with transaction.atomic():
        surveys = [SurveyFactory(name=name) for name in ("Beta", "Alpha", "Gamma")]
        contact = ContactFactory()
        create(initial, surveys, contact)
        for step in steps:
            write(step, surveys, contact)

        for period_spec in checks:
            from_rollups, from_rows = funnels(period_spec, surveys)
            assert from_rollups == from_rows
        kept = kept_rows()
        funnel_rollups.rebuild()
        assert kept_rows() == kept
        transaction.set_rollback(True)


@pytest.mark.django_db
def test_rollup_rows_by_hand(django_assert_num_queries):
    survey = SurveyFactory()
    late = dt.datetime(2024, 1, 31, 23, 30, tzinfo=UTC)  # 1 Feb 05:00 in Kolkata
    feb = dt.datetime(2024, 2, 10, 12, tzinfo=UTC)
    InvitationFactory(survey=survey, created_at=late, sent_at=late, answered_at=feb)
    InvitationFactory(survey=survey, created_at=feb, sent_at=feb, clicked_at=feb)
    quarantined = ResponseFactory(
        invitation__survey=survey,
        invitation__created_at=feb,
        invitation__sent_at=feb,
        invitation__answered_at=feb,
        excluded=True,
        quarantined=True,
    )
    InvitationFactory(survey=survey, created_at=feb, sent_at=None, bounced_at=feb)

    def row(grain, period):
        found = InvitationRollup.objects.get(survey=survey, grain=grain, period=period)
        return tuple(getattr(found, name) for name in COUNTED)

    # invited, sent, clicked, answered, bounced, unsubscribed
    assert row("d", dt.date(2024, 1, 31)) == (1, 1, 1, 1, 0, 0)
    assert row("m", dt.date(2024, 1, 1)) == (1, 1, 1, 1, 0, 0)
    # Feb 10: a click; a quarantined answer (neither clicked nor answered); a bounce.
    assert row("d", dt.date(2024, 2, 10)) == (3, 2, 1, 0, 1, 0)
    assert row("m", dt.date(2024, 2, 1)) == (3, 2, 1, 0, 1, 0)

    services.release_responses(response_ids=[quarantined.pk])
    assert row("d", dt.date(2024, 2, 10)) == (3, 2, 2, 1, 1, 0)

    # February in Kolkata: the answered invitation of 31 January 23:30 UTC is in it.
    period = selectors.Period(dt.date(2024, 2, 1), dt.date(2024, 2, 29), ZoneInfo("Asia/Kolkata"))
    with django_assert_num_queries(3):  # surveys, rollup pieces, raw edge hours
        (counts,) = selectors.funnel(filters=selectors.Filters(period=period))
    assert (counts["invited"], counts["answered"], counts["clicked"]) == (4, 2, 3)
    assert (counts["response_rate"].n, counts["response_rate"].successes) == (3, 2)


def test_filters_the_rollups_lack_read_the_rows():
    assert rollups_answer(selectors.Filters(period=_any_period(), kind="csat"))
    for change in ({"plan": "pro"}, {"account": 1}, {"language": "es"}, {"property_key": "a"}):
        assert not rollups_answer(selectors.Filters(period=_any_period(), **change))


def _any_period():
    return selectors.Period(dt.date(2024, 1, 1), dt.date(2024, 1, 31), ZoneInfo("UTC"))


@pytest.mark.django_db
def test_rebuild_since_a_month_recounts_from_it_and_leaves_earlier_months():
    survey = SurveyFactory()
    for day in (dt.date(2024, 1, 5), dt.date(2024, 2, 5), dt.date(2024, 3, 5)):
        InvitationFactory(survey=survey, created_at=dt.datetime.combine(day, dt.time(9), UTC))
    InvitationRollup.objects.update(invited=99)

    written = funnel_rollups.rebuild(dt.date(2024, 2, 20))

    assert written == 4  # a day and a month row for February and for March
    by_period = dict(InvitationRollup.objects.values_list("period", "invited"))
    assert by_period[dt.date(2024, 1, 1)] == 99  # before `since`: untouched
    assert by_period[dt.date(2024, 2, 1)] == by_period[dt.date(2024, 3, 5)] == 1
    assert funnel_rollups.rebuild() == 6
    assert set(InvitationRollup.objects.values_list("invited", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
def test_writes_during_a_rebuild_stay_exact():
    """A rebuild in one thread while others answer, exclude, release and move invitations
    across months on their own connections: the kept rollups equal a fresh recount."""
    surveys = [SurveyFactory(), SurveyFactory()]
    contact = ContactFactory()
    create(
        [
            {
                "survey": number % 2,
                "created_at": BASE + dt.timedelta(hours=7 * number),
                "sent_at": BASE,
                "clicked_at": None,
                "answered_at": BASE if number % 3 else None,
                "bounced_at": None,
                "unsubscribed_at": None,
                "response": ("counted", "excluded", "quarantined", None)[number % 4],
            }
            for number in range(240)
        ],
        surveys,
        contact,
    )
    ids = list(Invitation.objects.order_by("pk").values_list("pk", flat=True))
    errors = []

    def run(work):
        try:
            for number in range(40):
                work(number)
        except Exception as error:  # noqa: BLE001 (reported by the assertion below)
            errors.append(error)
        finally:
            connection.close()

    @transaction.atomic
    def move(number):
        invitation = Invitation.objects.get(pk=ids[number * 5])
        invitation.created_at = BASE + dt.timedelta(days=(number * 13) % 60, hours=number)
        invitation.clicked_at = BASE if number % 2 else None
        invitation.save()

    @transaction.atomic
    def exclude(number):
        responses = list(Response.objects.filter(invitation_id__in=ids[number::40]))
        services.set_excluded(response_ids=[r.pk for r in responses], excluded=number % 2 == 0)

    def rebuild(number):
        funnel_rollups.rebuild()  # one transaction per month, as the command runs it

    threads = [threading.Thread(target=run, args=(work,)) for work in (move, exclude, rebuild)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    kept = kept_rows()
    funnel_rollups.rebuild()
    assert kept_rows() == kept
    assert connections["default"].vendor == "postgresql"
