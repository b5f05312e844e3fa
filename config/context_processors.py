from django.conf import settings


def staff(request):
    return {"outbox_enabled": settings.OUTBOX_BROWSABLE}
