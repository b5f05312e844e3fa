"""D10: staff sign-in lockout by username and address (django-axes) and a throttle on wrong
API tokens (DRF throttling)."""

import pytest
from django.core.management import call_command
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import ADMINISTRATORS, MARKETING
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db
PASSWORD = "pw-123456789"  # the factories' password


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.AXES_FAILURE_LIMIT = 5


def _sign_in(client, username, password, ip="203.0.113.7"):
    return client.post(
        "/admin/login/?next=/admin/",
        {"username": username, "password": password},
        REMOTE_ADDR=ip,
    )


def _signed_in(reply) -> bool:
    return reply.status_code == 302 and reply["Location"] == "/admin/"


def test_wrong_passwords_lock_the_username_at_that_address(client):
    StaffFactory(username="ana", role=ADMINISTRATORS)
    # The form shows the error four times; the fifth wrong password locks.
    assert [_sign_in(client, "ana", "wrong").status_code for _ in range(5)] == [200] * 4 + [429]
    locked = _sign_in(client, "ana", PASSWORD)
    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    # Another address, or another username from this address, is not locked.
    assert _signed_in(_sign_in(client, "ana", PASSWORD, ip="198.51.100.2"))
    client.logout()
    StaffFactory(username="bea", role=MARKETING)
    assert _signed_in(_sign_in(client, "bea", PASSWORD))


def test_the_documented_reset_lifts_the_lock(client):
    StaffFactory(username="ana", role=ADMINISTRATORS)
    for _ in range(5):
        _sign_in(client, "ana", "wrong")
    assert _sign_in(client, "ana", PASSWORD).status_code == 429
    call_command("axes_reset_username", "ana")
    assert _signed_in(_sign_in(client, "ana", PASSWORD))


def _api(key: str, ip: str = "203.0.113.7"):
    client = APIClient(REMOTE_ADDR=ip)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_wrong_tokens_are_throttled_per_address(settings):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"token_failures": "10/min"},
    }
    good = Token.objects.create(user=StaffFactory(role=MARKETING)).key
    for i in range(10):
        assert _api(f"{i:040x}").get("/api/v1/surveys").status_code == 401
    refused = _api(good).get("/api/v1/surveys")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert _api(good, ip="198.51.100.2").get("/api/v1/surveys").status_code == 200
