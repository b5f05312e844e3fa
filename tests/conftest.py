import pytest
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import MARKETING

from .factories import StaffFactory


@pytest.fixture(autouse=True)
def _isolated_outbox(settings, tmp_path):
    settings.EMAIL_OUTBOX_DIR = tmp_path / "outbox"
    settings.SITE_URL = "https://surveys.example.com"
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _fresh_local_cache():
    """Rate-limit and throttle counters live in the cache: none carries over to the next test.
    (Only the in-process cache: the integration tier's Redis also holds the broker's queue.)"""
    yield
    from django.core.cache import caches
    from django.core.cache.backends.locmem import LocMemCache

    if isinstance(caches["default"], LocMemCache):
        caches["default"].clear()


@pytest.fixture(autouse=True)
def _default_language():
    """Respondent pages activate the contact's language; do not let it leak into the next test."""
    yield
    translation.deactivate()


@pytest.fixture
def staff_user(request, db):
    """A staff user in the role the test asks for with `@pytest.mark.role(...)`; without the
    mark, the least-privileged role (Marketing)."""
    marker = request.node.get_closest_marker("role")
    return StaffFactory(username="staff", role=marker.args[0] if marker else MARKETING)


@pytest.fixture
def api_client(staff_user):
    token, _ = Token.objects.get_or_create(user=staff_user)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def staff_client(client, staff_user):
    client.force_login(staff_user)
    return client
