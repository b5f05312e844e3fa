"""Fetching a survey's external logo into our storage, through the outbound-HTTP guard (never
to loopback, private, link-local or reserved addresses; no redirects; a size cap)."""

from __future__ import annotations

import hashlib
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from surveys.models import Survey

from . import outbound

logger = logging.getLogger(__name__)

MAX_LOGO_BYTES = 512 * 1024
# Raster formats only: an SVG can carry script.
SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}


def image_extension(data: bytes) -> str:
    """The file's format from its first bytes ("png", "jpg", "gif", "webp"), or ""."""
    for signature, extension in SIGNATURES.items():
        if data.startswith(signature):
            return extension
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return ""


def fetch_survey_logo(*, survey_id: int) -> bool:
    """Store the survey's external logo once. Idempotent: a URL already stored is not fetched
    again. False (and the logo stays unshown) when the URL is unsafe, unreachable, too large
    or not an image."""
    survey = Survey.objects.filter(pk=survey_id).first()
    if survey is None or not survey.logo_url or survey.logo_url == survey.logo_fetched_from:
        return False
    url = survey.logo_url
    try:
        data, _content_type = outbound.fetch(url, max_bytes=MAX_LOGO_BYTES)
    except outbound.UnsafeURL:
        logger.warning("survey %s: logo refused, internal address", survey_id)
        return False
    except OSError as exc:
        logger.warning("survey %s: logo not fetched (%s)", survey_id, exc)
        return False
    extension = image_extension(data)
    if not extension:
        logger.warning("survey %s: logo is not a PNG, JPEG, GIF or WebP image", survey_id)
        return False
    name = f"logos/{survey.slug}-{hashlib.sha256(data).hexdigest()[:16]}.{extension}"
    if not default_storage.exists(name):
        name = default_storage.save(name, ContentFile(data))
    # Only if the URL is still the one fetched: staff may have changed it meanwhile.
    updated = Survey.objects.filter(pk=survey_id, logo_url=url).update(
        logo_file=name, logo_fetched_from=url
    )
    return bool(updated)
