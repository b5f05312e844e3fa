"""D2: nobody can forge bounces and complaints through the ESP tracking webhooks."""

import base64
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from tests.factories import ContactFactory

ROOT = Path(__file__).resolve().parents[2]
BOUNCE = {
    "RecordType": "Bounce",
    "Type": "HardBounce",
    "TypeCode": 1,
    "Email": "ana@example.com",
    "MessageID": "883953f4-6105-42a2-a16a-77a8eac79483",
    "BouncedAt": "2026-11-05T16:33:54Z",
}
COMPLAINT = {"RecordType": "SpamComplaint", "Email": "ana@example.com", "MessageID": "x"}


def _basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


@pytest.mark.django_db
@pytest.mark.parametrize("event", [BOUNCE, COMPLAINT], ids=["bounce", "complaint"])
def test_tracking_webhooks_are_refused_without_a_secret(client, settings, event):
    settings.ANYMAIL = {}
    contact = ContactFactory(email="ana@example.com")
    reply = client.post("/anymail/postmark/tracking/", event, content_type="application/json")
    assert reply.status_code == 403
    assert "WEBHOOK_SECRET" in reply.content.decode()
    contact.refresh_from_db()
    assert (contact.bounced_at, contact.complained_at) == (None, None)


@pytest.mark.django_db
def test_with_a_secret_only_the_right_credentials_are_accepted(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    contact = ContactFactory(email="ana@example.com")
    anonymous = client.post("/anymail/postmark/tracking/", BOUNCE, content_type="application/json")
    assert anonymous.status_code == 400
    contact.refresh_from_db()
    assert contact.bounced_at is None
    reply = client.post(
        "/anymail/postmark/tracking/",
        BOUNCE,
        content_type="application/json",
        HTTP_AUTHORIZATION=_basic("hook:s3cret"),
    )
    assert reply.status_code == 200
    contact.refresh_from_db()
    assert contact.bounced_at is not None


@pytest.mark.django_db
def test_signing_esps_also_need_their_signing_key(client, settings):
    settings.ANYMAIL = {"WEBHOOK_SECRET": "hook:s3cret"}
    reply = client.post(
        "/anymail/mailgun/tracking/",
        {"event-data": {"event": "failed", "recipient": "ana@example.com"}},
        content_type="application/json",
        HTTP_AUTHORIZATION=_basic("hook:s3cret"),
    )
    assert reply.status_code == 403
    assert "MAILGUN_WEBHOOK_SIGNING_KEY" in reply.content.decode()


def test_inbound_mail_webhooks_are_not_mounted(client):
    assert client.post("/anymail/postmark/inbound/", {}).status_code == 404


def _deploy_check(**extra: str) -> subprocess.CompletedProcess:
    """`make deploy-check`'s command line and environment."""
    env = {
        k: v for k, v in os.environ.items() if k not in ("EMAIL_BACKEND", "EMAIL_URL", "ANYMAIL")
    }
    env.update(
        DEBUG="false",
        SECRET_KEY=secrets.token_urlsafe(50),
        SITE_URL="https://surveys.example.com",
        ALLOWED_HOSTS="surveys.example.com",
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        **extra,
    )
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_is_clean_and_flags_tracking_without_a_secret():
    assert _deploy_check().returncode == 0
    flagged = _deploy_check(EMAIL_BACKEND="anymail.backends.postmark.EmailBackend")
    assert flagged.returncode != 0
    assert "surveys.W001" in flagged.stderr + flagged.stdout
    assert "WEBHOOK_SECRET" in flagged.stderr + flagged.stdout
    mailgun = _deploy_check(
        EMAIL_BACKEND="anymail.backends.mailgun.EmailBackend", ANYMAIL="WEBHOOK_SECRET=u:p"
    )
    assert "MAILGUN_WEBHOOK_SIGNING_KEY" in mailgun.stderr + mailgun.stdout
    secured = _deploy_check(
        EMAIL_BACKEND="anymail.backends.postmark.EmailBackend",
        ANYMAIL="WEBHOOK_SECRET=hook:long-random-password",
    )
    assert secured.returncode == 0, secured.stderr
