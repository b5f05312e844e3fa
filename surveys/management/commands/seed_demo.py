"""Demo data: a few accounts and contacts, NPS/CSAT/CES surveys, about a year of answers.

Idempotent: running it again changes nothing once the demo data is there.
"""

import random
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, Contact
from surveys.models import Invitation, Kind, Response, Survey

DEMO_USER = "demo"
DEMO_PASSWORD = "demo-password-123"  # noqa: S105 - printed for the local demo only

# (name, slug, kind, company name, scale minimum, scale maximum)
SURVEYS = [
    ("Relational NPS", "demo-nps", Kind.NPS, "Demo Software", 0, 10),
    ("Support CSAT", "demo-csat", Kind.CSAT, "our support", 1, 5),
    ("Support effort (CES)", "demo-ces", Kind.CES, "Demo Software", 1, 7),
]
ACCOUNTS = [
    ("acme", "Acme Corp", "Enterprise", "Enterprise", "North America", "active", "4200.00", "USD"),
    ("globex", "Globex", "Business", "Mid-market", "Europe", "active", "1300.00", "EUR"),
    ("initech", "Initech", "Starter", "SMB", "North America", "active", "180.00", "USD"),
    ("umbrella", "Umbrella Ltda", "Business", "Mid-market", "LATAM", "active", "5400.00", "BRL"),
    ("hooli", "Hooli", "Enterprise", "Enterprise", "North America", "active", "9800.00", "USD"),
    ("soylent", "Soylent SA", "Starter", "SMB", "LATAM", "trial", "0.00", "MXN"),
    (
        "vandelay",
        "Vandelay Industries",
        "Business",
        "Mid-market",
        "Europe",
        "churned",
        "650.00",
        "EUR",
    ),
    ("tyrell", "Tyrell", "Enterprise", "Enterprise", "APAC", "active", "7600.00", "USD"),
]
LANGUAGE_BY_REGION = {"LATAM": ["pt-br", "es"], "Europe": ["en", "es"]}
COMMENTS = {
    1: ["Great support team!", "Easy to use and reliable.", "Ótimo atendimento.", "Muy útil."],
    0: ["Good, but the reports could be faster.", "Ok overall.", "Falta integração com CRM."],
    -1: ["Too many bugs lately.", "Pricing is too high for us.", "El soporte tarda mucho."],
}


class Command(BaseCommand):
    help = "Load demo accounts, contacts, surveys and a year of responses (idempotent)."

    def handle(self, *args, **options):
        user = self._demo_user()
        if Survey.objects.filter(slug="demo-nps").exists():
            self.stdout.write("Demo data already loaded.")
        else:
            with transaction.atomic():
                self._load(user)
            self.stdout.write(self.style.SUCCESS("Demo data loaded."))
        # The revenue history joins answers and the subscription ledger, so it lives in the
        # metrics app; called by name, surveys imports neither it nor outcomes.
        call_command("seed_demo_revenue", stdout=self.stdout)
        # Tickets, usage, onboarding and health history: outcomes joined to the answers.
        call_command("seed_demo_support", stdout=self.stdout)
        self.stdout.write(
            f"Staff login: {DEMO_USER} / {DEMO_PASSWORD} at {settings.SITE_URL}/reports/"
        )

    def _demo_user(self):
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username=DEMO_USER,
            defaults={"is_staff": True, "is_superuser": True, "email": "demo@example.com"},
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save()
        return user

    def _load(self, owner) -> None:
        rng = random.Random(2026)
        now = timezone.now()
        contacts = []
        for ext, name, plan, segment, region, status, mrr, currency in ACCOUNTS:
            account = Account.objects.create(
                external_id=ext,
                name=name,
                plan=plan,
                segment=segment,
                region=region,
                status=status,
                mrr=Decimal(mrr),
                currency=currency,
                owner=owner,
                start_date=(now - timedelta(days=rng.randint(400, 1500))).date(),
                renewal_date=(now + timedelta(days=rng.randint(5, 360))).date(),
            )
            for i in range(rng.randint(3, 6)):
                language = rng.choice(LANGUAGE_BY_REGION.get(region, ["en"]))
                contacts.append(
                    Contact.objects.create(
                        account=account,
                        email=f"person{i + 1}@{ext}.example.com",
                        name=f"Person {i + 1} ({name})",
                        language=language,
                    )
                )
        surveys = [
            Survey.objects.create(
                name=name, slug=slug, kind=kind, company_name=company, scale_min=low, scale_max=high
            )
            for name, slug, kind, company, low, high in SURVEYS
        ]
        # Account mood drifts so the trend and the breakdowns have something to show.
        mood = {c.account_id: rng.uniform(-0.3, 0.5) for c in contacts}
        for survey in surveys:
            for day in range(365, 0, -3):
                for contact in rng.sample(contacts, k=min(len(contacts), rng.randint(1, 4))):
                    sent = now - timedelta(days=day, hours=rng.randint(0, 23))
                    invitation = Invitation.objects.create(
                        survey=survey,
                        contact=contact,
                        status=Invitation.Status.SENT,
                        created_at=sent,
                        sent_at=sent,
                        send_count=1,
                        expires_at=sent + timedelta(days=settings.INVITATION_EXPIRY_DAYS),
                    )
                    if rng.random() > 0.45:
                        continue
                    score = self._score(rng, survey, mood[contact.account_id] + (365 - day) / 2000)
                    category = survey.category_of(score)
                    answered = sent + timedelta(minutes=rng.randint(2, 2000))
                    comment = rng.choice(COMMENTS[category]) if rng.random() < 0.4 else ""
                    Response.objects.create(
                        invitation=invitation,
                        survey=survey,
                        contact=contact,
                        account_id=contact.account_id,
                        score=score,
                        category=category,
                        comment=comment,
                        answered_at=answered,
                    )
                    Invitation.objects.filter(pk=invitation.pk).update(
                        answered_at=answered, clicked_at=answered
                    )

    @staticmethod
    def _score(rng: random.Random, survey: Survey, mood: float) -> int:
        span = survey.scale_max - survey.scale_min
        x = min(max(rng.gauss(0.62 + mood * 0.5, 0.25), 0.0), 1.0)
        return survey.scale_min + round(x * span)
