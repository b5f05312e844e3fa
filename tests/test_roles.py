"""The permission matrix: each role x each staff page, admin model and API endpoint.

"ok" cells assert the exact success status; "no" cells assert 403 and, for writes, that nothing
was written. A staff user with no role is refused everywhere; anonymous users are sent to sign in
(pages) or get 401 (API).
"""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import AuditLog, Contact
from accounts.roles import ADMINISTRATORS, CS_STAFF, MARKETING, ROLES, role_grants, sync_roles
from metrics.models import ExportJob
from surveys.models import Invitation, Survey
from tests.factories import (
    AccountFactory,
    ContactFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)

CS, MKT, ADM, NONE = CS_STAFF, MARKETING, ADMINISTRATORS, ""


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    # Dozens of users per test module: a fast hasher keeps the matrix quick.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


ALL_ROLES = [CS, MKT, ADM, NONE]


@pytest.fixture
def world(db):
    survey = SurveyFactory(slug="rel")
    account = AccountFactory(external_id="ACC-1")
    contact = ContactFactory(email="ana@example.com", account=account)
    response = ResponseFactory(invitation__survey=survey, invitation__contact=contact, score=3)
    return {"survey": survey, "account": account, "contact": contact, "response": response}


def user_in(role: str):
    return StaffFactory(username=f"user-{role or 'none'}".replace(" ", "-"), role=role)


# --- Staff pages ----------------------------------------------------------------------------

PAGES = [
    # (url name, args, roles allowed)
    ("reports:dashboard", [], {CS, MKT, ADM}),
    ("reports:accounts", [], {CS, MKT, ADM}),
    ("reports:account", ["ACC-1"], {CS, MKT, ADM}),
    ("reports:exports", [], {MKT, ADM}),
    ("distribution:index", [], {CS, MKT, ADM}),
    ("distribution:status", ["rel"], {CS, MKT, ADM}),
    ("followups:queue", [], {CS, MKT, ADM}),
    ("reports:support", [], {CS, MKT, ADM}),
    ("reports:adoption", [], {CS, MKT, ADM}),
    ("outbox", [], {CS, ADM}),
]


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize(("name", "args", "allowed"), PAGES, ids=[p[0] for p in PAGES])
def test_staff_pages(client, world, settings, name, args, allowed, role):
    settings.OUTBOX_BROWSABLE = True
    client.force_login(user_in(role))
    response = client.get(reverse(name, args=args))
    assert response.status_code == (200 if role in allowed else 403)


@pytest.mark.parametrize(("name", "args", "allowed"), PAGES, ids=[p[0] for p in PAGES])
def test_staff_pages_send_anonymous_users_to_sign_in(client, world, settings, name, args, allowed):
    settings.OUTBOX_BROWSABLE = True
    response = client.get(reverse(name, args=args))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]


# --- Admin ----------------------------------------------------------------------------------

ADMIN_MODELS = [
    # (app_label, model, roles that may view the list, roles that may open the add form)
    ("accounts", "account", {CS, MKT, ADM}, {CS, ADM}),
    ("accounts", "contact", {CS, MKT, ADM}, {CS, ADM}),
    ("accounts", "auditlog", {ADM}, set()),
    ("surveys", "survey", {CS, MKT, ADM}, {CS, ADM}),
    ("surveys", "invitation", {CS, MKT, ADM}, {CS, ADM}),
    ("surveys", "response", {CS, MKT, ADM}, set()),  # answers are never typed in
    ("surveys", "campaign", {CS, MKT, ADM}, {CS, ADM}),
    ("followups", "followup", {CS, MKT, ADM}, {CS, ADM}),
    # Tickets and usage come from the help desk and the product: imported, never typed in.
    ("outcomes", "ticket", {CS, MKT, ADM}, set()),
    ("outcomes", "usagerecord", {CS, MKT, ADM}, set()),
    ("outcomes", "onboarding", {CS, MKT, ADM}, {CS, ADM}),
    ("outcomes", "zendeskorganization", {CS, ADM}, {CS, ADM}),  # mapped before tickets come
    ("followups", "accountalert", {CS, ADM}, set()),
    ("followups", "alertrule", {CS, MKT, ADM}, {CS, ADM}),
    # Integrations: where answers leave the app. Administrators only.
    ("followups", "webhookendpoint", {ADM}, {ADM}),
    ("followups", "webhookdelivery", {ADM}, set()),
    ("auth", "user", {ADM}, {ADM}),
    ("auth", "group", {ADM}, {ADM}),
    ("authtoken", "tokenproxy", {ADM}, {ADM}),
]


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize(
    ("app", "model", "can_view", "can_add"),
    ADMIN_MODELS,
    ids=[f"{a}.{m}" for a, m, *_ in ADMIN_MODELS],
)
def test_admin_models(client, world, app, model, can_view, can_add, role):
    client.force_login(user_in(role))
    changelist = client.get(reverse(f"admin:{app}_{model}_changelist"))
    assert changelist.status_code == (200 if role in can_view else 403)
    add = client.get(reverse(f"admin:{app}_{model}_add"))
    assert add.status_code == (200 if role in can_add else 403)


@pytest.mark.parametrize(("role", "status"), [(CS, 302), (MKT, 403), (ADM, 302), (NONE, 403)])
def test_admin_change_of_a_survey(client, world, role, status):
    client.force_login(user_in(role))
    survey = world["survey"]
    url = reverse("admin:surveys_survey_change", args=[survey.pk])
    form = client.get(url)
    if role == MKT:
        # Read-only: the page shows the survey but has no save button.
        assert form.status_code == 200
        assert 'name="_save"' not in form.content.decode()
    response = client.post(url, {"name": "Renamed"})
    if status == 302:
        assert response.status_code in (200, 302)  # 200: the form re-rendered with errors
    else:
        assert response.status_code == 403
        survey.refresh_from_db()
        assert survey.name != "Renamed"


@pytest.mark.parametrize("role", ALL_ROLES)
def test_admin_index_lists_only_permitted_apps(client, world, role):
    client.force_login(user_in(role))
    body = client.get(reverse("admin:index")).content.decode()
    assert ('href="/admin/accounts/contact/"' in body) == (role != NONE)
    assert ('href="/admin/auth/user/"' in body) == (role == ADM)


# --- API ------------------------------------------------------------------------------------


def api_as(role: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user_in(role)).key}")
    return client


API = [
    # (method, path, body, {role: expected status})
    ("get", "/api/v1/surveys", None, {CS: 200, MKT: 200, ADM: 200}),
    ("post", "/api/v1/surveys", {"name": "New", "kind": "nps"}, {CS: 201, ADM: 201}),
    ("get", "/api/v1/invitations", None, {CS: 200, MKT: 200, ADM: 200}),
    (
        "post",
        "/api/v1/invitations",
        {"survey": "rel", "contact": {"email": "new@example.com"}},
        {CS: 201, ADM: 201},
    ),
    ("get", "/api/v1/metrics/summary?survey=rel", None, {CS: 200, MKT: 200, ADM: 200}),
    ("get", "/api/v1/responses", None, {CS: 200, MKT: 200, ADM: 200}),
    ("get", "/api/v1/exports", None, {MKT: 200, ADM: 200}),
    ("post", "/api/v1/exports", {"format": "csv"}, {MKT: 202, ADM: 202}),
    ("get", "/api/v1/contacts/ana@example.com/data", None, {CS: 200, ADM: 200}),
    ("post", "/api/v1/contacts/ana@example.com/erase", None, {CS: 200, ADM: 200}),
    (
        "get",
        "/api/v1/metrics/support?start=2026-01-01&end=2026-02-01",
        None,
        {CS: 200, MKT: 200, ADM: 200},
    ),
    ("get", "/api/v1/tickets", None, {CS: 200, MKT: 200, ADM: 200}),
    (
        "post",
        "/api/v1/tickets",
        {"account": "ACC-1", "external_id": "T-1", "status": "new", "created_at": "2026-01-01"},
        {CS: 201, ADM: 201},
    ),
    (
        "post",
        "/api/v1/usage",
        {"account": "ACC-1", "day": "2026-01-01", "metric": "events", "value": 3},
        {CS: 201, ADM: 201},
    ),
    ("put", "/api/v1/accounts/ACC-1/seats", {"seats": 5}, {CS: 200, ADM: 200}),
]


@pytest.mark.parametrize("role", ALL_ROLES)
@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), API, ids=[f"{m} {p}" for m, p, *_ in API]
)
def test_api_endpoints(world, method, path, body, allowed, role):
    api = api_as(role)
    counts = (
        Survey.objects.count(),
        Invitation.objects.count(),
        ExportJob.objects.count(),
        Contact.objects.count(),
        AuditLog.objects.count(),
    )
    response = getattr(api, method)(path, body, format="json")
    if role in allowed:
        assert response.status_code == allowed[role], response.content
    else:
        assert response.status_code == 403, response.content
        assert (
            Survey.objects.count(),
            Invitation.objects.count(),
            ExportJob.objects.count(),
            Contact.objects.count(),
            AuditLog.objects.count(),
        ) == counts


@pytest.mark.parametrize(
    ("method", "path", "body", "allowed"), API, ids=[f"{m} {p}" for m, p, *_ in API]
)
def test_api_endpoints_need_a_token(world, method, path, body, allowed):
    response = getattr(APIClient(), method)(path, body, format="json")
    assert response.status_code == 401


# --- The groups themselves ------------------------------------------------------------------


def test_migration_created_the_three_groups(db):
    assert set(Group.objects.filter(name__in=ROLES).values_list("name", flat=True)) == set(ROLES)


def test_marketing_is_read_only_outside_reports_and_exports(db):
    codenames = set(
        Group.objects.get(name=MARKETING).permissions.values_list(
            "content_type__app_label", "codename"
        )
    )
    writes = {(app, c) for app, c in codenames if not c.startswith("view_")}
    assert writes == {("metrics", "add_exportjob")}


def test_sync_roles_is_idempotent_and_restores_removed_permissions(db):
    group = Group.objects.get(name=CS_STAFF)
    before = set(group.permissions.values_list("pk", flat=True))
    group.permissions.clear()
    sync_roles()
    sync_roles()
    assert set(group.permissions.values_list("pk", flat=True)) == before


@pytest.mark.parametrize(
    ("role", "app", "model", "codename", "granted"),
    [
        (CS, "surveys", "survey", "change_survey", True),
        (CS, "metrics", "exportjob", "add_exportjob", False),
        (CS, "accounts", "auditlog", "view_auditlog", False),
        (MKT, "surveys", "survey", "change_survey", False),
        (MKT, "accounts", "contact", "erase_contact", False),
        (MKT, "metrics", "exportjob", "view_reports", True),
        (ADM, "auth", "user", "change_user", True),
        (CS, "auth", "user", "change_user", False),
        # Explicit allow-lists: no deletes for CS staff, no integrations for either role.
        (CS, "surveys", "survey", "delete_survey", False),
        (CS, "accounts", "contact", "delete_contact", False),
        (CS, "followups", "webhookendpoint", "add_webhookendpoint", False),
        (CS, "followups", "webhookendpoint", "manage_integrations", False),
        (MKT, "followups", "webhookendpoint", "view_webhookendpoint", False),
        (MKT, "followups", "webhookdelivery", "view_webhookdelivery", False),
        (ADM, "followups", "webhookendpoint", "manage_integrations", True),
        # A model added later is nobody's but the Administrators' until it is listed.
        (CS, "surveys", "newthing", "view_newthing", False),
        (MKT, "metrics", "newthing", "view_newthing", False),
        (ADM, "metrics", "newthing", "view_newthing", True),
    ],
)
def test_role_rules(role, app, model, codename, granted):
    assert role_grants(role, app, model, codename) is granted


def test_sync_roles_keeps_permissions_an_administrator_added(db):
    from django.contrib.auth.models import Permission

    group = Group.objects.get(name=MARKETING)
    extra = Permission.objects.get(codename="change_survey")
    group.permissions.add(extra)
    sync_roles()
    assert group.permissions.filter(pk=extra.pk).exists()


def test_the_roles_migration_takes_back_the_old_defaults_and_keeps_extras(db):
    """Groups of an install made before the allow-lists lose what the old rule gave them (CS
    staff could add webhook endpoints) and keep what an administrator added on purpose."""
    import importlib

    from django.apps import apps
    from django.contrib.auth.models import Permission
    from django.db import connection

    migration = importlib.import_module("accounts.migrations.0007_least_privilege_roles")
    cs = Group.objects.get(name=CS_STAFF)
    old_default = Permission.objects.get(codename="add_webhookendpoint")
    old_delete = Permission.objects.get(codename="delete_survey")
    extra = Permission.objects.get(codename="view_user")
    cs.permissions.add(old_default, old_delete, extra)
    migration.narrow_roles(apps, type("Editor", (), {"connection": connection})())
    held = set(cs.permissions.values_list("codename", flat=True))
    assert "add_webhookendpoint" not in held and "delete_survey" not in held
    assert "view_user" in held
    assert "change_survey" in held
