"""Screenshots of the staff and respondent pages at 375 px (a phone) and 1280 px (a laptop).

    .venv/bin/python docs/screenshots.py [--out docs/screenshots] [--only reports,answer]

Runs against the development database (the embedded server under var/, or DATABASE_URL): it
migrates it, loads the demo data (idempotent: `seed_demo`, `seed_demo_revenue`,
`seed_demo_support`), adds a few invitations to show the respondent pages (answer, thank-you
after a low score, closed, unsubscribe), starts `manage.py runserver` on a free local port,
signs the demo staff user in and saves one full-page PNG per page and width:
`<out>/<page>-375.png` and `<out>/<page>-1280.png`.
Needs Chromium (CHROMIUM_PATH, default /usr/bin/chromium) and the dev dependencies.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DEBUG", "true")

WIDTHS = (375, 1280)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _prepare() -> tuple[dict[str, str], str]:
    """Demo data, the pages to take and a session key of the signed-in demo user."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command
    from django.utils import timezone

    from accounts.models import Contact
    from followups.services import ensure_followup
    from metrics.models import ExportJob
    from surveys.distribution.planning import create_invitation
    from surveys.models import Invitation, Response, Survey
    from surveys.services import record_answer

    call_command("migrate", verbosity=0)
    for command in ("seed_demo", "seed_demo_revenue", "seed_demo_support"):
        call_command(command, verbosity=0)
    user = get_user_model().objects.get(username="demo")
    survey = Survey.objects.get(slug="demo-nps")
    contacts = list(Contact.objects.filter(unsubscribed_at__isnull=True).order_by("pk")[:4])

    def fresh(contact):
        invitation, _created = create_invitation(survey=survey, contact=contact)
        Invitation.objects.filter(pk=invitation.pk).update(
            status=Invitation.Status.SENT, sent_at=timezone.now()
        )
        invitation.refresh_from_db()
        return invitation

    answer = fresh(contacts[0])
    thanks = fresh(contacts[1])
    if not Response.objects.filter(invitation=thanks).exists():
        record_answer(invitation=thanks, score=2, comment="Support took a week to answer.")
    closed = fresh(contacts[2])
    Invitation.objects.filter(pk=closed.pk).update(expires_at=timezone.now())
    unsubscribe = fresh(contacts[3])

    detractor = Response.objects.filter(category=-1, contact__isnull=False).order_by("pk").first()
    ensure_followup(response=detractor)
    job = ExportJob.objects.filter(requested_by=user).first() or ExportJob.objects.create(
        requested_by=user, format="csv", filters={}
    )
    session = SessionStore()
    session["_auth_user_id"] = str(user.pk)
    session["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
    session["_auth_user_hash"] = user.get_session_auth_hash()
    session.create()
    pages = {
        "reports": "/reports/",
        "revenue": "/reports/revenue/",
        "support": "/reports/support/",
        "accounts": "/reports/accounts/",
        "account": f"/reports/accounts/{detractor.account.external_id}/",
        "followups": "/followups/?scope=all",
        "followup": f"/followups/{detractor.public_id}/",
        "exports": "/reports/exports/",
        "export": f"/reports/exports/{job.public_id}/",
        "distribution": f"/distribution/{survey.slug}/",
        "profile": "/profile/",
        "admin": "/admin/",
        "api-docs": "/api/docs/",
        "answer": f"/s/{answer.token}/?score=9",
        "thanks": f"/s/{thanks.token}/thanks/",
        "closed": f"/s/{closed.token}/",
        "unsubscribe": f"/s/{unsubscribe.token}/unsubscribe/one-click/",
    }
    return pages, session.session_key


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--only", default="", help="comma-separated page names")
    args = parser.parse_args()
    pages, session_key = _prepare()
    if args.only:
        wanted = set(args.only.split(","))
        pages = {name: path for name, path in pages.items() if name in wanted}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT,
        env={**os.environ, "SITE_URL": base},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)  # noqa: S310 - local
                break
            except OSError:
                time.sleep(0.2)
        _shoot(base, pages, session_key, out)
    finally:
        server.terminate()
        server.wait(timeout=10)


def _shoot(base: str, pages: dict[str, str], session_key: str, out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"),
            args=["--no-sandbox", "--disable-gpu"],
        )
        for width in WIDTHS:
            context = browser.new_context(
                viewport={"width": width, "height": 800}, device_scale_factor=1
            )
            context.add_cookies([{"name": "sessionid", "value": session_key, "url": base}])
            page = context.new_page()
            for name, path in pages.items():
                page.goto(base + path)
                page.wait_for_load_state("networkidle")
                target = out / f"{name}-{width}.png"
                # The API reference is one very long page: its first screen says enough.
                page.screenshot(path=str(target), full_page=name != "api-docs")
                print(target.relative_to(ROOT))
            context.close()
        browser.close()


if __name__ == "__main__":
    main()
