"""Contacts are found by email case-insensitively through their unique index."""

import pytest
from django.db import IntegrityError, connection, transaction

from accounts.models import Contact

pytestmark = pytest.mark.django_db


def test_iexact_lookups_use_the_unique_email_index():
    Contact.objects.create(email="Ana@Example.com")
    with connection.cursor() as cursor:
        # Tiny tables are read sequentially anyway: ask whether the index can serve the lookup.
        cursor.execute("SET LOCAL enable_seqscan = off")
    plan = Contact.objects.filter(email__iexact="ana@EXAMPLE.com").explain()
    assert "contact_email_ci_unique" in plan
    assert Contact.objects.get(email__iexact="ana@EXAMPLE.com").email == "Ana@Example.com"


def test_emails_are_unique_regardless_of_case():
    Contact.objects.create(email="ana@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        Contact.objects.create(email="ANA@example.COM")
    assert Contact.objects.count() == 1
