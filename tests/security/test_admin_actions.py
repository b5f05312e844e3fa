"""D1: every admin action declares the permission it needs; the matrix of action x role.

A role without the permission does not see the action, and a direct POST of it (what a
view-only user crafts by hand) changes nothing: the admin answers "No action selected".
"""

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.messages import get_messages
from django.test import RequestFactory

from accounts.roles import ADMINISTRATORS, CS_STAFF, MARKETING
from surveys.models import Campaign, Invitation, Response, Survey
from tests.factories import (
    ContactFactory,
    InvitationFactory,
    ResponseFactory,
    StaffFactory,
    SurveyFactory,
)

CS, MKT, ADM = CS_STAFF, MARKETING, ADMINISTRATORS
ROLES = [CS, MKT, ADM, ""]

# (app, model, action) -> roles that may run it. Every action registered in the admin must be
# listed: a new action fails this test until someone decides who may run it.
ALLOWED = {
    ("surveys", "survey", "pause_surveys"): {CS, ADM},
    ("surveys", "survey", "resume_surveys"): {CS, ADM},
    ("surveys", "invitation", "resend_failed"): {CS, ADM},
    ("surveys", "response", "exclude_responses"): {CS, ADM},
    ("surveys", "response", "restore_responses"): {CS, ADM},
    ("surveys", "response", "release_responses"): {CS, ADM},
    ("outcomes", "stripeevent", "process_again"): {CS, ADM},
    ("outcomes", "zendeskevent", "process_again"): {CS, ADM},
    ("surveys", "campaign", "launch_campaigns"): {CS, ADM},
    ("accounts", "contact", "export_personal_data"): {CS, ADM},
    ("accounts", "contact", "erase_personal_data"): {CS, ADM},
    ("followups", "webhookendpoint", "enable"): {ADM},
    ("followups", "webhookendpoint", "ping"): {ADM},
    ("followups", "webhookdelivery", "redeliver"): {ADM},
    # django-axes: sign-in attempts, Administrators only (no role holds their permissions).
    ("axes", "accessattempt", "cleanup_expired_attempts"): {ADM},
    # Deleting is the Administrators' everywhere, except alert rules (CS staff manage them).
    ("followups", "alertrule", "delete_selected"): {CS, ADM},
}


def _registered_actions():
    superuser = StaffFactory.build(is_superuser=True)
    request = RequestFactory().get("/admin/")
    request.user = superuser
    for model in apps.get_models():
        if not admin.site.is_registered(model):
            continue
        model_admin = admin.site.get_model_admin(model)
        for name, (func, _name, _description) in model_admin.get_actions(request).items():
            yield model, name, func


def _allowed(model, name) -> set[str]:
    opts = model._meta
    key = (opts.app_label, opts.model_name, name)
    if key in ALLOWED:
        return ALLOWED[key]
    assert name == "delete_selected", f"admin action {key} is missing from the matrix"
    return {ADM}


@pytest.mark.django_db
def test_every_admin_action_declares_its_permission():
    actions = list(_registered_actions())
    assert len(actions) > len(ALLOWED)
    for model, name, func in actions:
        if model._meta.app_label not in ("accounts", "surveys", "followups", "metrics"):
            continue  # another package's admin; the matrix below still covers who sees it
        assert getattr(func, "allowed_permissions", None), f"{model.__name__}.{name}"


@pytest.mark.django_db
@pytest.mark.parametrize("role", ROLES)
def test_admin_action_matrix(role):
    user = StaffFactory(username=f"u-{role or 'none'}".replace(" ", "-"), role=role)
    request = RequestFactory().get("/admin/")
    request.user = user
    for model, name, _func in _registered_actions():
        model_admin = admin.site.get_model_admin(model)
        # An action runs from its change list: it is offered only where the list opens.
        offered = model_admin.has_view_or_change_permission(request) and (
            name in model_admin.get_actions(request)
        )
        assert offered == (role in _allowed(model, name)), (model.__name__, name, role)


def _post_action(client, changelist: str, action: str, pks, **extra):
    return client.post(
        changelist, {"action": action, "_selected_action": [str(pk) for pk in pks], **extra}
    )


def _refused(reply) -> bool:
    """403, the change list shown again (no action offered at all), or "No action selected";
    never an action's own confirmation or success message."""
    if reply.status_code == 403:
        return True
    messages = [str(m) for m in get_messages(reply.wsgi_request)]
    if reply.status_code == 302:
        return any("No action selected" in m for m in messages)
    return reply.status_code == 200 and not messages and 'id="changelist"' in reply.content.decode()


@pytest.mark.django_db
@pytest.mark.parametrize("role", [MKT, ""])
def test_view_only_roles_cannot_run_state_changing_actions_by_direct_post(client, role):
    client.force_login(StaffFactory(role=role))
    survey = SurveyFactory()
    detractor = ResponseFactory(invitation__survey=survey, score=2)
    failed = InvitationFactory(survey=survey, status=Invitation.Status.FAILED)
    campaign = Campaign.objects.create(survey=survey, name="Q3", audience_account_statuses="")
    ContactFactory.create_batch(2)

    cases = [
        ("/admin/surveys/response/", "exclude_responses", [detractor.pk], {}),
        ("/admin/surveys/survey/", "pause_surveys", [survey.pk], {}),
        ("/admin/surveys/survey/", "resume_surveys", [survey.pk], {}),
        ("/admin/surveys/invitation/", "resend_failed", [failed.pk], {}),
        ("/admin/surveys/campaign/", "launch_campaigns", [campaign.pk], {"confirm": "yes"}),
    ]
    for changelist, action, pks, extra in cases:
        assert _refused(_post_action(client, changelist, action, pks, **extra)), action

    detractor.refresh_from_db()
    survey.refresh_from_db()
    failed.refresh_from_db()
    campaign.refresh_from_db()
    assert detractor.excluded is False  # the NPS is what it was
    assert survey.paused is False
    assert failed.status == Invitation.Status.FAILED
    assert campaign.status == Campaign.Status.DRAFT
    assert Invitation.objects.filter(campaign=campaign).count() == 0


@pytest.mark.django_db
def test_cs_staff_run_the_actions_of_their_role(client):
    client.force_login(StaffFactory(role=CS))
    survey = SurveyFactory()
    response = ResponseFactory(invitation__survey=survey, score=2)
    reply = _post_action(client, "/admin/surveys/response/", "exclude_responses", [response.pk])
    assert reply.status_code == 302
    assert Response.objects.get(pk=response.pk).excluded is True
    _post_action(client, "/admin/surveys/survey/", "pause_surveys", [survey.pk])
    assert Survey.objects.get(pk=survey.pk).paused is True
