"""Stored delivery errors keep only a status or an error class.

Earlier sends stored up to 500 characters of the receiver's reply and exception texts that
named the URL (for a chat webhook, its secret path). Those are cut down to their first part.
"""

import re

from django.db import migrations

# "HTTP 500: <reply>" -> "HTTP 500"; "ConnectionError: <text with the URL>" -> "ConnectionError"
_PART = re.compile(r"^\s*(?:(email|chat): )?(HTTP \d{3}|[A-Za-z_][\w.]*)")


def shorten(error: str) -> str:
    parts = []
    for part in (error or "").split("; "):
        match = _PART.match(part)
        if match:
            channel, what = match.groups()
            parts.append(f"{channel}: {what}" if channel else what)
    return "; ".join(parts)[:200]


def shorten_errors(apps, schema_editor):
    for model, field in (
        ("AlertDelivery", "last_error"),
        ("WebhookDelivery", "last_error"),
    ):
        Model = apps.get_model("followups", model)
        for pk, error in Model.objects.exclude(**{field: ""}).values_list("pk", field).iterator():
            short = shorten(error)
            if short != error:
                Model.objects.filter(pk=pk).update(**{field: short})
    Endpoint = apps.get_model("followups", "WebhookEndpoint")
    for pk, reason in Endpoint.objects.filter(disabled_reason__contains="Last error: ").values_list(
        "pk", "disabled_reason"
    ):
        head, _sep, error = reason.partition("Last error: ")
        Endpoint.objects.filter(pk=pk).update(disabled_reason=f"{head}Last error: {shorten(error)}")


class Migration(migrations.Migration):
    dependencies = [("followups", "0006_outbound_urls_public_only")]

    operations = [migrations.RunPython(shorten_errors, migrations.RunPython.noop)]
