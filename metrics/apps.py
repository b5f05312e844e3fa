from django.apps import AppConfig
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _


class MetricsConfig(AppConfig):
    name = "metrics"
    verbose_name = _("Metrics")

    def ready(self) -> None:
        from accounts.roles import ensure_permissions_and_roles

        # After the last app with models has migrated (and after each test-database flush),
        # the role groups get the permissions of any model added since their migration.
        post_migrate.connect(
            ensure_permissions_and_roles, sender=self, dispatch_uid="metrics.sync_roles"
        )
