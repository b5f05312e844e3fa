"""Reads used by the queue page, the API, the digest and the webhook payloads."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Avg, Count, DurationField, ExpressionWrapper, F, Q, QuerySet

from accounts.models import Account, Contact
from surveys import scales
from surveys.models import Response

from .models import FollowUp


class Scope:
    MINE = "mine"
    ASSIGNED = "assigned"
    ALL = "all"


def response_with_account(*, response_id: int) -> Response | None:
    return (
        Response.objects.select_related("survey", "contact", "account__owner", "invitation")
        .filter(pk=response_id)
        .first()
    )


def response_by_public_id(public_id) -> Response | None:
    return (
        Response.objects.select_related("survey", "contact", "account__owner")
        .filter(public_id=public_id)
        .first()
    )


def followup_detail(*, response: Response) -> FollowUp | None:
    return (
        FollowUp.objects.select_related("assignee")
        .prefetch_related("tags", "notes__author")
        .filter(response=response)
        .first()
    )


def staff_users() -> QuerySet:
    return get_user_model().objects.filter(is_staff=True, is_active=True).order_by("username")


def queue(
    *,
    user,
    scope: str = Scope.MINE,
    status: str = "open",
    tag: str = "",
    survey_slug: str = "",
) -> QuerySet[FollowUp]:
    """Follow-ups, unhappy answers first and oldest first. "mine": accounts the user owns or
    follow-ups assigned to them; "assigned": assigned to them; "all": everyone's."""
    qs = FollowUp.objects.select_related(
        "response__survey", "response__contact", "response__account", "assignee"
    ).prefetch_related("tags")
    if scope == Scope.MINE:
        qs = qs.filter(_mine(user))
    elif scope == Scope.ASSIGNED:
        qs = qs.filter(assignee=user)
    if status == "open":
        qs = qs.filter(status__in=FollowUp.OPEN)
    elif status == "closed":
        qs = qs.filter(status__in=FollowUp.CLOSED)
    elif status in FollowUp.Status.values:
        qs = qs.filter(status=status)
    if tag:
        qs = qs.filter(tags__name__iexact=tag)
    if survey_slug:
        qs = qs.filter(response__survey__slug=survey_slug)
    return qs.order_by("category", "answered_at", "pk")


def _mine(user) -> Q:
    # An IN over the user's accounts (not a join) lets PostgreSQL OR two index scans.
    return Q(account__in=Account.objects.filter(owner=user).values("pk")) | Q(assignee=user)


def quarantined_count() -> int:
    """Answers held out of every score as suspected bots, waiting for staff to release them.
    (Quarantined answers are excluded too: the small partial index of excluded answers serves
    this count, however many answers there are.)"""
    return Response.objects.filter(excluded=True, quarantined=True).count()


def timing_report(*, since: datetime | None = None, user=None) -> dict:
    """Counts and mean times, from the answer to the first action and to closing, in one query."""
    qs = FollowUp.objects.all()
    if since is not None:
        qs = qs.filter(answered_at__gte=since)
    if user is not None:
        qs = qs.filter(_mine(user))
    to_first = ExpressionWrapper(
        F("first_action_at") - F("answered_at"), output_field=DurationField()
    )
    to_close = ExpressionWrapper(F("closed_at") - F("answered_at"), output_field=DurationField())
    row = qs.aggregate(
        total=Count("pk"),
        open=Count("pk", filter=Q(status__in=FollowUp.OPEN)),
        untouched=Count("pk", filter=Q(first_action_at__isnull=True)),
        won=Count("pk", filter=Q(status=FollowUp.Status.CLOSED_WON)),
        lost=Count("pk", filter=Q(status=FollowUp.Status.CLOSED_LOST)),
        first_action_within_day=Count(
            "pk", filter=Q(first_action_at__lte=F("answered_at") + timedelta(days=1))
        ),
        acted=Count("pk", filter=Q(first_action_at__isnull=False)),
        mean_to_first_action=Avg(to_first, filter=Q(first_action_at__isnull=False)),
        mean_to_close=Avg(to_close, filter=Q(closed_at__isnull=False)),
    )
    return row


def unhappy_responses_for(*, user, since: datetime) -> list[Response]:
    """Unhappy answers since a time on the user's accounts or assigned to them, oldest first."""
    followups = (
        FollowUp.objects.filter(_mine(user), category__lt=0, answered_at__gte=since)
        .filter(response__excluded=False)
        .select_related("response__survey", "response__contact", "response__account")
        .order_by("answered_at", "pk")[:200]
    )
    return [f.response for f in followups]


def category_code(response: Response) -> str:
    return scales.category_code(response.survey.kind, response.category)


def response_payload(response: Response) -> dict:
    """The JSON receivers get for response.created / response.updated."""
    from .emails import response_url

    account = response.account
    contact = response.contact
    invitation = response.invitation if response.invitation_id else None
    return {
        "response": {
            "id": str(response.public_id),
            "survey": response.survey.slug,
            "survey_kind": response.survey.kind,
            "score": response.score,
            "category": category_code(response),
            "comment": response.comment,
            "answered_at": response.answered_at.isoformat(),
            "updated_at": response.updated_at.isoformat(),
            "url": response_url(response),
            "event_id": invitation.event_id if invitation else None,
            "properties": invitation.properties if invitation else {},
        },
        "contact": _contact(contact) if contact else None,
        "account": _account(account) if account else None,
    }


def contact_payload(contact: Contact) -> dict:
    """The JSON receivers get for contact.unsubscribed."""
    return {
        "contact": {
            **_contact(contact),
            "unsubscribed_at": contact.unsubscribed_at.isoformat()
            if contact.unsubscribed_at
            else None,
        },
        "account": _account(contact.account) if contact.account_id else None,
    }


def _contact(contact: Contact) -> dict:
    return {"email": contact.email, "name": contact.name, "language": contact.language}


def _account(account) -> dict:
    return {
        "external_id": account.external_id,
        "name": account.name,
        "plan": account.plan,
        "mrr": str(account.mrr),
        "currency": account.currency,
    }


def contact_answers(*, response: Response, limit: int = 10) -> list[Response]:
    """The same contact's other answers, newest first, with their follow-up status."""
    if response.contact_id is None:
        return []
    return list(
        Response.objects.filter(contact_id=response.contact_id)
        .exclude(pk=response.pk)
        .select_related("survey", "followup")
        .order_by("-answered_at", "-pk")[:limit]
    )


def open_account_followups(*, response: Response, limit: int = 10) -> list[FollowUp]:
    """The account's other open follow-ups, worst and oldest first."""
    if response.account_id is None:
        return []
    return list(
        FollowUp.objects.filter(account_id=response.account_id, status__in=FollowUp.OPEN)
        .exclude(response_id=response.pk)
        .select_related("response__survey", "response__contact", "assignee")
        .order_by("category", "answered_at")[:limit]
    )
