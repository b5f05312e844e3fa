from django.conf import settings
from django.utils import timezone


def staff(request):
    return {
        "outbox_enabled": settings.OUTBOX_BROWSABLE,
        "staff_time_zone": timezone.get_current_timezone_name(),
    }
