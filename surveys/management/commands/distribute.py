"""Run every distribution sweep once: for cron where no Celery beat runs (e.g. the embedded
default, where tasks run eagerly in-process)."""

from django.core.management.base import BaseCommand

from surveys.distribution import planning, sweeps


class Command(BaseCommand):
    help = (
        "Release delayed sends, retry due ones, settle rows of lost workers, expire, send due "
        "reminders and plan today's share of relational surveys. Safe to run any time."
    )

    def handle(self, *args, **options) -> None:
        sweep = sweeps.dispatch_due()
        reminders = sweeps.send_reminders()
        planned = planning.plan_relational_surveys()
        self.stdout.write(
            f"released {sweep.released}, dispatched {sweep.dispatched}, lost {sweep.lost}, "
            f"expired {sweep.expired}, reminders {reminders}, relational planned {planned}"
        )
