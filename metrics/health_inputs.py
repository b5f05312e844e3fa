"""The health score's inputs that come from what customers do, as of a reference instant:
open support tickets, adoption (usage / seats) and the revenue trend (the ledger).

Three statements for any number of accounts:
- support: tickets created before the reference and not solved by it (`solved_at` is the final
  solve: a ticket reopened and solved again after the reference counts as open); an account
  that never had a ticket has no support input. Counted as the unsolved tickets plus those
  solved at or after the reference (two ranges of the index `ticket_solved`), so it reads
  the tickets that can be open, not every ticket ever created; whether an account had any
  ticket before the reference is an index probe, made only for accounts with none open;
- adoption: the latest `active_users` value (distinct users active in the 30 days ending
  that day) of the 30 days ending the day before the reference, / licensed seats;
- revenue: MRR at the reference and `revenue_days` before it (the latest ledger event before
  each instant), in the same currency.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import connections
from django.utils import timezone

from accounts.models import Account
from outcomes.models import SubscriptionEvent, Ticket, UsageRecord
from outcomes.usage import ACTIVE_USERS

from .support_scoring import adoption_pct

TICKETS = Ticket._meta.db_table
USAGE = UsageRecord._meta.db_table
LEDGER = SubscriptionEvent._meta.db_table
ACCOUNTS = Account._meta.db_table
ADOPTION_DAYS = 30


@dataclass(frozen=True, slots=True)
class HealthInputs:
    open_tickets: int | None = None  # None: no ticket before the reference
    adoption_pct: float | None = None
    mrr_now: Decimal | None = None
    mrr_before: Decimal | None = None  # None: no MRR then, or another currency


NO_INPUTS = HealthInputs()


def usage_day(reference: dt.datetime) -> dt.date:
    """The last complete day before the reference, in the installation's time zone."""
    return timezone.localtime(reference).date() - dt.timedelta(days=1)


def health_inputs(
    *, reference: dt.datetime, revenue_days: int, account_ids: list[int] | None = None
) -> dict[int, HealthInputs]:
    """Per account id (only those with some input), its outcome inputs as of `reference`."""
    connection = connections[settings.REPORTS_DATABASE]

    def only(column: str) -> str:
        """The clause keeping the accounts asked for (none: every account)."""
        return "" if account_ids is None else f"AND {column} = ANY(%(ids)s)"

    found: dict[int, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            SELECT id, open_tickets FROM (
                SELECT a.id, COALESCE(unsolved.n, 0) + COALESCE(solved_after.n, 0) AS open_tickets
                FROM {ACCOUNTS} a
                LEFT JOIN (
                    SELECT account_id, COUNT(*) AS n FROM {TICKETS}
                    WHERE solved_at IS NULL AND account_id IS NOT NULL
                          AND created_at < %(reference)s {only("account_id")}
                    GROUP BY account_id
                ) unsolved ON unsolved.account_id = a.id
                LEFT JOIN (
                    SELECT account_id, COUNT(*) AS n FROM {TICKETS}
                    WHERE solved_at >= %(reference)s AND account_id IS NOT NULL
                          AND created_at < %(reference)s {only("account_id")}
                    GROUP BY account_id
                ) solved_after ON solved_after.account_id = a.id
                WHERE TRUE {only("a.id")}
            ) counted
            -- None open: 0 if the account had a ticket before the reference (one index probe,
            -- a scalar subquery so it is never turned into a hashed scan of the tickets).
            WHERE open_tickets > 0 OR (
                SELECT TRUE FROM {TICKETS} t
                WHERE t.account_id = counted.id AND t.created_at < %(reference)s LIMIT 1
            )
            """,  # noqa: S608 - table names from the models; values are parameters
            {"reference": reference, "ids": account_ids},
        )
        for account_id, open_tickets in cursor.fetchall():
            found.setdefault(account_id, {})["open_tickets"] = open_tickets
        last = usage_day(reference)
        cursor.execute(
            f"""
            SELECT DISTINCT ON (u.account_id) u.account_id, u.value, a.seats
            FROM {USAGE} u JOIN {ACCOUNTS} a ON a.id = u.account_id
            WHERE u.metric = %(metric)s AND u.day > %(after)s AND u.day <= %(last)s
                  AND a.seats > 0 {only("u.account_id")}
            ORDER BY u.account_id, u.day DESC
            """,  # noqa: S608
            {
                "metric": ACTIVE_USERS,
                "after": last - dt.timedelta(days=ADOPTION_DAYS),
                "last": last,
                "ids": account_ids,
            },
        )
        for account_id, value, seats in cursor.fetchall():
            found.setdefault(account_id, {})["adoption_pct"] = adoption_pct(value, seats)
        before = reference - dt.timedelta(days=revenue_days)
        cursor.execute(
            f"""
            SELECT a.id, n.mrr, n.currency, b.mrr, b.currency
            FROM {ACCOUNTS} a
            JOIN LATERAL (
                SELECT mrr, currency FROM {LEDGER} e
                WHERE e.account_id = a.id AND e.effective_at < %(reference)s
                ORDER BY e.effective_at DESC, e.id DESC LIMIT 1
            ) n ON TRUE
            LEFT JOIN LATERAL (
                SELECT mrr, currency FROM {LEDGER} e
                WHERE e.account_id = a.id AND e.effective_at < %(before)s
                ORDER BY e.effective_at DESC, e.id DESC LIMIT 1
            ) b ON TRUE
            WHERE TRUE {only("a.id")}
            """,  # noqa: S608
            {"reference": reference, "before": before, "ids": account_ids},
        )
        for account_id, mrr_now, currency_now, mrr_before, currency_before in cursor.fetchall():
            entry = found.setdefault(account_id, {})
            entry["mrr_now"] = mrr_now
            entry["mrr_before"] = mrr_before if currency_before == currency_now else None
    return {account_id: HealthInputs(**values) for account_id, values in found.items()}
