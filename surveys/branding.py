"""A survey's brand on respondent pages: logo, company name, accent colour.

A logo URL on another site is never shown to respondents (a third-party request from the
answer page leaks who opened it and looks like phishing): a worker fetches it once into our
storage (followups.branding, which holds the outbound-HTTP guard) and the pages show that
copy, served by this site.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils.module_loading import import_string

from .models import Survey

FETCH_TASK = "followups.tasks.fetch_survey_logo"


def is_local_asset(url: str) -> bool:
    return (
        url.startswith("/") and not url.startswith("//") or url.startswith(settings.SITE_URL + "/")
    )


def needs_fetch(survey: Survey) -> bool:
    """An external logo not stored yet, or changed since it was."""
    url = survey.logo_url
    return bool(url) and not is_local_asset(url) and url != survey.logo_fetched_from


def request_logo_fetch(*, survey: Survey) -> bool:
    """Hand the survey's external logo to a worker once the transaction commits; False when
    there is nothing to fetch. Idempotent: the fetch stores one copy per URL."""
    if not needs_fetch(survey):
        return False
    task = import_string(FETCH_TASK)  # by name: a lower app never imports a higher one
    survey_id = survey.pk
    transaction.on_commit(lambda: task.delay(survey_id), robust=True)
    return True


def logo_src(survey: Survey) -> str:
    """What respondent pages put in <img src>: a logo on this site, the stored copy of an
    external one, or "" (never the external URL itself)."""
    if survey.logo_url and is_local_asset(survey.logo_url):
        return survey.logo_url
    if survey.logo_file and survey.logo_fetched_from == survey.logo_url:
        return reverse("public:logo", args=[survey.slug])
    return ""


def brand_context(survey: Survey) -> dict:
    return {
        "accent": survey.accent_color or "#0b3d91",
        "logo_url": logo_src(survey),
        "company": survey.company_name or survey.sender_name,
    }
