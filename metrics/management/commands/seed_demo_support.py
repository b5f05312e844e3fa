"""Demo support, usage, onboarding and health history, correlated with the demo answers and
churn: detractor accounts file more tickets and wait longer for replies, their usage falls
before they churn (and stops after), CSAT answers are joined to tickets whose reply time
matches the score, and six months of daily health snapshots are backfilled.

Lives in `metrics` because it joins answers (surveys) and outcomes. Run by `seed_demo` after
the demo revenue; idempotent: nothing changes once the demo tickets are there.
"""

from __future__ import annotations

import datetime as dt
import random

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Account
from metrics import health
from outcomes.models import Onboarding, Ticket, TicketSource, UsageRecord
from surveys.models import Invitation, Kind, Response

DAYS = 365
HISTORY_DAYS = 180
SEATS = {"Starter": 10, "Business": 40, "Enterprise": 150}
CHANNELS = ["email", "email", "chat", "web", "phone"]
ASSIGNEES = ["maria", "joao", "lucia", "pedro", "ana"]
# Tickets a month, first reply (median minutes) and FCR chance by NPS category.
LOAD = {1: 1.2, 0: 2.0, -1: 3.5, None: 1.5}
REPLY = {1: 40, 0: 90, -1: 240, None: 90}
ONE_TOUCH = {1: 0.7, 0: 0.55, -1: 0.35, None: 0.55}


class Command(BaseCommand):
    help = "Load demo tickets, usage, onboarding milestones and health history."

    def handle(self, *args, **options):
        if Ticket.objects.filter(source=TicketSource.DEMO).exists():
            self.stdout.write("Demo support already loaded.")
            return
        with transaction.atomic():
            tickets, usage = self._load(random.Random(12))
        stored = health.backfill(days=HISTORY_DAYS)
        stored += health.take_snapshots()
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo support loaded: {tickets} tickets, {usage} usage values, "
                f"{stored} health snapshots."
            )
        )

    def _load(self, rng: random.Random) -> tuple[int, int]:
        now = timezone.now()
        today = timezone.localdate()
        categories = self._categories()
        tickets: list[Ticket] = []
        usage: list[UsageRecord] = []
        for account in Account.objects.exclude(status=Account.Status.TRIAL).order_by("pk"):
            category = categories.get(account.pk)
            seats = SEATS.get(account.plan, 25)
            account.seats = seats
            account.save(update_fields=["seats", "updated_at"])
            churned = account.churned_at if account.status == Account.Status.CHURNED else None
            self._onboarding(rng, account, today)
            tickets += self._tickets(rng, account, category, now, churned)
            usage += self._usage(rng, account, category, seats, today, churned)
        Ticket.objects.bulk_create(tickets, batch_size=1000)
        UsageRecord.objects.bulk_create(usage, batch_size=2000)
        self._csat_tickets(rng)
        return len(tickets), len(usage)

    @staticmethod
    def _categories() -> dict[int, int]:
        """Each account's latest NPS category (the mood its support and usage follow)."""
        found: dict[int, int] = {}
        for account_id, category in (
            Response.objects.filter(survey__kind=Kind.NPS, account__isnull=False)
            .order_by("answered_at")
            .values_list("account_id", "category")
        ):
            found[account_id] = category
        return found

    @staticmethod
    def _onboarding(rng: random.Random, account: Account, today: dt.date) -> None:
        kickoff = account.start_date or today - dt.timedelta(days=rng.randint(60, 700))
        weeks = {"Starter": (1, 4), "Business": (3, 9), "Enterprise": (6, 20)}.get(
            account.plan, (2, 8)
        )
        go_live = kickoff + dt.timedelta(days=7 * rng.randint(*weeks) + rng.randint(0, 6))
        first_value = go_live + dt.timedelta(days=rng.randint(5, 45))
        if go_live > today:  # still onboarding
            go_live = first_value = None
        elif first_value > today:
            first_value = None
        Onboarding.objects.create(
            account=account, kickoff_on=kickoff, go_live_on=go_live, first_value_on=first_value
        )

    @staticmethod
    def _tickets(rng, account, category, now, churned) -> list[Ticket]:
        out = []
        end = churned or now
        day = now - dt.timedelta(days=DAYS)
        while day < end:
            day += dt.timedelta(days=rng.expovariate(LOAD[category] / 30))
            if day >= end:
                break
            created = day.replace(hour=rng.randint(8, 19), minute=rng.randint(0, 59))
            reply = rng.lognormvariate(0, 0.9) * REPLY[category]
            one_touch = rng.random() < ONE_TOUCH[category]
            replies = 1 if one_touch else rng.randint(2, 6)
            reopened = not one_touch and rng.random() < 0.25
            solved = reply + rng.lognormvariate(0, 1) * (120 if one_touch else 900)
            first_solved = solved * rng.uniform(0.3, 0.7) if reopened else None
            open_now = created + dt.timedelta(minutes=solved) > now
            first_reply_at = created + dt.timedelta(minutes=reply)
            out.append(
                Ticket(
                    account=account,
                    source=TicketSource.DEMO,
                    external_id=f"demo-{account.pk}-{len(out)}",
                    subject=rng.choice(["Cannot export", "Invoice question", "Login fails",
                                        "Feature request", "Slow reports", "Integration error"]),
                    channel=rng.choice(CHANNELS),
                    assignee=rng.choice(ASSIGNEES),
                    status="open" if open_now else rng.choice(["solved", "closed"]),
                    created_at=created,
                    first_reply_at=first_reply_at if first_reply_at <= now else None,
                    first_solved_at=(
                        None
                        if open_now and not reopened
                        else created + dt.timedelta(minutes=first_solved or solved)
                    ),
                    solved_at=None if open_now else created + dt.timedelta(minutes=solved),
                    agent_replies=replies if first_reply_at <= now else 0,
                    reopens=int(reopened),
                )
            )  # fmt: skip
        return out

    @staticmethod
    def _usage(rng, account, category, seats, today, churned) -> list[UsageRecord]:
        """active_users (30-day distinct) and events, daily: promoters grow, detractors fade,
        and usage falls in the three months before a churn and stops after it."""
        base = seats * {1: 0.85, 0: 0.65, -1: 0.45, None: 0.55}[category]
        drift = {1: 0.0006, 0: 0.0, -1: -0.0012, None: -0.0003}[category]
        last = churned.date() if churned else today - dt.timedelta(days=1)
        out = []
        for back in range(DAYS, -1, -1):
            day = today - dt.timedelta(days=back)
            if day > last:
                break
            level = base * (1 + drift * (DAYS - back))
            if churned is not None:
                days_left = (last - day).days
                if days_left < 90:
                    level *= 0.3 + 0.7 * days_left / 90
            active = max(0, round(level * rng.uniform(0.95, 1.05)))
            out.append(UsageRecord(account=account, day=day, metric="active_users", value=active))
            events = max(0, round(active * rng.uniform(8, 14) * (0.6 if day.weekday() >= 5 else 1)))
            out.append(UsageRecord(account=account, day=day, metric="events", value=events))
        return out

    @staticmethod
    def _csat_tickets(rng: random.Random) -> None:
        """Join each demo CSAT answer to a ticket of its account created a day or two before,
        whose first reply fits the score (slow replies for low scores)."""
        answers = Response.objects.filter(
            survey__kind=Kind.CSAT, account__isnull=False
        ).select_related("invitation")
        tickets = []
        invitations = []
        for response in answers:
            created = response.answered_at - dt.timedelta(hours=rng.randint(20, 60))
            satisfied = response.category == 1
            reply = rng.lognormvariate(0, 1.0) * (45 if satisfied else 300)
            key = f"demo-csat-{response.pk}"
            tickets.append(
                Ticket(
                    account_id=response.account_id,
                    source=TicketSource.DEMO,
                    external_id=key,
                    subject="Support request",
                    channel=rng.choice(CHANNELS),
                    assignee=rng.choice(ASSIGNEES),
                    status="solved",
                    created_at=created,
                    first_reply_at=created + dt.timedelta(minutes=reply),
                    first_solved_at=created + dt.timedelta(minutes=reply + 60),
                    solved_at=created + dt.timedelta(minutes=reply + 60),
                    agent_replies=1 if satisfied else 2,
                )
            )
            invitation: Invitation = response.invitation
            invitation.properties = {**invitation.properties, "ticket": key}
            invitations.append(invitation)
        Ticket.objects.bulk_create(tickets, batch_size=1000)
        Invitation.objects.bulk_update(invitations, ["properties"], batch_size=1000)
