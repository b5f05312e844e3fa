"""Receivers of other apps' signals. Bounces and complaints from any ESP anymail supports."""

from anymail.signals import tracking
from django.dispatch import receiver

from .distribution import events

# Anymail's normalized event types that mean "never mail this address again".
SUPPRESSING = {"bounced": "bounced", "complained": "complained", "unsubscribed": "unsubscribed"}


@receiver(tracking, dispatch_uid="surveys.suppress_on_bounce_or_complaint")
def suppress_on_bounce_or_complaint(sender, event, esp_name, **kwargs) -> None:
    event_type = SUPPRESSING.get(event.event_type)
    if event.event_type == "rejected" and event.reject_reason in ("bounced", "invalid"):
        event_type = "bounced"  # the ESP refused because the address bounced before
    if event_type and event.recipient:
        events.record_delivery_event(
            event_type=event_type, recipient=event.recipient, description=event.description or ""
        )
