"""Bounce and complaint webhooks of the ESPs django-anymail supports, refused until secured.

Without ANYMAIL["WEBHOOK_SECRET"] anymail accepts any POST (it only warns), so anyone could mark
an address bounced or complained and suppress it forever. Here each ESP's tracking view answers
403 until the shared basic-auth secret is set and, for ESPs that sign their webhooks, the signing
key too; anymail then verifies both on every request. Inbound-mail views are not mounted (the
app receives no mail).
"""

from __future__ import annotations

from functools import wraps

from anymail.utils import get_anymail_setting
from anymail.webhooks.amazon_ses import AmazonSESTrackingWebhookView
from anymail.webhooks.brevo import BrevoTrackingWebhookView
from anymail.webhooks.mailersend import MailerSendTrackingWebhookView
from anymail.webhooks.mailgun import MailgunTrackingWebhookView
from anymail.webhooks.mailjet import MailjetTrackingWebhookView
from anymail.webhooks.mailtrap import MailtrapTrackingWebhookView
from anymail.webhooks.mandrill import MandrillCombinedWebhookView
from anymail.webhooks.postal import PostalTrackingWebhookView
from anymail.webhooks.postmark import PostmarkTrackingWebhookView
from anymail.webhooks.resend import ResendTrackingWebhookView
from anymail.webhooks.sendgrid import SendGridTrackingWebhookView
from anymail.webhooks.sparkpost import SparkPostTrackingWebhookView
from anymail.webhooks.unisender_go import UnisenderGoTrackingWebhookView
from django.conf import settings
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

# URL name -> (view, the ANYMAIL key holding the ESP's signing key, or None if it signs nothing).
TRACKING_WEBHOOKS = {
    "amazon_ses": (AmazonSESTrackingWebhookView, None),
    "brevo": (BrevoTrackingWebhookView, None),
    "mailersend": (MailerSendTrackingWebhookView, "MAILERSEND_SIGNING_SECRET"),
    "mailgun": (MailgunTrackingWebhookView, "MAILGUN_WEBHOOK_SIGNING_KEY"),
    "mailjet": (MailjetTrackingWebhookView, None),
    "mailtrap": (MailtrapTrackingWebhookView, "MAILTRAP_TRACKING_SECRET"),
    "mandrill": (MandrillCombinedWebhookView, "MANDRILL_WEBHOOK_KEY"),
    "postal": (PostalTrackingWebhookView, "POSTAL_WEBHOOK_KEY"),
    "postmark": (PostmarkTrackingWebhookView, None),
    "resend": (ResendTrackingWebhookView, "RESEND_SIGNING_SECRET"),
    "sendgrid": (SendGridTrackingWebhookView, "SENDGRID_TRACKING_WEBHOOK_VERIFICATION_KEY"),
    "sparkpost": (SparkPostTrackingWebhookView, None),
    "unisender_go": (UnisenderGoTrackingWebhookView, "UNISENDER_GO_API_KEY"),
}


def missing_settings(esp: str) -> list[str]:
    """The ANYMAIL keys this ESP's tracking webhook still needs before it is accepted."""
    missing = []
    if not get_anymail_setting("webhook_secret", default=None):
        missing.append("WEBHOOK_SECRET")
    _view, signing_key = TRACKING_WEBHOOKS[esp]
    if signing_key and not (settings.ANYMAIL or {}).get(signing_key):
        missing.append(signing_key)
    return missing


def _guarded(esp: str, view):
    @wraps(view)
    def guarded(request, *args, **kwargs):
        missing = missing_settings(esp)
        if missing:
            return HttpResponse(
                "Tracking webhooks are refused until ANYMAIL sets " + " and ".join(missing) + ".\n",
                status=403,
                content_type="text/plain",
            )
        return view(request, *args, **kwargs)

    return csrf_exempt(guarded)


def _routes():
    for esp, (view_class, _key) in TRACKING_WEBHOOKS.items():
        # as_view() makes a view instance per request, so anymail reads its settings then.
        route = "mandrill/" if esp == "mandrill" else f"{esp}/tracking/"
        name = "mandrill_webhook" if esp == "mandrill" else f"{esp}_tracking_webhook"
        yield path(route, _guarded(esp, view_class.as_view()), name=name)


app_name = "anymail"
urlpatterns = list(_routes())
