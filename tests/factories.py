from datetime import timedelta
from decimal import Decimal

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from accounts.models import Account, Contact, ImportJob
from accounts.roles import MARKETING, sync_roles
from followups.models import AlertDelivery, AlertRule, WebhookDelivery, WebhookEndpoint
from outcomes.models import StripeEvent, Ticket, UsageRecord
from surveys.models import Invitation, Kind, Response, Survey


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda o: f"{o.username}@example.com")
    password = factory.django.Password("pw-123456789")


class StaffFactory(UserFactory):
    """A staff user in a role: the least-privileged one (Marketing) unless the test asks for
    another, `role="CS staff"` or `"Administrators"`, or `""` for no role at all."""

    is_staff = True

    @factory.post_generation
    def role(obj, create, extracted, **kwargs):
        if not create:
            return
        role = MARKETING if extracted is None else extracted
        if role:
            if not Group.objects.filter(name=role).exists():
                sync_roles()
            obj.groups.add(Group.objects.get(name=role))


class AccountFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Account

    name = factory.Sequence(lambda n: f"Account {n}")
    external_id = factory.Sequence(lambda n: f"acct-{n}")
    plan = "Business"
    segment = "Mid-market"
    region = "Europe"
    status = Account.Status.ACTIVE
    mrr = Decimal("100.00")
    currency = "USD"


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    account = factory.SubFactory(AccountFactory)
    email = factory.Sequence(lambda n: f"person{n}@example.com")
    name = factory.Sequence(lambda n: f"Person {n}")
    language = "en"


class SurveyFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Survey

    name = factory.Sequence(lambda n: f"Survey {n}")
    slug = factory.Sequence(lambda n: f"survey-{n}")
    kind = Kind.NPS
    company_name = "ACME"
    scale_min = 0
    scale_max = 10


class CsatSurveyFactory(SurveyFactory):
    kind = Kind.CSAT
    scale_min = 1
    scale_max = 5


class CesSurveyFactory(SurveyFactory):
    kind = Kind.CES
    scale_min = 1
    scale_max = 7


class InvitationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Invitation

    survey = factory.SubFactory(SurveyFactory)
    contact = factory.SubFactory(ContactFactory)
    status = Invitation.Status.SENT
    created_at = factory.LazyFunction(timezone.now)
    sent_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=30))


class ResponseFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Response

    invitation = factory.SubFactory(InvitationFactory)
    survey = factory.SelfAttribute("invitation.survey")
    contact = factory.SelfAttribute("invitation.contact")
    account = factory.SelfAttribute("invitation.contact.account")
    score = 9
    category = factory.LazyAttribute(lambda o: o.survey.category_of(o.score))
    answered_at = factory.LazyFunction(timezone.now)


class TicketFactory(factory.django.DjangoModelFactory):
    """A ticket created `created_at`; times given in minutes after it with `reply`, `solved`
    (final) and `first_solved`, e.g. TicketFactory(reply=30, solved=60, agent_replies=1)."""

    class Meta:
        model = Ticket
        exclude = ["reply", "solved", "first_solved"]

    account = factory.SubFactory(AccountFactory)
    source = "api"
    external_id = factory.Sequence(lambda n: f"T-{n}")
    channel = "email"
    created_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    reply = None
    solved = None
    first_solved = None
    status = factory.LazyAttribute(lambda o: "solved" if o.solved is not None else "open")
    first_reply_at = factory.LazyAttribute(
        lambda o: None if o.reply is None else o.created_at + timedelta(minutes=o.reply)
    )
    solved_at = factory.LazyAttribute(
        lambda o: None if o.solved is None else o.created_at + timedelta(minutes=o.solved)
    )
    first_solved_at = factory.LazyAttribute(
        lambda o: (
            o.created_at + timedelta(minutes=o.first_solved)
            if o.first_solved is not None
            else o.solved_at
        )
    )
    agent_replies = 1
    reopens = 0


class UsageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UsageRecord

    account = factory.SubFactory(AccountFactory)
    day = factory.LazyFunction(lambda: timezone.localdate() - timedelta(days=1))
    metric = "active_users"
    value = 10.0


class AlertRuleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertRule

    name = factory.Sequence(lambda n: f"Rule {n}")
    on_negative = True


class AlertDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AlertDelivery

    rule = factory.SubFactory(AlertRuleFactory)
    response = factory.SubFactory(ResponseFactory)
    status = AlertDelivery.Status.SENT
    attempts = 1


class WebhookEndpointFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookEndpoint

    url = factory.Sequence(lambda n: f"https://hooks.example.com/{n}")
    events = factory.LazyFunction(lambda: ["response.created"])


class WebhookDeliveryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = WebhookDelivery

    endpoint = factory.SubFactory(WebhookEndpointFactory)
    event = "response.created"
    key = factory.Sequence(lambda n: f"event-{n}")
    body = "{}"
    status = WebhookDelivery.Status.SUCCEEDED
    attempts = 1


class StripeEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StripeEvent

    event_id = factory.Sequence(lambda n: f"evt_{n:08d}")
    type = "customer.subscription.updated"
    created = factory.LazyFunction(timezone.now)
    payload = factory.LazyFunction(dict)
    status = StripeEvent.Status.PROCESSED


class ImportJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportJob

    requested_by = factory.SubFactory(UserFactory)
    task = "accounts.tasks.import_contacts_file"
    status = ImportJob.Status.DONE
