import pytest

from accounts import roles
from tests.factories import StaffFactory

from .receiver import Receiver


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _local_receivers_allowed(settings):
    # The test receivers listen on 127.0.0.1, which outbound posts refuse unless allowed.
    settings.WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]


@pytest.fixture
def receiver():
    server = Receiver().start()
    yield server
    server.stop()


@pytest.fixture
def role_user(db):
    """Make a staff user holding one role, with the role's permissions brought up to date."""
    roles.ensure_permissions_and_roles()

    def make(role: str | None, username: str):
        return StaffFactory(username=username, role=role or "")

    return make


@pytest.fixture
def cs_user(role_user):
    return role_user(roles.CS_STAFF, "cs")


@pytest.fixture
def marketing_user(role_user):
    return role_user(roles.MARKETING, "marketing")
