from decimal import Decimal

from django.db import IntegrityError, transaction
from django.utils import timezone

from .models import Account, Contact
from .signals import (
    BILLING_FIELDS,
    announce_billing_changes,
    billing_change,
    contact_unsubscribed,
)


def upsert_account(
    *,
    external_id: str,
    name: str = "",
    plan: str | None = None,
    mrr: Decimal | None = None,
    currency: str | None = None,
) -> Account:
    """Create or update an account by external id; only the given fields change. Idempotent.

    A new MRR or currency is announced (`account_billing_changed`), so the subscription ledger
    gets its event in the same transaction."""
    defaults: dict = {}
    if plan is not None:
        defaults["plan"] = plan
    if mrr is not None:
        defaults["mrr"] = mrr
    if currency:
        defaults["currency"] = currency.upper()
    if name:
        defaults["name"] = name
    account, created = Account.objects.get_or_create(
        external_id=external_id, defaults={"name": name or external_id, **defaults}
    )
    changed: dict = dict(defaults) if created else {}
    if not created and defaults:
        changed = {k: v for k, v in defaults.items() if getattr(account, k) != v}
        if changed:
            for key, value in changed.items():
                setattr(account, key, value)
            account.save(update_fields=[*changed, "updated_at"])
    if mrr is not None and BILLING_FIELDS & set(changed):
        announce_billing_changes(
            changes=[billing_change(account, changed)], source="api", at=timezone.now()
        )
    return account


def save_account_billing(*, account: Account, changed: set[str], source: str) -> None:
    """Announce billing fields an already-saved account changed (admin edits). Idempotent
    per write: nothing is announced when no billing field changed."""
    if BILLING_FIELDS & set(changed):
        announce_billing_changes(
            changes=[billing_change(account, changed)], source=source, at=timezone.now()
        )


def upsert_contact(
    *,
    email: str,
    name: str = "",
    language: str | None = None,
    account: Account | None = None,
    properties: dict | None = None,
) -> Contact:
    """Create or update a contact by email, case-insensitively. Idempotent."""
    email = email.strip()
    contact = Contact.objects.filter(email__iexact=email).first()
    if contact is None:
        try:
            with transaction.atomic():
                return Contact.objects.create(
                    email=email,
                    name=name,
                    language=language or "",
                    account=account,
                    properties=properties or {},
                )
        except IntegrityError:
            # Another request created it between our read and our insert.
            contact = Contact.objects.get(email__iexact=email)
    updates: dict = {}
    if name and contact.name != name:
        updates["name"] = name
    if language and contact.language != language:
        updates["language"] = language
    if account is not None and contact.account_id != account.pk:
        updates["account"] = account
    if properties:
        merged = {**contact.properties, **properties}
        if merged != contact.properties:
            updates["properties"] = merged
    if updates:
        for key, value in updates.items():
            setattr(contact, key, value)
        contact.save(update_fields=[*updates, "updated_at"])
    return contact


def unsubscribe_contact(*, contact: Contact) -> bool:
    """Stop all survey mail to a contact. Idempotent: False if already unsubscribed."""
    changed = bool(
        Contact.objects.filter(pk=contact.pk, unsubscribed_at__isnull=True).update(
            unsubscribed_at=timezone.now(), updated_at=timezone.now()
        )
    )
    if changed:
        contact_id = contact.pk
        transaction.on_commit(
            lambda: contact_unsubscribed.send(sender=Contact, contact_id=contact_id), robust=True
        )
    return changed


def resubscribe_contact(*, contact: Contact) -> bool:
    """Undo an unsubscribe at the contact's request. Idempotent."""
    return bool(
        Contact.objects.filter(pk=contact.pk, unsubscribed_at__isnull=False).update(
            unsubscribed_at=None, updated_at=timezone.now()
        )
    )


def set_stripe_customer(*, account: Account, customer_id: str) -> bool:
    """Map a Stripe customer to the account (announced, so its waiting events get applied).
    Idempotent: False when it was already mapped."""
    if account.stripe_customer_id == customer_id:
        return False
    account.stripe_customer_id = customer_id
    account.save(update_fields=["stripe_customer_id", "updated_at"])
    save_account_billing(account=account, changed={"stripe_customer_id"}, source="api")
    return True
