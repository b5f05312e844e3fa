"""D3 (SSRF through webhook and chat URLs), D4 (credentials shown to read-only roles) and
D5 (Slack markup injection)."""

import socket

import pytest
from django.contrib.auth.models import Group, Permission
from django.core.exceptions import ValidationError

from accounts.roles import ADMINISTRATORS, CS_STAFF, MARKETING
from followups import alerts, deliveries, emails, queue
from followups.models import AlertDelivery, AlertRule, WebhookDelivery, WebhookEndpoint
from tests.factories import ResponseFactory, StaffFactory, SurveyFactory
from tests.followups.receiver import Receiver

# The forms an attacker tries (loopback, private, link-local, metadata, odd spellings of them).
INTERNAL_URLS = [
    "http://127.0.0.1/hook",
    "http://localhost:8000/hook",
    "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.5/hook",
    "http://0.0.0.0:8000/hook",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://2130706433/hook",
    "http://127.1/hook",
    "http://0x7f.0.0.1/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://192.168.1.10/hook",
    "http://172.16.0.1/hook",
    "http://100.64.0.1/hook",
    "http://224.0.0.1/hook",
    "http://[fe80::1]/hook",
    "http://[fc00::1]/hook",
    "https://app.localhost/hook",
]


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _nothing_allowed(settings):
    settings.WEBHOOK_ALLOWED_HOSTS = []


@pytest.mark.django_db
@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_internal_urls_are_refused_when_entered(url):
    with pytest.raises(ValidationError) as error:
        deliveries.create_endpoint(url=url, events=["response.created"])
    assert list(error.value.message_dict) == ["url"]
    rule = AlertRule(name="r", on_negative=True, chat_webhook_url=url)
    with pytest.raises(ValidationError) as error:
        rule.full_clean()
    assert "chat_webhook_url" in error.value.message_dict
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_public_names_are_accepted_when_entered():
    # Names that do not resolve here are accepted; they are checked again at every send.
    hook = deliveries.create_endpoint(
        url="https://hooks.example.com/x", events=["response.created"]
    )
    assert hook.pk


@pytest.mark.django_db
def test_the_admin_form_refuses_an_internal_url(admin_client):
    reply = admin_client.post(
        "/admin/followups/webhookendpoint/add/",
        {"url": "http://169.254.169.254/", "events": ["response.created"], "active": "on"},
    )
    assert reply.status_code == 200
    assert "private or reserved network" in reply.content.decode()
    assert not WebhookEndpoint.objects.exists()


@pytest.mark.django_db
def test_a_name_resolving_to_loopback_is_refused_at_send_time(receiver, settings):
    # Stored before the entry check existed (or resolving elsewhere when entered): the send
    # checks the addresses the name resolves to now, and refuses.
    port = receiver.server.server_address[1]
    hook = WebhookEndpoint.objects.create(url=f"http://localhost:{port}/h", events=["ping"])
    assert deliveries.send_ping(endpoint=hook)
    delivery = WebhookDelivery.objects.get()
    with pytest.raises(queue.RetryLater):
        deliveries.deliver_webhook(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.last_error == "Refused: private or reserved address"
    assert delivery.last_status_code is None
    assert receiver.requests == []

    # The allow-list lets an intranet receiver (here: the test's) through.
    settings.WEBHOOK_ALLOWED_HOSTS = ["localhost"]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status="pending")
    assert deliveries.deliver_webhook(delivery_id=delivery.pk) is True
    [request] = receiver.wait_for(1)
    assert request.headers["Host"] == f"localhost:{port}"


@pytest.mark.django_db
def test_the_connection_goes_to_the_address_that_was_checked(receiver, settings, monkeypatch):
    # "receiver.test" exists only in this resolver: one lookup, and the request reaches the
    # address it gave, with the URL's host name in the Host header.
    lookups = []
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host == "receiver.test":
            lookups.append(host)
            return real("127.0.0.1", port, *args, **kwargs)
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    settings.WEBHOOK_ALLOWED_HOSTS = ["receiver.test"]
    port = receiver.server.server_address[1]
    hook = WebhookEndpoint.objects.create(url=f"http://receiver.test:{port}/in", events=["ping"])
    deliveries.send_ping(endpoint=hook)
    assert deliveries.deliver_webhook(delivery_id=WebhookDelivery.objects.get().pk) is True
    [request] = receiver.wait_for(1)
    assert (request.path, request.headers["Host"]) == ("/in", f"receiver.test:{port}")
    assert lookups == ["receiver.test"]


@pytest.mark.django_db
def test_replies_are_not_stored_and_redirects_not_followed(receiver, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBHOOK_MAX_ATTEMPTS = 1
    receiver.default_status = 302  # the receiver's handler answers "nope" for any status >= 300
    hook = WebhookEndpoint.objects.create(url=receiver.url + "/h", events=["ping"])
    deliveries.send_ping(endpoint=hook)
    delivery = WebhookDelivery.objects.get()
    assert deliveries.deliver_webhook(delivery_id=delivery.pk) is False
    delivery.refresh_from_db()
    assert (delivery.last_status_code, delivery.last_error) == (302, "HTTP 302")
    assert len(receiver.requests) == 1


@pytest.mark.django_db
def test_chat_url_never_appears_in_alert_errors(client, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.ALERT_MAX_ATTEMPTS = 1
    survey = SurveyFactory()
    rule = AlertRule.objects.create(
        name="r",
        survey=survey,
        on_negative=True,
        notify_owner=False,
        chat_webhook_url="http://127.0.0.1:9/services/T0/B0/s3cr3t",
    )
    response = ResponseFactory(invitation__survey=survey, score=2)
    delivery = AlertDelivery.objects.create(rule=rule, response=response)
    assert alerts.send_alert(delivery_id=delivery.pk) is False
    delivery.refresh_from_db()
    assert delivery.last_error == "chat: NewConnectionError"
    client.force_login(StaffFactory(role=CS_STAFF))
    for url in (
        "/admin/followups/alertdelivery/",
        f"/admin/followups/alertdelivery/{delivery.pk}/change/",
        f"/admin/followups/alertrule/{rule.pk}/change/",
    ):
        page = client.get(url)
        assert page.status_code == 200, url
        assert "s3cr3t" not in page.content.decode(), url


@pytest.mark.django_db
def test_webhook_urls_with_credentials_are_hidden_from_read_only_roles(client):
    hook = WebhookEndpoint.objects.create(
        url="https://user:pw-s3cr3t@hooks.example.com/in?token=t0k3n", events=["ping"]
    )
    for role in (MARKETING, CS_STAFF):
        client.force_login(StaffFactory(role=role))
        assert client.get("/admin/followups/webhookendpoint/").status_code == 403
    # A group given view access to endpoints still sees only where deliveries go.
    viewers = Group.objects.create(name="Webhook viewers")
    viewers.permissions.add(Permission.objects.get(codename="view_webhookendpoint"))
    viewer = StaffFactory(role="")
    viewer.groups.add(viewers)
    client.force_login(viewer)
    for url in (
        "/admin/followups/webhookendpoint/",
        f"/admin/followups/webhookendpoint/{hook.pk}/change/",
    ):
        body = client.get(url).content.decode()
        assert "https://hooks.example.com/…" in body
        assert "s3cr3t" not in body and "t0k3n" not in body and hook.secret not in body
    # Administrators manage integrations and see the whole URL.
    client.force_login(StaffFactory(role=ADMINISTRATORS))
    body = client.get(f"/admin/followups/webhookendpoint/{hook.pk}/change/").content.decode()
    assert "pw-s3cr3t" in body


@pytest.mark.django_db
def test_chat_text_escapes_slack_markup():
    survey = SurveyFactory(name="Support <& co>")
    rule = AlertRule.objects.create(name="r", survey=survey, on_negative=True)
    response = ResponseFactory(
        invitation__survey=survey,
        invitation__contact__name="<!here>",
        score=1,
        comment="<!channel> refund now <https://evil.example|Open the response> & more",
    )
    text = emails.chat_payload(rule, response)["text"]
    assert "<!channel>" not in text and "<!here>" not in text
    assert (
        "&lt;!channel&gt; refund now &lt;https://evil.example|Open the response&gt; &amp; more"
        in (text)
    )
    assert "Support &lt;&amp; co&gt;" in text
    # The one real link is ours.
    assert text.count("<http") == 1
    assert f"<https://surveys.example.com/followups/{response.public_id}/|" in text
