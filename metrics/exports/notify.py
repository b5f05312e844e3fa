"""The email that tells the requester a background export is ready."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.preferences import time_zone_of
from accounts.templatetags.staff_time import staff_time
from metrics.models import ExportJob

logger = logging.getLogger(__name__)


def notify_requester(*, job: ExportJob) -> None:
    """Email the requester a link to the finished export (the link itself needs a sign-in)."""
    user = job.requested_by
    if not user.email:
        return
    link = settings.SITE_URL + reverse("reports:export-detail", args=[job.public_id])
    # In the requester's own zone (profile setting), named.
    with timezone.override(time_zone_of(user)):
        expires = staff_time(job.expires_at)
    send_mail(
        subject=_("Your export is ready (%(rows)s rows)") % {"rows": f"{job.row_count:,}"},
        message=_(
            "Your %(format)s export of %(rows)s responses is ready:\n\n%(link)s\n\n"
            "The link works for you (or an administrator) until %(expires)s."
        )
        % {
            "format": job.get_format_display(),
            "rows": f"{job.row_count:,}",
            "link": link,
            "expires": expires,
        },
        from_email=None,
        recipient_list=[user.email],
    )
