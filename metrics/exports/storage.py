"""Finished export files: who may download them, streaming them, and their expiry."""

from __future__ import annotations

import logging
from collections.abc import Iterable

from django.core.files.storage import default_storage
from django.utils import timezone

from metrics.models import ExportJob

logger = logging.getLogger(__name__)


def purge_expired_exports() -> int:
    """Delete the files of expired export jobs; the job rows stay as history. Idempotent."""
    expired = ExportJob.objects.filter(expires_at__lte=timezone.now()).exclude(file="")
    count = 0
    for job in expired.iterator():
        default_storage.delete(job.file.name)
        ExportJob.objects.filter(pk=job.pk).update(file="")
        count += 1
    return count


def can_download(*, user, job: ExportJob) -> bool:
    from accounts.roles import is_administrator

    return user.is_authenticated and (job.requested_by_id == user.pk or is_administrator(user))


def iter_file(job: ExportJob) -> Iterable[bytes]:
    return default_storage.open(job.file.name, "rb")
