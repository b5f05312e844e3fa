"""Benchmark: the calls that once read whole tables, on the big benchmark database.

    BENCH_DATABASE_URL=postgres://…/npsapp_bench_10m \\
        .venv/bin/python -m benchmarks.lookups [--responses 10000000] [--repeat 9]

Seeds (or reuses) the reports benchmark's database (`benchmarks.seed`, 10 million answers and 13
million invitations by default), then times, interleaved, each call as a client makes it (the
test client through every middleware, a superuser logged in):

- the API trigger, `POST /api/v1/invitations` for a known contact given in other capitals
  (its email found through the unique index on upper(email));
- a bounce event (`record_delivery_event`) for a contact's address;
- a data request, `POST /api/v1/contacts/data`;
- the first page and a page three `next` links deep of `GET /api/v1/invitations` and
  `GET /api/v1/responses` (cursor pagination);
- the admin's change lists of responses and invitations: plain, searched by email, and the
  responses searched by a word of the comments.

Writes run in a transaction that is rolled back, so the database is left as it was.
Target: each under 50 ms (median). The last column is the median CPU time of this process.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.seed import ensure_seeded  # noqa: E402

DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/npsapp_bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--responses", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument(
        "--only", default="", help="time only the calls whose name contains this (e.g. admin)"
    )
    args = parser.parse_args()

    url = os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL)
    ensure_seeded(url, args.responses)
    os.environ["DATABASE_URL"] = url
    for var in ("CELERY_BROKER_URL", "REDIS_URL", "DATABASE_REPLICA_URL"):
        os.environ.pop(var, None)
    os.environ["STATIC_MANIFEST"] = "false"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import gc

    import django

    django.setup()
    # As a web worker is when it serves (gunicorn.conf.py, post_worker_init): Django and the
    # app loaded, then moved out of the cyclic collector's reach, so a full collection during
    # a page scans the page's objects, not every module, class and this script's setup.
    gc.freeze()

    from django.contrib.auth.models import User
    from django.db import connection, transaction
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from surveys.distribution import events
    from surveys.models import Invitation, Response

    admin, _created = User.objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    token, _created = Token.objects.get_or_create(user=admin)
    client = Client()
    client.force_login(admin)
    api = Client(HTTP_AUTHORIZATION=f"Token {token.key}")
    email = "PERSON12345@BENCH.EXAMPLE.COM"

    def rolled_back(fn):
        def run():
            with transaction.atomic():
                result = fn()
                transaction.set_rollback(True)
            return result

        return run

    def ok(response, status=200):
        assert response.status_code == status, (response.status_code, response.content[:300])
        return response

    def trigger():
        payload = {"survey": "bench-csat", "contact": {"email": email}, "event_id": "bench-1"}
        return ok(api.post("/api/v1/invitations", payload, content_type="application/json"), 201)

    def deep(path):
        """The fourth page: its link is followed once beforehand, then only it is timed."""
        body = ok(api.get(path, {"page_size": 100})).json()
        for _step in range(2):
            body = ok(api.get(body["next"])).json()
        fourth = body["next"]
        return lambda: ok(api.get(fourth))

    calls = {
        "API trigger, known contact": rolled_back(trigger),
        "bounce event": rolled_back(
            lambda: events.record_delivery_event(event_type="bounced", recipient=email.lower())
        ),
        "data request": lambda: ok(
            api.post("/api/v1/contacts/data", {"email": email}, content_type="application/json")
        ),
        "GET /api/v1/invitations, first page": lambda: ok(api.get("/api/v1/invitations")),
        "GET /api/v1/invitations, 4th page": deep("/api/v1/invitations"),
        "GET /api/v1/responses, first page": lambda: ok(api.get("/api/v1/responses")),
        "GET /api/v1/responses, 4th page": deep("/api/v1/responses"),
        "admin responses": lambda: ok(client.get("/admin/surveys/response/")),
        "admin responses, search email": lambda: ok(
            client.get("/admin/surveys/response/", {"q": "person12345@"})
        ),
        "admin responses, search comment": lambda: ok(
            client.get("/admin/surveys/response/", {"q": "pricing"})
        ),
        "admin invitations": lambda: ok(client.get("/admin/surveys/invitation/")),
        "admin invitations, search email": lambda: ok(
            client.get("/admin/surveys/invitation/", {"q": "person12345@"})
        ),
    }
    calls = {name: fn for name, fn in calls.items() if args.only in name}
    samples: dict[str, list[float]] = {name: [] for name in calls}
    # This process's CPU time per call (Django's side; PostgreSQL is another process): on a
    # shared machine it moves less with the load than the elapsed time does.
    cpu: dict[str, list[float]] = {name: [] for name in calls}
    for fn in calls.values():
        fn()  # warm-up
    for _round in range(args.repeat):
        for name, fn in calls.items():
            started, cpu_started = time.perf_counter(), time.process_time()
            fn()
            samples[name].append(time.perf_counter() - started)
            cpu[name].append(time.process_time() - cpu_started)
    print(
        f"database: {connection.settings_dict['NAME']} · {Response.objects.count():,} responses"
        f" · {Invitation.objects.count():,} invitations · load average "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs · {args.repeat} rounds"
    )
    print(f"{'':40} {'median':>9} {'best':>9} {'worst':>9} {'cpu':>9}")
    worst_median = 0.0
    for name, values in samples.items():
        median = statistics.median(values)
        worst_median = max(worst_median, median)
        print(
            f"{name:40} {median * 1000:7.1f}ms {min(values) * 1000:7.1f}ms "
            f"{max(values) * 1000:7.1f}ms {statistics.median(cpu[name]) * 1000:7.1f}ms"
        )
    ok_all = worst_median < 0.05
    print("targets met" if ok_all else "TARGETS MISSED (each median under 50 ms)")
    sys.exit(0 if ok_all else 1)


if __name__ == "__main__":
    main()
