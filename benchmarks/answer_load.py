"""Benchmark the answer POST under load against a trivial view on the same gunicorn.

    .venv/bin/python benchmarks/answer_load.py [--clients 50] [--rounds 3] [--seconds 5]
                                               [--workers 3] [--no-round-trips]

Runs gunicorn with the production settings (DEBUG off, manifest static files, PostgreSQL,
Redis cache for the rate limits, Redis broker) and the production command line
(`gunicorn config.wsgi:application --workers 3 --access-logfile -`), on its own PostgreSQL
database (npsapp_answer_bench, dropped and created by the script) and Redis database
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/4; only its own keys are removed).

The same server also answers /bench/trivial/, a view that returns "ok" through the same
middleware. 50 concurrent clients (asyncio, one connection per request, as gunicorn's sync
workers close it) first hit the trivial view, then POST answers: each POST is a first answer to
a different invitation, with the fields the answer page's form sends (respondent pages use no
cookies: the token is the credential). Every client comes from 127.0.0.1, so the per-IP limit
is raised for the run; the per-token limit stays as set.

A third, reference endpoint (skip with --no-round-trips) is a POST that makes only the I/O an
answer cannot avoid (the Redis rate-limit call and two SQL statements, here SELECT 1) and
redirects: the ceiling of the ratio on this machine, whatever the answer's own code costs.

The endpoints are measured in turn for several rounds (the machine's speed drifts; the ratio of each
round is printed). Reports requests/second, latency percentiles and server CPU per request of
each over all rounds, and the ratios.
The machine is shared with the load generator (and anything else running): CPU per request
is the figure that does not depend on how busy the machine is.
Targets: answer POST >= 0.6x the trivial view's requests/second; answer POST p99 < 100 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.seed import drop_database, free_port, recreate_database  # noqa: E402

PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = "npsapp_answer_bench"
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/4")
QUEUE = "q_answer_bench"
USER_AGENT = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"

WSGI = '''
"""gunicorn entry point for the benchmark: the app's URLs plus one trivial view."""
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
from django.conf import settings

settings.ROOT_URLCONF = "answer_bench_urls"
from django.core.wsgi import get_wsgi_application

application = get_wsgi_application()
'''

URLS = """
from django.db import connection
from django.http import HttpResponse, HttpResponseRedirect
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from surveys import ratelimits

from config.urls import handler404, urlpatterns as app_urlpatterns  # noqa: F401


def trivial(request):
    return HttpResponse("ok", content_type="text/plain")


@csrf_exempt
def round_trips(request, token):
    # Only the I/O an answer cannot avoid: the two rate-limit counters in Redis, one SQL
    # statement to read the invitation and one to write the answer (here SELECT 1).
    request.POST.get("score")
    ratelimits.hit([("bench-ip", "127.0.0.1", "1000000/m"), ("bench-token", token, "20/m")])
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return HttpResponseRedirect(f"/s/{token}/thanks/")


urlpatterns = [
    path("bench/trivial/", trivial),
    path("bench/round-trips/<str:token>/", round_trips),
    *app_urlpatterns,
]
"""


def server_cpu_seconds(master_pid: int) -> float:
    """User + system CPU of the gunicorn master and its workers, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(entry.name), int(fields[1])
        if pid == master_pid or ppid == master_pid:
            total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def forget_redis_keys() -> None:
    import redis

    client = redis.Redis.from_url(REDIS_URL)
    keys = [QUEUE, *client.scan_iter(match="*rl:*")]
    client.delete(*keys)


def seed(count: int) -> list[str]:
    """Invitations sent an hour ago, ready to be answered. Returns their tokens."""
    import django

    django.setup()
    from datetime import timedelta

    from django.utils import timezone

    from accounts.models import Account, Contact
    from surveys.models import Invitation, Kind, Survey

    survey = Survey.objects.create(
        name="Bench", slug="bench", kind=Kind.NPS, company_name="ACME", scale_min=0, scale_max=10
    )
    account = Account.objects.create(name="Bench account", external_id="bench")
    contacts = Contact.objects.bulk_create(
        Contact(account=account, email=f"bench{i}@example.com", language="en") for i in range(count)
    )
    sent = timezone.now() - timedelta(hours=1)
    invitations = Invitation.objects.bulk_create(
        Invitation(
            survey=survey,
            contact=contact,
            status=Invitation.Status.SENT,
            created_at=sent,
            sent_at=sent,
            send_count=1,
            expires_at=sent + timedelta(days=30),
        )
        for contact in contacts
    )
    return [invitation.token for invitation in invitations]


async def one_request(port: int, raw: bytes) -> tuple[float, int]:
    started = time.perf_counter()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    status_line = await reader.readline()
    await reader.read()  # the server closes the connection after the response
    writer.close()
    elapsed = time.perf_counter() - started
    return elapsed, int(status_line.split()[1])


async def load(port: int, make_request, clients: int, seconds: float) -> dict:
    """`clients` concurrent clients for `seconds`; their latencies, statuses and wall time."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    deadline = time.perf_counter() + seconds

    async def client() -> None:
        while time.perf_counter() < deadline:
            elapsed, status = await one_request(port, make_request())
            latencies.append(elapsed)
            statuses[status] = statuses.get(status, 0) + 1

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return {"latencies": latencies, "statuses": statuses, "wall": time.perf_counter() - started}


def summary(runs: list[dict]) -> dict:
    """One endpoint over all its rounds: throughput, latency percentiles, CPU per request."""
    latencies = sorted(x for run in runs for x in run["latencies"])
    statuses: dict[int, int] = {}
    for run in runs:
        for status, count in run["statuses"].items():
            statuses[status] = statuses.get(status, 0) + count

    def pct(p: float) -> float:
        return latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000

    return {
        "requests": len(latencies),
        "rps": len(latencies) / sum(run["wall"] for run in runs),
        "p50": pct(0.50),
        "p95": pct(0.95),
        "p99": pct(0.99),
        "cpu_ms": sum(run["cpu"] for run in runs) * 1000 / len(latencies),
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=5.0, help="per endpoint and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument(
        "--threads", type=int, default=1, help="gunicorn --threads (above 1: the gthread worker)"
    )
    parser.add_argument("--invitations", type=int, default=30000)
    parser.add_argument(
        "--no-round-trips",
        dest="round_trips",
        action="store_false",
        help="skip the reference POST that makes only the answer's round trips",
    )
    args = parser.parse_args()

    database_url = recreate_database(f"{PG_SERVER}/{DB_NAME}")
    tmp = Path(tempfile.mkdtemp(prefix="answer-bench-"))
    (tmp / "answer_bench_wsgi.py").write_text(WSGI)
    (tmp / "answer_bench_urls.py").write_text(URLS)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "CELERY_BROKER_URL": REDIS_URL,
        "CELERY_QUEUE": QUEUE,
        "DEBUG": "false",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": f"http://127.0.0.1:{port}",
        "STATIC_ROOT": str(tmp / "static"),
        "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
        "PUBLIC_POST_RATE_PER_IP": "1000000/m",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": f"{tmp}:{ROOT}",
    }
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")})
    os.environ.update({"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false"})
    os.environ["CELERY_BROKER_URL"] = REDIS_URL
    for command in (["migrate", "--noinput", "-v", "0"], ["collectstatic", "--noinput", "-v", "0"]):
        subprocess.run([sys.executable, "manage.py", *command], cwd=ROOT, env=env, check=True)
    print(f"seeding {args.invitations} invitations ...", flush=True)
    tokens = seed(args.invitations)
    forget_redis_keys()

    log = (tmp / "gunicorn.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "answer_bench_wsgi:application",
         "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
         "--threads", str(args.threads),
         "--access-logfile", "-", "--backlog", "2048"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                time.sleep(0.1)
        host = f"127.0.0.1:{port}"
        trivial = (
            f"GET /bench/trivial/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        ).encode()
        pool = iter(tokens)

        def answer() -> bytes:
            token = next(pool)
            body = f"score={secrets.randbelow(11)}&comment=Fast+support&via=submit"
            return (
                f"POST /s/{token}/ HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
                f"User-Agent: {USER_AGENT}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}"
            ).encode()

        def round_trips() -> bytes:
            body = f"score={secrets.randbelow(11)}&comment=Fast+support&via=submit"
            return (
                f"POST /bench/round-trips/{secrets.token_urlsafe(32)}/ HTTP/1.1\r\n"
                f"Host: {host}\r\nConnection: close\r\nUser-Agent: {USER_AGENT}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"Content-Length: {len(body)}\r\n\r\n{body}"
            ).encode()

        endpoints = {"trivial": lambda: trivial, "answer": answer}
        if args.round_trips:
            endpoints = {"trivial": endpoints["trivial"], "floor": round_trips, "answer": answer}

        async def run() -> dict[str, list[dict]]:
            # Rounds of every endpoint in turn, so that a machine that speeds up or slows down
            # during the run weighs on all of them alike.
            for make_request in endpoints.values():
                await load(port, make_request, args.clients, args.warmup)
            runs: dict[str, list[dict]] = {name: [] for name in endpoints}
            for _ in range(args.rounds):
                for name, make_request in endpoints.items():
                    cpu = server_cpu_seconds(server.pid)
                    result = await load(port, make_request, args.clients, args.seconds)
                    result["cpu"] = server_cpu_seconds(server.pid) - cpu
                    runs[name].append(result)
            return runs

        runs = asyncio.run(run())
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)
        log.close()

    from surveys.models import Response

    recorded = Response.objects.count()
    from django.db import connections

    connections.close_all()
    forget_redis_keys()
    drop_database(database_url)

    results = {name: summary(name_runs) for name, name_runs in runs.items()}
    base, posts, floor = results["trivial"], results["answer"], results.get("floor")
    kind = f"--threads {args.threads} (gthread)" if args.threads > 1 else "(sync)"
    print(f"\n{args.clients} concurrent clients, gunicorn --workers {args.workers} {kind}, "
          f"{args.rounds} rounds of {args.seconds:.0f} s per endpoint, production settings on "
          "PostgreSQL\n")  # fmt: skip
    header = ["req/s", "p50 ms", "p95 ms", "p99 ms", "CPU ms/req", "requests"]
    print(f"{'':22}" + "".join(f"{h:>11}" for h in header) + "  statuses")
    rows = [("trivial view (GET)", base), ("round trips only", floor), ("answer POST", posts)]
    for name, r in (row for row in rows if row[1] is not None):
        print(f"{name:22}{r['rps']:11.1f}{r['p50']:11.1f}{r['p95']:11.1f}{r['p99']:11.1f}"
              f"{r['cpu_ms']:11.2f}{r['requests']:11d}  {r['statuses']}")  # fmt: skip
    print("(CPU ms/req: gunicorn master and workers, user + system, per request served)")

    def per_round(name: str) -> str:
        ratios = [
            len(mine["latencies"]) / mine["wall"] / (len(theirs["latencies"]) / theirs["wall"])
            for mine, theirs in zip(runs[name], runs["trivial"], strict=True)
        ]
        return ", ".join(f"{ratio:.2f}" for ratio in ratios)

    ratio = posts["rps"] / base["rps"]
    if floor is not None:
        print(f"\nround trips only/trivial: {floor['rps'] / base['rps']:.2f}x "
              f"(rounds: {per_round('floor')}) - a POST that only makes the answer's I/O, "
              "1 Redis + 2 SQL round trips")  # fmt: skip
    print(f"answer/trivial throughput: {ratio:.2f}x (rounds: {per_round('answer')}; "
          "target >= 0.60)")  # fmt: skip
    print(f"answer POST p99: {posts['p99']:.1f} ms (target < 100)")
    print(f"responses recorded: {recorded}")
    ok = ratio >= 0.6 and posts["p99"] < 100 and set(posts["statuses"]) == {302}
    print("targets met" if ok else "targets NOT met")


if __name__ == "__main__":
    main()
