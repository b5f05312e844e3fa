"""Benchmark the distribution engine: plan a campaign of 100,000 contacts and send it.

    .venv/bin/python benchmarks/dispatch.py [--contacts 100000] [--workers 2]

Uses its own PostgreSQL database (BENCH_DISPATCH_DB, default npsapp_dispatch, on BENCH_PG,
default postgres://postgres@127.0.0.1:5432; dropped and created by the script), Redis
(BENCH_REDIS_URL, default redis://127.0.0.1:6379/3, queue q_dispatch) and a local aiosmtpd server
in a separate process that counts what it receives. Reports:

- planning time: launch_campaign for the whole audience (suppression, bulk insert, enqueue);
- emails/second with N `celery worker -c 1` processes, from the end of planning to the last
  invitation marked sent;
- the baseline: the same number of pre-rendered messages sent over one smtplib connection
  to the same server in the same run, and the ratio of the two;
- peak RSS of each worker process (VmHWM of the worker and its pool child).

Targets: planning <= 10 s; throughput >= 0.5x the baseline; worker peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import smtplib
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.seed import free_port, recreate_database  # noqa: E402

PG_SERVER = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB_NAME = os.environ.get("BENCH_DISPATCH_DB", "npsapp_dispatch")  # dropped and created
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/3")
QUEUE = "q_dispatch"
CHILDREN: list[subprocess.Popen] = []  # stopped on exit, even after an error

SINK = r"""
import sys, time
from aiosmtpd.controller import Controller

class Counter:
    count = 0
    async def handle_DATA(self, server, session, envelope):
        Counter.count += 1
        return "250 OK"

controller = Controller(Counter(), hostname="127.0.0.1", port=int(sys.argv[1]))
controller.start()
print("ready", flush=True)
while True:  # the count, for the benchmark to read; ended by SIGTERM
    with open(sys.argv[2] + ".tmp", "w") as f:
        f.write(str(Counter.count))
    import os
    os.replace(sys.argv[2] + ".tmp", sys.argv[2])
    time.sleep(0.05)
"""


class Sink:
    def __init__(self) -> None:
        self.port = free_port()
        self.count_file = Path(tempfile.mkstemp(prefix="sink-count-")[1])
        self.proc = subprocess.Popen(
            [sys.executable, "-c", SINK, str(self.port), str(self.count_file)],
            stdout=subprocess.PIPE,
        )
        CHILDREN.append(self.proc)
        assert self.proc.stdout.readline().strip() == b"ready"

    def count(self) -> int:
        time.sleep(0.2)
        return int(self.count_file.read_text() or 0)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def peak_rss_mb(pid: int) -> float:
    """Peak RSS (VmHWM) of a process and its children, the largest of them, in MB."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    peaks = []
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except FileNotFoundError:
            pass
    return max(peaks, default=0.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--plan-only", action="store_true", help="measure planning only: no baseline, no sending"
    )
    args = parser.parse_args()

    database_url = recreate_database(f"{PG_SERVER}/{DB_NAME}")
    sink = Sink()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": REDIS_URL,
        "REDIS_URL": REDIS_URL,
        "CELERY_QUEUE": QUEUE,
        "EMAIL_URL": f"smtp://127.0.0.1:{sink.port}",
        "SITE_URL": "https://surveys.example.com",
        "DEBUG": "false",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "LOG_LEVEL": "WARNING",
    }
    os.environ.update(env)
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env=env,
        check=True,
    )

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()

    from accounts.models import Account, Contact
    from config.celery import app
    from surveys import emails
    from surveys.distribution import planning
    from surveys.models import Campaign, Invitation, Survey

    app.control.purge()
    started = time.perf_counter()
    accounts = Account.objects.bulk_create(
        Account(name=f"Account {i}", external_id=f"bench-{i}") for i in range(args.contacts // 10)
    )
    Contact.objects.bulk_create(
        (
            Contact(
                account=accounts[i % len(accounts)], email=f"person{i}@example.com", language="en"
            )
            for i in range(args.contacts)
        ),
        batch_size=5000,
    )
    survey = Survey.objects.create(
        name="Relational NPS", slug="relational", company_name="ACME", relational=True
    )
    print(f"seeded {args.contacts:,} contacts in {time.perf_counter() - started:.1f}s")

    if args.plan_only:
        campaign = Campaign.objects.create(survey=survey, name="Everyone")
        started = time.perf_counter()
        plan = planning.launch_campaign(campaign=campaign)
        planning_seconds = time.perf_counter() - started
        app.control.purge()
        sink.stop()
        print(f"planning time: {planning_seconds:.2f}s for {plan.queued:,} queued (target <= 10 s)")
        return

    # --- Baseline: pre-rendered messages over one smtplib connection ---------------------
    samples = []
    for contact in Contact.objects.order_by("pk")[:500]:
        invitation = Invitation(survey=survey, contact=contact, expires_at=survey.created_at)
        message = emails.invitation_message(invitation)
        samples.append((message.from_email, message.to, message.message().as_bytes(linesep="\r\n")))
    before = sink.count()
    started = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", sink.port) as smtp:
        for i in range(args.contacts):
            from_email, to, raw = samples[i % len(samples)]
            smtp.sendmail(from_email, to, raw)
    baseline_seconds = time.perf_counter() - started
    baseline_rate = args.contacts / baseline_seconds
    assert sink.count() - before == args.contacts
    print(
        f"baseline: {args.contacts:,} messages in {baseline_seconds:.1f}s = {baseline_rate:.0f}/s"
    )

    # --- Workers -----------------------------------------------------------------------------
    logs = []
    workers = []
    for index in range(args.workers):
        log = Path(tempfile.mkstemp(prefix=f"dispatch-worker-{index}-", suffix=".log")[1])
        logs.append(log)
        workers.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "config",
                    "worker",
                    "-l",
                    "WARNING",
                    "-c",
                    "1",
                    "-n",
                    f"bench{index}@%h",
                    "-Q",
                    QUEUE,
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=env,
                stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        )
        CHILDREN.append(workers[-1])
    time.sleep(6)  # workers ready (they simply start consuming when tasks arrive)
    before = sink.count()

    campaign = Campaign.objects.create(survey=survey, name="Everyone")
    started = time.perf_counter()
    plan = planning.launch_campaign(campaign=campaign)
    planning_seconds = time.perf_counter() - started
    print(
        f"planning: {plan.queued:,} queued, {plan.total - plan.queued:,} suppressed "
        f"in {planning_seconds:.2f}s"
    )

    peaks = [0.0] * len(workers)
    pending = Invitation.objects.filter(
        campaign=campaign, status__in=[Invitation.Status.QUEUED, Invitation.Status.SENDING]
    )
    while True:
        for i, worker in enumerate(workers):
            peaks[i] = max(peaks[i], peak_rss_mb(worker.pid))
        if not pending.exists():
            break
        if any(w.poll() is not None for w in workers):
            raise SystemExit("a worker died:\n" + "\n".join(p.read_text()[-2000:] for p in logs))
        time.sleep(0.5)
    send_seconds = time.perf_counter() - started - planning_seconds
    rate = plan.queued / send_seconds
    received = sink.count() - before
    sent = Invitation.objects.filter(campaign=campaign, status=Invitation.Status.SENT).count()
    for i, worker in enumerate(workers):
        peaks[i] = max(peaks[i], peak_rss_mb(worker.pid))
        os.killpg(worker.pid, signal.SIGTERM)
    for worker in workers:
        worker.wait(timeout=30)
    sink.stop()

    print(f"sent: {sent:,} invitations marked sent, {received:,} messages received by the server")
    print(
        f"workers: {plan.queued:,} messages in {send_seconds:.1f}s = {rate:.0f}/s "
        f"with {args.workers} worker processes"
    )
    print(f"ratio to baseline: {rate / baseline_rate:.2f}x (target >= 0.5x)")
    print(f"planning time: {planning_seconds:.2f}s (target <= 10 s)")
    print("worker peak RSS: " + ", ".join(f"{p:.0f} MB" for p in peaks) + " (target < 300 MB)")


if __name__ == "__main__":
    # SIGTERM unwinds like Ctrl-C, so the sink and the workers are stopped below.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    try:
        main()
    finally:
        for proc in CHILDREN:
            if proc.poll() is None:
                if proc.pid == os.getpgid(proc.pid):
                    os.killpg(proc.pid, signal.SIGKILL)
                else:
                    proc.kill()
