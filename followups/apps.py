from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupsConfig(AppConfig):
    name = "followups"
    verbose_name = _("Alerts, follow-up and webhooks")

    def ready(self) -> None:
        # The lower apps announce their events through their own Signal objects, sent by their
        # services after commit; this app listens, never the other way around.
        from accounts.signals import contact_unsubscribed
        from surveys.signals import contact_erased, response_saved

        from . import receivers

        response_saved.connect(receivers.on_response_saved, dispatch_uid="followups.response")
        contact_unsubscribed.connect(
            receivers.on_contact_unsubscribed, dispatch_uid="followups.unsubscribed"
        )
        contact_erased.connect(receivers.on_contact_erased, dispatch_uid="followups.erased")
