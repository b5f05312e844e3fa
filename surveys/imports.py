"""CSV import of historical answers (email, survey, score, comment, date) from another tool.

Same rules as the contact import: every bad row is listed with its line number and reason and
then nothing is written; a dry run writes nothing; importing a file twice adds nothing (each
answer is keyed by survey, contact and time, see `services.import_response`). Unknown emails
become contacts without an account; an existing contact's account is the answer's account.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.audit import record_audit
from accounts.imports import CHUNK, ImportFileError, ImportResult, RowError, read_rows
from accounts.models import AuditLog, Contact

from . import services
from .models import Survey

REQUIRED = ("email", "survey", "score", "date")
COLUMNS = (*REQUIRED, "comment")


def _parse_when(value: str, zone: ZoneInfo) -> dt.datetime:
    """ISO date (midnight) or date-time; without an offset it is read in `zone`."""
    text = value.strip().replace(" ", "T", 1) if len(value.strip()) > 10 else value.strip()
    try:
        if len(text) == 10:
            when = dt.datetime.combine(dt.date.fromisoformat(text), dt.time.min)
        else:
            when = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            _("%(value)r is not a date (YYYY-MM-DD or YYYY-MM-DD HH:MM[:SS][+HH:MM]).")
            % {"value": value}
        ) from None
    if timezone.is_naive(when):
        when = when.replace(tzinfo=zone)
    try:
        when = when.astimezone(dt.UTC)
    except OverflowError:
        when = None
    if when is None or not 1900 <= when.year <= 2999:
        raise ValueError(_("The date %(value)r is out of range (1900 to 2999).") % {"value": value})
    return when


def import_responses(
    *,
    source,
    actor=None,
    dry_run: bool = False,
    tz: str | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportResult:
    """Validate a CSV of historical answers, then store them all, or nothing if any is bad."""
    zone = ZoneInfo(tz or settings.TIME_ZONE)
    header, rows = read_rows(source)
    missing = [name for name in REQUIRED if name not in header]
    unknown = [name for name in header if name not in COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(_("missing columns: %(c)s") % {"c": ", ".join(missing)})
        if unknown:
            problems.append(_("unknown columns: %(c)s") % {"c": ", ".join(unknown)})
        raise ImportFileError(
            _("The header must be %(columns)s (%(problems)s).")
            % {"columns": ",".join(COLUMNS), "problems": "; ".join(problems)}
        )
    surveys = {survey.slug: survey for survey in Survey.objects.all()}
    now = timezone.now()
    result = ImportResult(dry_run=dry_run)
    planned: list[tuple[int, str, Survey, int, str, dt.datetime]] = []
    seen: dict[tuple, int] = {}
    for line, row in rows:
        result.rows += 1
        if progress and result.rows % CHUNK == 0:
            progress(result.rows)
        if "__error__" in row:
            result.errors.append(RowError(line, row["__error__"]))
            continue
        try:
            email = row["email"]
            if not email:
                raise ValueError(_("The email is empty."))
            if len(email) > 254:
                raise ValueError(_("email is longer than 254 characters."))
            try:
                validate_email(email)
            except ValidationError:
                raise ValueError(
                    _("%(value)r is not a valid email address.") % {"value": email}
                ) from None
            survey = surveys.get(row["survey"])
            if survey is None:
                raise ValueError(_("No survey with slug %(value)r.") % {"value": row["survey"]})
            try:
                score = services.validate_score(survey=survey, score=row["score"])
            except ValidationError as exc:
                raise ValueError(
                    _("Score %(value)r: %(reason)s")
                    % {"value": row["score"], "reason": exc.messages[0]}
                ) from None
            if not row["date"]:
                raise ValueError(_("The date is empty."))
            when = _parse_when(row["date"], zone)
            if when > now:
                raise ValueError(_("The date %(value)s is in the future.") % {"value": row["date"]})
            comment = row.get("comment", "")
            if len(comment) > 5000:
                raise ValueError(_("Keep the comment under 5,000 characters."))
        except ValueError as exc:
            result.errors.append(RowError(line, str(exc)))
            continue
        key = (email.lower(), survey.pk, when)
        if key in seen:
            result.errors.append(
                RowError(line, _("The same answer is on line %(other)s.") % {"other": seen[key]})
            )
            continue
        seen[key] = line
        planned.append((line, email, survey, score, comment, when))
    if progress:
        progress(result.rows)
    if result.errors:
        return result

    counts = dict.fromkeys(("contacts_created", "created", "updated", "unchanged"), 0)
    with transaction.atomic():
        contacts: dict[str, Contact] = {}
        for _line, email, survey, score, comment, when in planned:
            key = email.lower()
            contact = contacts.get(key)
            if contact is None:
                contact = Contact.objects.filter(email__iexact=email).first()
                if contact is None:
                    contact = Contact.objects.create(email=email)
                    counts["contacts_created"] += 1
                contacts[key] = contact
            _response, outcome = services.import_response(
                survey=survey, contact=contact, score=score, comment=comment, answered_at=when
            )
            counts[outcome] += 1
        result.counts = counts
        if dry_run:
            # The preview ran every write; rolling back leaves the database as it was.
            transaction.set_rollback(True)
        else:
            result.applied = True
            record_audit(
                actor=actor,
                action=AuditLog.Action.IMPORT_RESPONSES,
                details={"counts": counts, "tz": str(zone)},
                row_count=result.rows,
            )
    return result
