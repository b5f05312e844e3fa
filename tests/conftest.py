import hashlib
import re
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.roles import MARKETING

from .factories import StaffFactory

ROOT = Path(__file__).resolve().parents[1]


def _migrations_digest() -> str:
    digest = hashlib.sha256()
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:8]


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, request):
    """With --reuse-db, a kept test database is reused only by runs with the same migrations:
    its name ends with a digest of them, so after a migration is added, edited or removed (a
    branch switch) the next run builds a fresh database. On the embedded server, private to
    this checkout, the databases of other digests are dropped."""
    if not request.config.getoption("reuse_db"):
        return
    digest = _migrations_digest()
    for db in django_settings.DATABASES.values():
        test = db.setdefault("TEST", {})
        if not test.get("MIRROR"):
            test["NAME"] = f"{test.get('NAME') or 'test_' + db['NAME']}_{digest}"
    if django_settings.DATABASES["default"]["ENGINE"] == "config.embedded_db":
        _drop_stale_test_databases(digest)


def _drop_stale_test_databases(digest: str) -> None:
    import psycopg
    from psycopg import sql

    from config import embedded_db

    running = embedded_db.ensure_running()
    stale = re.compile(rf"test_{embedded_db.DATABASE}(_gw\d+)?_[0-9a-f]{{8}}")
    with psycopg.connect(
        host=running.host, port=running.port, user=embedded_db.USER, dbname="postgres"
    ) as conn:
        conn.autocommit = True
        names = [row[0] for row in conn.execute("SELECT datname FROM pg_database")]
        for name in names:
            if stale.fullmatch(name) and not name.endswith(digest):
                try:
                    conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
                except psycopg.Error:
                    pass  # in use by a run of another digest, or dropped by a parallel worker


@pytest.fixture(autouse=True)
def _answers_in_the_test_transaction(settings):
    """The answer path's own connection ("answers") would not see rows a test made in its
    transaction: tests answer through the default connection. `answers_connection` gives a test
    the real one."""
    settings.ANSWER_DATABASE = "default"


@pytest.fixture
def answers_connection(settings):
    """The "answers" alias as production configures it (server-side binding, statements
    prepared from the second run), for tests whose rows are committed (transaction=True). In
    tests it mirrors the default database, so its settings are restored here."""
    from django.db import connections

    answers, default = connections["answers"], connections["default"]
    kept = answers.settings_dict
    answers.close()
    options = {**default.settings_dict.get("OPTIONS", {}), "server_side_binding": True}
    answers.settings_dict = {
        **default.settings_dict,
        "OPTIONS": {**options, "prepare_threshold": 2},
    }
    settings.ANSWER_DATABASE = "answers"
    yield answers
    answers.close()
    answers.settings_dict = kept


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Staff users are made in most tests: the real hasher (PBKDF2, 10^6 iterations) would
    spend half a second on each."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


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
