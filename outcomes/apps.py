from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OutcomesConfig(AppConfig):
    name = "outcomes"
    verbose_name = _("Outcomes")

    def ready(self) -> None:
        from accounts.signals import account_billing_changed

        from . import services

        # Synchronous, in the writer's transaction: an MRR write and its ledger event commit
        # together or not at all.
        account_billing_changed.connect(
            services.on_account_billing_changed, dispatch_uid="outcomes.ledger"
        )
