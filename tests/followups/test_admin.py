import pytest

from accounts.roles import ADMINISTRATORS
from followups import services
from followups.models import AlertRule, WebhookEndpoint
from tests.factories import ResponseFactory, StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    client.force_login(StaffFactory(username="root", role=ADMINISTRATORS))
    return client


@pytest.mark.parametrize(
    "model",
    [
        "alertrule",
        "alertdelivery",
        "followup",
        "tag",
        "digestpreference",
        "webhookendpoint",
        "webhookdelivery",
    ],
)
def test_admin_pages_render(admin_client, model):
    services.ensure_followup(response=ResponseFactory(score=1))
    assert admin_client.get(f"/admin/followups/{model}/").status_code == 200


def test_staff_register_a_webhook_in_the_admin(admin_client):
    posted = admin_client.post(
        "/admin/followups/webhookendpoint/add/",
        {
            "url": "https://hooks.example.com/nps",
            "description": "CRM",
            "events": ["response.created", "contact.unsubscribed"],
            "active": "on",
        },
    )
    assert posted.status_code == 302
    hook = WebhookEndpoint.objects.get()
    assert hook.events == ["response.created", "contact.unsubscribed"]
    assert hook.created_by.username == "root"
    assert hook.secret.startswith("whsec_") and len(hook.secret) > 40


def test_admin_refuses_a_webhook_without_events(admin_client):
    posted = admin_client.post(
        "/admin/followups/webhookendpoint/add/",
        {
            "url": "https://hooks.example.com/nps",
            "active": "on",
        },
    )
    assert posted.status_code == 200
    assert "This field is required." in posted.content.decode()
    assert WebhookEndpoint.objects.count() == 0


def test_disabled_reason_is_shown_and_enable_action_resets(admin_client):
    hook = WebhookEndpoint.objects.create(
        url="https://hooks.example.com/x",
        events=["response.created"],
        active=False,
        disabled_reason="Disabled automatically: 5 deliveries in a row failed every attempt.",
        consecutive_failures=5,
    )
    page = admin_client.get("/admin/followups/webhookendpoint/").content.decode()
    assert "Disabled automatically: 5 deliveries in a row failed every attempt." in page
    admin_client.post(
        "/admin/followups/webhookendpoint/",
        {
            "action": "enable",
            "_selected_action": [hook.pk],
        },
    )
    hook.refresh_from_db()
    assert (hook.active, hook.consecutive_failures, hook.disabled_reason) == (True, 0, "")


def test_admin_refuses_a_rule_without_condition(admin_client):
    posted = admin_client.post(
        "/admin/followups/alertrule/add/",
        {
            "name": "Nothing",
            "active": "on",
            "notify_owner": "on",
            "comment_words": "",
            "emails": "",
        },
    )
    assert posted.status_code == 200
    assert "Set at least one condition." in posted.content.decode()
    assert AlertRule.objects.count() == 0


def test_marketing_cannot_change_follow_ups_in_the_admin(client, marketing_user):
    followup = services.ensure_followup(response=ResponseFactory(score=1))
    client.force_login(marketing_user)
    assert client.get(f"/admin/followups/followup/{followup.pk}/change/").status_code == 200
    posted = client.post(
        f"/admin/followups/followup/{followup.pk}/change/", {"status": "closed_won"}
    )
    assert posted.status_code == 403
    followup.refresh_from_db()
    assert followup.status == "new"


def test_ping_action_sends_a_signed_test_event(
    admin_client, receiver, django_capture_on_commit_callbacks
):
    from followups import webhooks

    hook = WebhookEndpoint.objects.create(url=receiver.url, events=["contact.unsubscribed"])
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            "/admin/followups/webhookendpoint/", {"action": "ping", "_selected_action": [hook.pk]}
        )
    [request] = receiver.wait_for(1)
    assert request.json()["event"] == "ping"
    assert request.json()["data"] == {"endpoint": receiver.url + "/…"}  # no path: a credential
    assert webhooks.verify(
        secret=hook.secret,
        timestamp=request.headers["X-Webhook-Timestamp"],
        body=request.body,
        signature=request.headers["X-Webhook-Signature"],
    )
    assert hook.deliveries.get().status == "succeeded"


def test_ping_is_not_a_subscribable_event(admin_client):
    posted = admin_client.post(
        "/admin/followups/webhookendpoint/add/",
        {"url": "https://hooks.example.com/nps", "events": ["ping"], "active": "on"},
    )
    assert posted.status_code == 200
    assert WebhookEndpoint.objects.count() == 0


def test_read_only_roles_never_see_secrets(client, marketing_user):
    hook = WebhookEndpoint.objects.create(url="https://hooks.example.com/x", events=["ping"])
    rule = AlertRule.objects.create(
        name="r", on_negative=True, chat_webhook_url="https://chat.example.com/T0/B0/s3cr3t"
    )
    client.force_login(marketing_user)
    # Webhook endpoints are integrations: not even listed for Marketing.
    assert client.get(f"/admin/followups/webhookendpoint/{hook.pk}/change/").status_code == 403
    page = client.get(f"/admin/followups/alertrule/{rule.pk}/change/")
    assert page.status_code == 200
    body = page.content.decode()
    assert "s3cr3t" not in body
    assert "https://chat.example.com/…" in body


def test_administrators_see_the_signing_secret(admin_client):
    hook = WebhookEndpoint.objects.create(url="https://hooks.example.com/x", events=["ping"])
    page = admin_client.get(f"/admin/followups/webhookendpoint/{hook.pk}/change/")
    assert hook.secret in page.content.decode()
