"""Demo revenue: more accounts with NPS answers, and 24 months of subscription ledger whose churn,
expansion, contraction and reactivation follow each account's latest NPS category (detractors
churn and shrink more, promoters grow), so the "churn by category" view has something to show.

Lives in `metrics` because it joins answers (surveys) and the ledger (outcomes). Run by
`seed_demo`; idempotent: nothing changes once the demo ledger is there.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, ChurnReason, Contact
from outcomes.models import Source, SubscriptionEvent
from outcomes.services import sync_accounts
from surveys.models import Invitation, Kind, Response, Survey

MONTHS = 24
EXTRA_ACCOUNTS = 72
PLANS = [
    ("Starter", "SMB", "99"),
    ("Business", "Mid-market", "690"),
    ("Enterprise", "Enterprise", "3900"),
]
REGIONS = [("North America", "USD"), ("Europe", "EUR"), ("LATAM", "BRL"), ("APAC", "USD")]
# Monthly chances by NPS category (+1 promoter, 0 passive, -1 detractor, None no answer).
CHURN = {1: 0.008, 0: 0.02, -1: 0.055, None: 0.025}
EXPAND = {1: 0.09, 0: 0.05, -1: 0.015, None: 0.04}
CONTRACT = {1: 0.01, 0: 0.03, -1: 0.06, None: 0.03}
REACTIVATE = 0.05
REASONS = {
    -1: ["Poor support or service", "Product quality or bugs", "Switched to a competitor"],
    0: ["Price", "Missing features", "Switched to a competitor"],
    1: ["No longer needed", "Business closed or acquired", "Payment failed"],
    None: ["Price", "No longer needed", "Payment failed"],
}


def _month_start(day: dt.date, back: int) -> dt.date:
    index = day.year * 12 + day.month - 1 - back
    return dt.date(index // 12, index % 12 + 1, 1)


class Command(BaseCommand):
    help = "Load 24 months of demo subscription history correlated with the demo answers."

    def handle(self, *args, **options):
        if SubscriptionEvent.objects.filter(source=Source.DEMO).exists():
            self.stdout.write("Demo revenue already loaded.")
            return
        survey = Survey.objects.filter(slug="demo-nps", kind=Kind.NPS).first()
        if survey is None:
            self.stdout.write("Run seed_demo first: the demo NPS survey is missing.")
            return
        with transaction.atomic():
            count = self._load(survey)
        self.stdout.write(self.style.SUCCESS(f"Demo revenue loaded: {count} ledger events."))

    def _load(self, survey: Survey) -> int:
        rng = random.Random(18)
        now = timezone.now()
        self._extra_accounts(rng, survey, now)
        answers: dict[int, list[tuple[dt.datetime, int]]] = {}
        for account_id, answered_at, category in (
            Response.objects.filter(survey=survey, account__isnull=False)
            .order_by("answered_at")
            .values_list("account_id", "answered_at", "category")
        ):
            answers.setdefault(account_id, []).append((answered_at, category))
        reasons = {r.name: r for r in ChurnReason.objects.all()}
        events: list[SubscriptionEvent] = []
        churn_reasons: dict[int, ChurnReason] = {}
        first_month = _month_start(now.date(), MONTHS)
        for account in Account.objects.order_by("pk"):
            if account.status == Account.Status.TRIAL:
                continue
            base = account.mrr if account.mrr > 0 else Decimal(rng.choice(["99", "690"]))
            start_back = rng.randint(0, MONTHS - 1) if account.external_id.startswith("co-") else 0
            mrr = Decimal(0)
            paid_ever = False
            reason = None
            for back in range(MONTHS - start_back, -1, -1):
                month = _month_start(now.date(), back)
                if month < first_month:
                    continue
                when = dt.datetime.combine(
                    month + dt.timedelta(days=rng.randint(0, 27)),
                    dt.time(rng.randint(8, 18), rng.randint(0, 59)),
                    dt.UTC,
                )
                if when >= now:
                    break
                category = self._category(answers.get(account.pk, []), when)
                new_mrr = mrr
                if not paid_ever:
                    new_mrr = base
                elif mrr == 0:
                    if rng.random() < REACTIVATE:
                        new_mrr = (base * Decimal(rng.uniform(0.8, 1.1))).quantize(Decimal("1"))
                elif rng.random() < CHURN[category] or (
                    account.status == Account.Status.CHURNED and back == 3
                ):
                    new_mrr = Decimal(0)
                    reason = reasons.get(rng.choice(REASONS[category]))
                elif rng.random() < EXPAND[category]:
                    new_mrr = (mrr * Decimal(rng.uniform(1.1, 1.45))).quantize(Decimal("1"))
                elif rng.random() < CONTRACT[category]:
                    new_mrr = (mrr * Decimal(rng.uniform(0.6, 0.9))).quantize(Decimal("1"))
                if new_mrr == mrr and paid_ever:
                    continue
                paid_ever = True
                mrr = new_mrr
                events.append(
                    SubscriptionEvent(
                        account=account,
                        source=Source.DEMO,
                        external_id=f"demo-{account.pk}-{len(events)}",
                        effective_at=when,
                        mrr=mrr,
                        currency=account.currency,
                        plan=account.plan,
                        renews_on=account.renewal_date,
                    )
                )
            if mrr == 0 and reason is not None:
                churn_reasons[account.pk] = reason
        SubscriptionEvent.objects.bulk_create(events, batch_size=1000)
        sync_accounts(account_ids=Account.objects.values_list("pk", flat=True))
        for account_id, reason in churn_reasons.items():
            Account.objects.filter(pk=account_id).update(churn_reason=reason)
        return len(events)

    @staticmethod
    def _category(answers: list[tuple[dt.datetime, int]], when: dt.datetime) -> int | None:
        """The category of the latest answer in the 365 days before `when` (DESIGN.md)."""
        latest = None
        for answered_at, category in answers:
            if answered_at >= when:
                break
            if answered_at >= when - dt.timedelta(days=365):
                latest = category
        return latest

    def _extra_accounts(self, rng: random.Random, survey: Survey, now: dt.datetime) -> None:
        owner = Account.objects.exclude(owner=None).values_list("owner", flat=True).first()
        for i in range(EXTRA_ACCOUNTS):
            plan, segment, price = rng.choice(PLANS)
            region, currency = rng.choice(REGIONS)
            account = Account.objects.create(
                external_id=f"co-{i + 1:03d}",
                name=f"Demo Company {i + 1:03d}",
                plan=plan,
                segment=segment,
                region=region,
                currency=currency,
                mrr=Decimal(price),
                owner_id=owner,
                renewal_date=(now + dt.timedelta(days=rng.randint(-200, 360))).date(),
            )
            mood = rng.uniform(-0.45, 0.45)
            for c in range(rng.randint(1, 2)):
                contact = Contact.objects.create(
                    account=account,
                    email=f"person{c + 1}@co-{i + 1:03d}.example.com",
                    name=f"Person {c + 1} (Demo Company {i + 1:03d})",
                    language="en",
                )
                day = MONTHS * 30
                while day > 0:
                    day -= rng.randint(60, 150)
                    sent = now - dt.timedelta(days=max(day, 1), hours=rng.randint(0, 23))
                    invitation = Invitation.objects.create(
                        survey=survey,
                        contact=contact,
                        status=Invitation.Status.SENT,
                        created_at=sent,
                        sent_at=sent,
                        send_count=1,
                        expires_at=sent + dt.timedelta(days=settings.INVITATION_EXPIRY_DAYS),
                    )
                    if rng.random() > 0.65:
                        continue
                    x = min(max(rng.gauss(0.66 + mood, 0.2), 0.0), 1.0)
                    score = round(x * 10)
                    answered = sent + dt.timedelta(minutes=rng.randint(2, 2000))
                    Response.objects.create(
                        invitation=invitation,
                        survey=survey,
                        contact=contact,
                        account=account,
                        score=score,
                        category=survey.category_of(score),
                        answered_at=answered,
                    )
                    Invitation.objects.filter(pk=invitation.pk).update(
                        answered_at=answered, clicked_at=answered
                    )
