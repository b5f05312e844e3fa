"""The sample files of docs/samples import cleanly into the demo data (`manage.py seed_demo`),
through the same commands an operator runs."""

import io
from pathlib import Path

import pytest
from django.core.management import call_command

from accounts.models import Contact
from surveys.models import Response

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "docs" / "samples"

pytestmark = pytest.mark.django_db


def _import(command: str, sample: str, *extra: str) -> str:
    out = io.StringIO()
    call_command(command, str(SAMPLES / sample), *extra, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_every_sample_imports_cleanly_into_the_demo_data():
    call_command("seed_demo", stdout=io.StringIO())
    answers_before = Response.objects.count()

    assert "imported" in _import("import_contacts", "contacts.csv")
    assert Contact.objects.get(email="ana.souza@example.com.br").account.owner.username == "demo"
    assert "imported" in _import("import_responses", "responses.csv", "--tz", "America/Sao_Paulo")
    assert Response.objects.count() == answers_before + 5
    for command, sample in (
        ("import_subscription_events", "subscription_events.csv"),
        ("import_tickets", "tickets.csv"),
        ("import_usage", "usage.csv"),
    ):
        assert "imported" in _import(command, sample), sample

    # Idempotent: the same files again add nothing.
    _import("import_contacts", "contacts.csv")
    _import("import_responses", "responses.csv", "--tz", "America/Sao_Paulo")
    assert Response.objects.count() == answers_before + 5
