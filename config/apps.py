from django.apps import AppConfig


class ConfigConfig(AppConfig):
    name = "config"
    verbose_name = "Configuration"

    def ready(self) -> None:
        # Registers the system checks, and clears request ids when a response is closed.
        from . import checks, signals  # noqa: F401
