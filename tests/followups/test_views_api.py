import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from followups import services
from followups.models import FollowUp, Note, Tag
from tests.factories import AccountFactory, ResponseFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def response(cs_user):
    return ResponseFactory(
        score=2, comment="Slow", invitation__contact__account=AccountFactory(owner=cs_user)
    )


def api_as(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def url(response, notes=False):
    return f"/api/v1/responses/{response.public_id}/followup" + ("/notes" if notes else "")


# --- Pages ----------------------------------------------------------------------------------


def test_queue_needs_a_signed_in_staff_user(client, role_user):
    assert client.get("/followups/").status_code == 302
    customer = role_user(None, "customer")
    customer.is_staff = False
    customer.save()
    client.force_login(customer)
    assert client.get("/followups/").status_code == 302  # the admin login, as for every staff page


def test_staff_without_a_role_gets_403(client, role_user):
    client.force_login(role_user(None, "norole"))
    assert client.get("/followups/").status_code == 403


def test_queue_shows_my_accounts_by_default(client, cs_user, response):
    theirs = ResponseFactory(
        score=1,
        comment="Theirs",
        invitation__contact__account=AccountFactory(owner=StaffFactory(username="pat")),
    )
    services.ensure_followup(response=response)
    services.ensure_followup(response=theirs)
    client.force_login(cs_user)
    page = client.get("/followups/")
    assert page.status_code == 200
    body = page.content.decode()
    assert f"/followups/{response.public_id}/" in body
    assert f"/followups/{theirs.public_id}/" not in body
    everyone = client.get("/followups/", {"scope": "all"}).content.decode()
    assert f"/followups/{theirs.public_id}/" in everyone
    assert 'id="time-to-first-action"' in body


def test_queue_page_query_count_does_not_grow_with_rows(
    client, cs_user, django_assert_max_num_queries
):
    for _ in range(15):
        services.ensure_followup(
            response=ResponseFactory(
                score=1, invitation__contact__account=AccountFactory(owner=cs_user)
            )
        )
    client.force_login(cs_user)
    with django_assert_max_num_queries(12):
        assert client.get("/followups/").status_code == 200


def test_cs_staff_updates_status_tags_and_notes_in_the_page(client, cs_user, response):
    client.force_login(cs_user)
    assert client.get(f"/followups/{response.public_id}/").status_code == 200
    assert not FollowUp.objects.exists()  # a read writes nothing

    posted = client.post(
        f"/followups/{response.public_id}/",
        {
            "action": "update",
            "status": "in_progress",
            "assignee": cs_user.pk,
            "tags": "Pricing, churn risk",
        },
    )
    assert posted.status_code == 302
    followup = FollowUp.objects.get(response=response)
    assert followup.status == "in_progress"
    assert sorted(followup.tags.values_list("name", flat=True)) == ["Pricing", "churn risk"]

    noted = client.post(f"/followups/{response.public_id}/", {"action": "note", "body": "Called"})
    assert noted.status_code == 302
    note = Note.objects.get()
    assert (note.author, note.body, note.followup) == (cs_user, "Called", followup)
    page = client.get(f"/followups/{response.public_id}/").content.decode()
    assert "Called" in page and "cs ·" in page


def test_page_refuses_a_bad_status_and_an_empty_note(client, cs_user, response):
    client.force_login(cs_user)
    bad = client.post(f"/followups/{response.public_id}/", {"action": "update", "status": "done"})
    assert bad.status_code == 400
    assert "Select a valid choice" in bad.content.decode()
    empty = client.post(f"/followups/{response.public_id}/", {"action": "note", "body": ""})
    assert empty.status_code == 400
    assert "This field is required" in empty.content.decode()
    assert not FollowUp.objects.exists()
    assert not Note.objects.exists()


def test_marketing_reads_but_cannot_change_follow_ups(client, marketing_user, response):
    followup = services.ensure_followup(response=response)
    client.force_login(marketing_user)
    assert client.get("/followups/", {"scope": "all"}).status_code == 200
    page = client.get(f"/followups/{response.public_id}/")
    assert page.status_code == 200
    assert 'id="followup-form"' not in page.content.decode()
    assert 'id="note-form"' not in page.content.decode()

    for data in (
        {"action": "update", "status": "closed_won", "tags": "x"},
        {"action": "note", "body": "hi"},
    ):
        assert client.post(f"/followups/{response.public_id}/", data).status_code == 403
    followup.refresh_from_db()
    assert (followup.status, followup.tags.count(), Note.objects.count()) == ("new", 0, 0)
    assert Tag.objects.count() == 0


def test_unknown_response_is_404(client, cs_user):
    client.force_login(cs_user)
    assert client.get("/followups/00000000-0000-4000-8000-000000000000/").status_code == 404


def test_digest_preference_is_saved_from_the_queue(client, cs_user):
    client.force_login(cs_user)
    assert client.post("/followups/digest/", {"frequency": "weekly"}).status_code == 302
    assert cs_user.digest_preference.frequency == "weekly"
    client.post("/followups/digest/", {"frequency": "hourly"})
    cs_user.digest_preference.refresh_from_db()
    assert cs_user.digest_preference.frequency == "weekly"


# --- API ------------------------------------------------------------------------------------


def test_api_reads_a_follow_up_not_opened_yet_without_writing(cs_user, response):
    got = api_as(cs_user).get(url(response))
    assert got.status_code == 200
    assert got.json() == {
        "response": str(response.public_id),
        "status": "new",
        "assignee": "cs",
        "tags": [],
        "notes": [],
        "created_at": None,
        "first_action_at": None,
        "closed_at": None,
        "seconds_to_first_action": None,
        "seconds_to_close": None,
    }
    assert not FollowUp.objects.exists()


def test_api_updates_status_assignee_tags_and_adds_notes(cs_user, response):
    api = api_as(cs_user)
    pat = StaffFactory(username="pat")
    patched = api.patch(
        url(response),
        {"status": "closed_won", "assignee": "pat", "tags": ["Pricing", "pricing", "Onboarding"]},
        format="json",
    )
    assert patched.status_code == 200, patched.json()
    body = patched.json()
    assert (body["status"], body["assignee"], body["tags"]) == (
        "closed_won",
        "pat",
        ["Onboarding", "Pricing"],
    )
    assert body["closed_at"] is not None and body["seconds_to_close"] >= 0
    assert FollowUp.objects.get().assignee == pat

    note = api.post(url(response, notes=True), {"body": "Renewal saved"}, format="json")
    assert note.status_code == 201
    assert note.json()["author"] == "cs" and note.json()["body"] == "Renewal saved"
    listed = api.get(url(response, notes=True)).json()
    assert [n["body"] for n in listed] == ["Renewal saved"]
    assert api.get(url(response)).json()["notes"][0]["body"] == "Renewal saved"
    unassigned = api.patch(url(response), {"assignee": None}, format="json")
    assert unassigned.json()["assignee"] is None


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"status": "done"}, "status"),
        ({"assignee": "nobody"}, "assignee"),
        ({"tags": ["x" * 51]}, "tags"),
        ({"tags": "pricing"}, "tags"),
        ({}, "non_field_errors"),
    ],
)
def test_api_refuses_bad_updates_and_writes_nothing(cs_user, response, payload, field):
    got = api_as(cs_user).patch(url(response), payload, format="json")
    assert got.status_code == 400
    assert field in got.json()
    assert not FollowUp.objects.exists()
    assert not Tag.objects.exists()


def test_api_refuses_an_empty_note(cs_user, response):
    got = api_as(cs_user).post(url(response, notes=True), {"body": "  "}, format="json")
    assert got.status_code == 400
    assert got.json() == {"body": ["This field may not be blank."]}
    assert not Note.objects.exists()


def test_api_marketing_reads_but_cannot_change(marketing_user, response):
    api = api_as(marketing_user)
    assert api.get(url(response)).status_code == 200
    assert api.patch(url(response), {"status": "closed_lost"}, format="json").status_code == 403
    assert api.post(url(response, notes=True), {"body": "x"}, format="json").status_code == 403
    assert not FollowUp.objects.exists()
    assert not Note.objects.exists()


def test_api_needs_a_role_and_credentials(role_user, response):
    assert APIClient().get(url(response)).status_code == 401
    assert api_as(role_user(None, "norole")).get(url(response)).status_code == 403


def test_api_unknown_response_is_404(cs_user):
    assert (
        api_as(cs_user)
        .get("/api/v1/responses/00000000-0000-4000-8000-000000000000/followup")
        .status_code
        == 404
    )
