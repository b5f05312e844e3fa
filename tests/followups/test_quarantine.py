"""An answer flagged as a suspected bot is quarantined: it counts in no score, alert, follow-up,
webhook or default export until staff release it (admin action or API), and the flag shows in
the follow-up queue, the account timeline and as an export column. Before, it was flagged but
still counted, opened a detractor follow-up, fired alerts and went out in webhooks."""

import csv
import datetime as dt
import importlib
import io

import pytest
from django.apps import apps as global_apps
from django.urls import reverse
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import roles
from followups import deliveries
from followups.models import AlertDelivery, AlertRule, FollowUp, WebhookDelivery
from metrics import selectors
from metrics.exports import columns, files
from surveys import services
from surveys.models import Response
from tests.factories import (
    AccountFactory,
    ContactFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)

pytestmark = pytest.mark.django_db

SCANNER_UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) HeadlessChrome/126.0 Safari/537.36"
BROWSER_UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"


@pytest.fixture
def setting():
    """A survey, an account with an owner, a detractor alert and a webhook subscription."""
    owner = StaffFactory(username="olga", email="olga@example.com", role=roles.CS_STAFF)
    account = AccountFactory(external_id="acme", owner=owner)
    survey = SurveyFactory(slug="rel")
    AlertRule.objects.create(name="Detractors", notify_owner=True, on_negative=True)
    deliveries.create_endpoint(
        url="https://hooks.example.com/in", events=["response.created", "response.updated"]
    )
    return {"survey": survey, "account": account, "owner": owner}


def invitation(setting, **kwargs):
    contact = ContactFactory(account=setting["account"])
    kwargs.setdefault("sent_at", timezone.now() - dt.timedelta(hours=1))
    return InvitationFactory(survey=setting["survey"], contact=contact, **kwargs)


def post(client, inv, data, user_agent):
    return client.post(
        reverse("public:answer", args=[inv.token]),
        data,
        HTTP_USER_AGENT=user_agent,
        HTTP_X_REQUESTED_WITH="fetch",
    )


def everything_downstream() -> tuple[int, int, int]:
    services.announce_saved_responses()  # what the worker does a second after an answer
    return FollowUp.objects.count(), AlertDelivery.objects.count(), WebhookDelivery.objects.count()


def nps_n(survey) -> int:
    filters = selectors.Filters(period=selectors.Period(None, None, dt.UTC), surveys=(survey.pk,))
    return selectors.score_summary(filters=filters)["n"]


def exported(survey, quarantined="exclude") -> list[dict]:
    filters = selectors.Filters(period=selectors.Period(None, None, dt.UTC), surveys=(survey.pk,))
    body = b"".join(files.csv_chunks(filters, columns.ExportOptions(quarantined=quarantined)))
    return list(csv.DictReader(io.StringIO(body.decode())))


def test_a_scanners_answer_counts_nowhere_until_staff_release_it(client, setting):
    suspect = invitation(setting)
    assert post(client, suspect, {"score": "0", "via": "tap"}, SCANNER_UA).status_code == 200

    response = Response.objects.get()
    assert (response.suspected_bot, response.quarantined, response.excluded) == (True, True, True)
    assert response.bot_signals["reasons"] == ["scanner user agent"]
    assert nps_n(setting["survey"]) == 0
    assert everything_downstream() == (0, 0, 0)
    assert exported(setting["survey"]) == []
    [row] = exported(setting["survey"], quarantined="include")
    assert (row["score"], row["quarantined"]) == ("0", "true")
    assert (row["suspected_bot"], row["excluded"]) == ("true", "true")
    assert [r["quarantined"] for r in exported(setting["survey"], quarantined="only")] == ["true"]

    # Staff judge it a person: released, it counts and gets its follow-up, alert and webhook.
    admin = StaffFactory(username="boss", role=roles.ADMINISTRATORS)
    client.force_login(admin)
    done = client.post(
        reverse("admin:surveys_response_changelist"),
        {"action": "release_responses", "_selected_action": [response.pk]},
        follow=True,
    )
    assert "1 response released: it counts from now on." in done.content.decode()
    response.refresh_from_db()
    assert (response.quarantined, response.excluded, response.released_by) == (False, False, admin)
    assert response.suspected_bot is True  # the evidence stays
    assert nps_n(setting["survey"]) == 1
    assert everything_downstream() == (1, 1, 1)
    assert WebhookDelivery.objects.get().event == "response.created"
    assert [r["quarantined"] for r in exported(setting["survey"])] == ["false"]
    [row] = exported(setting["survey"])
    assert (row["suspected_bot"], row["excluded"]) == ("true", "false")  # flagged, now counted


def test_release_through_the_api(setting):
    response = services.record_answer(
        invitation=invitation(setting), score=3, bot_signals={"reasons": ["scanner user agent"]}
    )
    url = f"/api/v1/responses/{response.public_id}/release"

    def api(role: str) -> APIClient:
        roles.ensure_permissions_and_roles()
        user = StaffFactory(username=role.lower().replace(" ", "-"), role=role)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
        return client

    assert api(roles.MARKETING).post(url).status_code == 403
    assert Response.objects.get().quarantined is True
    cs = api(roles.CS_STAFF)
    released = cs.post(url)
    assert released.status_code == 200
    body = released.json()
    assert (body["released"], body["quarantined"], body["excluded"]) == (True, False, False)
    assert body["released_by"] == "cs-staff" and body["released_at"]
    again = cs.post(url)  # idempotent
    assert (again.status_code, again.json()["released"]) == (200, False)
    assert (
        cs.post("/api/v1/responses/00000000-0000-0000-0000-000000000000/release").status_code == 404
    )
    assert nps_n(setting["survey"]) == 1
    listed = cs.get("/api/v1/responses", {"survey": "rel"}).json()["results"]
    assert [(r["quarantined"], r["suspected_bot"]) for r in listed] == [(False, True)]


def test_a_person_answering_after_a_scanner_fetched_every_link_counts(client, setting):
    inv = invitation(setting)
    url = reverse("public:answer", args=[inv.token])
    for score in range(11):
        client.head(f"{url}?score={score}", HTTP_USER_AGENT=SCANNER_UA)
        client.get(f"{url}?score={score}", HTTP_USER_AGENT=SCANNER_UA)
    post(client, inv, {"score": "9", "via": "page"}, BROWSER_UA)
    response = Response.objects.get()
    assert (response.suspected_bot, response.quarantined) == (False, False)
    assert response.bot_signals["context"] == ["every score link fetched", "HEAD before GET"]
    assert nps_n(setting["survey"]) == 1


def test_a_page_that_only_stayed_open_is_no_answer_of_a_person(client, setting):
    # What the old script sent after three visible seconds, with no tap or key.
    post(client, invitation(setting), {"score": "10", "via": "visible"}, BROWSER_UA)
    response = Response.objects.get()
    assert response.bot_signals["reasons"] == ["confirmed without a human action"]
    assert response.quarantined is True and nps_n(setting["survey"]) == 0


def test_quarantine_follows_the_latest_answer_but_never_undoes_staff_exclusion(client, setting):
    inv = invitation(setting)
    post(client, inv, {"score": "0", "via": "tap"}, SCANNER_UA)
    post(client, inv, {"score": "8", "via": "tap"}, BROWSER_UA)  # then the person answers
    response = Response.objects.get()
    assert (response.score, response.quarantined, response.excluded) == (8, False, False)
    post(client, inv, {"score": "1", "via": "tap"}, SCANNER_UA)  # a scanner after a person
    response.refresh_from_db()
    assert (response.score, response.quarantined, response.excluded) == (1, True, True)
    services.set_excluded(response_ids=[response.pk], excluded=True)  # staff: a bot indeed
    post(client, inv, {"score": "9", "via": "tap"}, BROWSER_UA)
    response.refresh_from_db()
    assert (response.quarantined, response.excluded) == (False, True)


def test_the_flag_shows_in_the_queue_and_on_the_account_timeline(client, setting):
    counted = services.record_answer(invitation=invitation(setting), score=2)
    services.announce_saved_responses()  # a follow-up opens for the counted detractor
    # A scanner then answers the same invitation: the follow-up stays, flagged.
    services.record_answer(
        invitation=counted.invitation, score=0, bot_signals={"reasons": ["scanner user agent"]}
    )
    client.force_login(setting["owner"])
    queue = client.get(reverse("followups:queue")).content.decode()
    assert "quarantined: suspected bot" in queue
    assert "1 answer is quarantined as a suspected bot" in queue
    timeline = client.get(reverse("reports:account", args=["acme"])).content.decode()
    assert "quarantined: suspected bot, not counted until released" in timeline
    assert 'data-quarantined="true"' in timeline


def test_the_migration_quarantines_earlier_suspects_by_the_same_rule():
    migration = importlib.import_module(
        "surveys.migrations.0010_quarantine_and_invitation_outcomes"
    )
    scanner = ResponseFactory(
        suspected_bot=True, bot_signals={"reasons": ["scanner user agent", "HEAD before GET"]}
    )
    visible = ResponseFactory(confirmed_via="visible", bot_signals={"reasons": []})
    fetched = ResponseFactory(
        suspected_bot=True, bot_signals={"reasons": ["every score link fetched"]}
    )
    staff_excluded = ResponseFactory(
        suspected_bot=True, excluded=True, bot_signals={"reasons": ["scanner user agent"]}
    )
    person = ResponseFactory()

    migration.quarantine_suspected_bots(global_apps, None)

    flags = {
        name: Response.objects.values_list("suspected_bot", "quarantined", "excluded").get(pk=r.pk)
        for name, r in [
            ("scanner", scanner),
            ("visible", visible),
            ("fetched", fetched),
            ("staff_excluded", staff_excluded),
            ("person", person),
        ]
    }
    assert flags == {
        "scanner": (True, True, True),
        "visible": (True, True, True),
        "fetched": (False, False, False),  # a person after a scanner: counted
        "staff_excluded": (True, False, True),  # staff's decision stays
        "person": (False, False, False),
    }
