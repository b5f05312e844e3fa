"""System checks of `manage.py check --deploy` for the surveys app."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.security, deploy=True)
def tracking_webhooks_have_a_secret(app_configs, **kwargs) -> list[Warning]:
    """With an ESP as the email backend, its bounce and complaint webhooks are how addresses get
    suppressed; they are refused until ANYMAIL holds the secret (and the ESP's signing key)."""
    backend = settings.EMAIL_BACKEND
    if not backend.startswith("anymail.backends."):
        return []
    from .esp_webhooks import TRACKING_WEBHOOKS, missing_settings

    esp = backend.split(".")[2]
    if esp == "sendinblue":
        esp = "brevo"
    if esp in TRACKING_WEBHOOKS:
        missing = missing_settings(esp)
    elif not (settings.ANYMAIL or {}).get("WEBHOOK_SECRET"):
        missing = ["WEBHOOK_SECRET"]
    else:
        missing = []
    if not missing:
        return []
    return [
        Warning(
            "Bounce and complaint webhooks are refused (HTTP 403) until ANYMAIL sets "
            + " and ".join(missing)
            + ": bounced addresses would keep being mailed.",
            hint='Set ANYMAIL, e.g. ANYMAIL="WEBHOOK_SECRET=user:long-random-password", use '
            "those credentials in the webhook URL at your ESP, and see README, Security.",
            id="surveys.W001",
        )
    ]
