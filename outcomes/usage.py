"""Writes of usage, seats and onboarding milestones: one path for the API, the CSV imports and
the admin.

Usage is a daily rollup per account and metric, upserted per (account, metric, day) with one
`INSERT ... ON CONFLICT DO UPDATE` per chunk. `active_users` is the number of distinct users
active in the 30 days ending that day (what product-analytics tools export as monthly
actives); other metrics are that day's counts.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts import services as account_services
from accounts.models import Account

from .models import Onboarding, UsageRecord

CHUNK = 1000
# The metric adoption is read from (see the module docstring).
ACTIVE_USERS = "active_users"


@dataclass(frozen=True)
class UsageInput:
    account: str  # the account's external id
    day: dt.date
    metric: str
    value: float


@dataclass
class UsageResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    accounts_created: int = 0
    records: list[UsageRecord] = field(default_factory=list)


def record_usage(*, records: list[UsageInput], dry_run: bool = False) -> UsageResult:
    """Upsert daily usage values, creating unknown accounts; all or nothing. Idempotent: the
    same values again change nothing (counted as unchanged)."""
    result = UsageResult()
    if not records:
        return result
    with transaction.atomic():
        wanted = sorted({record.account for record in records})
        accounts = {a.external_id: a for a in Account.objects.filter(external_id__in=wanted)}
        for external_id in wanted:
            if external_id not in accounts:
                result.accounts_created += 1
                accounts[external_id] = (
                    Account(external_id=external_id, name=external_id)
                    if dry_run
                    else account_services.upsert_account(external_id=external_id)
                )
        stored = _stored(records, accounts)
        rows = []
        for record in records:
            account = accounts[record.account]
            before = stored.get((account.pk, record.metric, record.day))
            if before is None:
                result.created += 1
            elif before == record.value:
                result.unchanged += 1
                continue
            else:
                result.updated += 1
            rows.append(
                UsageRecord(
                    account=account,
                    day=record.day,
                    metric=record.metric,
                    value=record.value,
                    updated_at=timezone.now(),
                )
            )
        if dry_run:
            return result
        for start in range(0, len(rows), CHUNK):
            UsageRecord.objects.bulk_create(
                rows[start : start + CHUNK],
                update_conflicts=True,
                unique_fields=["account", "metric", "day"],
                update_fields=["value", "updated_at"],
            )
        result.records = rows
    return result


def _stored(records: list[UsageInput], accounts: dict[str, Account]) -> dict[tuple, float]:
    ids = sorted({accounts[r.account].pk for r in records if accounts[r.account].pk})
    if not ids:
        return {}
    days = [r.day for r in records]
    metrics = sorted({r.metric for r in records})
    found: dict[tuple, float] = {}
    for start in range(0, len(ids), CHUNK):
        found.update(
            ((account_id, metric, day), value)
            for account_id, metric, day, value in UsageRecord.objects.filter(
                account_id__in=ids[start : start + CHUNK],
                metric__in=metrics,
                day__gte=min(days),
                day__lte=max(days),
            ).values_list("account_id", "metric", "day", "value")
        )
    return found


MILESTONES = ("kickoff_on", "go_live_on", "first_value_on")


def onboarding_errors(values: dict) -> dict[str, list[str]]:
    """Go-live and first value are at or after kickoff (keys as the API names them)."""
    errors: dict[str, list[str]] = {}
    kickoff = values.get("kickoff_on")
    for name, key in (("go_live_on", "go_live"), ("first_value_on", "first_value")):
        day = values.get(name)
        if kickoff is not None and day is not None and day < kickoff:
            errors[key] = [_("Before the kickoff (%(day)s).") % {"day": kickoff.isoformat()}]
    return errors


class OnboardingError(ValueError):
    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__(errors)
        self.errors = errors


def set_onboarding(*, account: Account, values: dict) -> Onboarding:
    """Set some of an account's milestones (the others are kept). Idempotent. Raises
    `OnboardingError` naming the field when a date precedes the kickoff; nothing is written."""
    with transaction.atomic():
        onboarding = Onboarding.objects.select_for_update().filter(
            account=account
        ).first() or Onboarding(account=account)
        merged = {name: getattr(onboarding, name) for name in (*MILESTONES, "note")}
        merged.update(values)
        errors = onboarding_errors(merged)
        if errors:
            raise OnboardingError(errors)
        changed = {k: v for k, v in merged.items() if getattr(onboarding, k) != v}
        if changed or onboarding.pk is None:
            for name, value in changed.items():
                setattr(onboarding, name, value)
            onboarding.save()
    return onboarding


def set_seats(*, account: Account, seats: int | None) -> Account:
    """An account's licensed seats (None: unknown). Idempotent."""
    if account.seats != seats:
        account.seats = seats
        account.save(update_fields=["seats", "updated_at"])
    return account
