"""Rendering of alert and digest emails and of the chat message. No database writes here."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.translation import gettext as _

from surveys.models import Response

from .models import AlertRule


def response_url(response: Response) -> str:
    return settings.SITE_URL + reverse("followups:detail", args=[response.public_id])


def alert_context(rule: AlertRule, response: Response) -> dict:
    account = response.account
    return {
        "rule": rule,
        "response": response,
        "survey": response.survey,
        "contact": response.contact,
        "account": account,
        "owner": account.owner if account else None,
        "url": response_url(response),
    }


def alert_subject(response: Response) -> str:
    who = response.contact.email if response.contact else _("an anonymous respondent")
    account = f" ({response.account.name})" if response.account else ""
    return _("%(label)s: %(score)s from %(who)s%(account)s") % {
        "label": response.category_label,
        "score": response.score,
        "who": who,
        "account": account,
    }


def alert_message(
    rule: AlertRule, response: Response, recipients: list[str]
) -> EmailMultiAlternatives:
    context = alert_context(rule, response)
    message = EmailMultiAlternatives(
        subject="[" + _("Alert") + "] " + alert_subject(response),
        body=render_to_string("followups/email/alert.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    message.attach_alternative(render_to_string("followups/email/alert.html", context), "text/html")
    return message


def chat_payload(rule: AlertRule, response: Response) -> dict:
    """Slack-compatible: `text` is all a receiver needs; mrkdwn links as <url|label>."""
    context = alert_context(rule, response)
    text = render_to_string("followups/email/alert_chat.txt", context).strip()
    return {"text": text}


def digest_message(user, rows: list[Response], open_count: int, since) -> EmailMultiAlternatives:
    context = {
        "user": user,
        "rows": [(r, response_url(r)) for r in rows],
        "open_count": open_count,
        "since": since,
        "queue_url": settings.SITE_URL + reverse("followups:queue"),
    }
    message = EmailMultiAlternatives(
        subject=_("Follow-up digest: %(count)s new unhappy answers, %(open)s open")
        % {"count": len(rows), "open": open_count},
        body=render_to_string("followups/email/digest.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
    )
    message.attach_alternative(
        render_to_string("followups/email/digest.html", context), "text/html"
    )
    return message


# --- Account alerts -------------------------------------------------------------------------


def reason_text(reason: dict) -> str:
    """One reason an account rule fired, in words."""
    kind = reason.get("kind")
    if kind == "health_red":
        return _("Health turned red: %(score)s (it was %(before)s the day before).") % {
            "score": reason.get("score"),
            "before": reason.get("before") or _("not red"),
        }
    if kind == "health_drop":
        return _("Health fell %(points)s points in 30 days: %(before)s to %(score)s.") % {
            "points": reason.get("points"),
            "before": reason.get("before"),
            "score": reason.get("score"),
        }
    if kind == "usage_drop":
        return _("Active users down %(pct)s%% (last 30 days against the 30 before).") % {
            "pct": reason.get("pct")
        }
    if kind == "renewal":
        return _("Renews on %(day)s (in %(days)s days) while %(state)s.") % {
            "day": reason.get("renewal_date"),
            "days": reason.get("days"),
            "state": _("a detractor") if reason.get("detractor") else _("red"),
        }
    return str(reason)


def account_alert_context(alert) -> dict:
    account = alert.account
    return {
        "rule": alert.rule,
        "alert": alert,
        "account": account,
        "owner": account.owner,
        "reasons": [reason_text(reason) for reason in alert.reasons],
        "url": settings.SITE_URL + reverse("reports:account", args=[account.external_id]),
    }


def account_alert_message(alert, recipients: list[str]) -> EmailMultiAlternatives:
    context = account_alert_context(alert)
    message = EmailMultiAlternatives(
        subject="["
        + _("Alert")
        + "] "
        + _("%(account)s: %(rule)s") % {"account": alert.account.name, "rule": alert.rule.name},
        body=render_to_string("followups/email/account_alert.txt", context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
    )
    message.attach_alternative(
        render_to_string("followups/email/account_alert.html", context), "text/html"
    )
    return message


def account_chat_payload(alert) -> dict:
    context = account_alert_context(alert)
    return {"text": render_to_string("followups/email/account_alert_chat.txt", context).strip()}
