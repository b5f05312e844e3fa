"""The shipped deployment, read as an operator would: compose file, image, lock files, healthchecks.

Docker cannot run containers on the test machines, so these read the files the containers run and
run the scripts they call.
"""

from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from config import healthcheck
from config.celery import HeartbeatScheduler

ROOT = Path(__file__).resolve().parents[2]
APP_SERVICES = ("migrate", "web", "worker", "worker-jobs", "beat")
LONG_RUNNING = ("web", "worker", "worker-jobs", "beat")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _command(service: dict) -> list[str]:
    command = service["command"]
    return command.split() if isinstance(command, str) else command


def _option(args: list[str], flag: str) -> str:
    return args[args.index(flag) + 1]


# --- docker-compose.yml ---------------------------------------------------------------------


def test_compose_runs_the_whole_stack(compose):
    services = compose["services"]
    assert set(services) == {"db", "redis", "mailpit", *APP_SERVICES}
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["DEBUG"] == "false"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["CELERY_BROKER_URL"].startswith("redis://")
        assert "smtp://mailpit:1025" in env["EMAIL_URL"]
        assert services[name]["image"] == services["web"]["image"]


def test_every_image_tag_is_pinned(compose):
    for name, service in compose["services"].items():
        image = service["image"]
        repository, _, tag = image.rpartition(":")
        assert repository and tag, f"{name}: {image} has no tag"
        assert tag != "latest", f"{name}: {image}"
        # A release number with at least a minor part, e.g. 16.10, 7.4.2, v1.26.1, 0.1.0.
        assert re.fullmatch(r"v?\d+\.\d+(\.\d+)?", tag), f"{name}: {image}"


def test_migrations_run_once_before_everything_else(compose):
    services = compose["services"]
    migrate = services["migrate"]
    assert _command(migrate)[:3] == ["python", "manage.py", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {"db": {"condition": "service_healthy"}}
    for name in LONG_RUNNING:
        depends = services[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}, name
        assert depends["db"] == {"condition": "service_healthy"}, name
        assert depends["redis"] == {"condition": "service_healthy"}, name
        # Nobody else migrates: web replicas never race.
        assert "migrate" not in " ".join(_command(services[name])), name


def test_web_and_workers_share_the_media_volume(compose, settings):
    services = compose["services"]
    # The image's VAR_DIR is /app/var, so MEDIA_ROOT (uploads, imports, exports) is its media/.
    assert "media" in compose["volumes"]
    for name in ("web", "worker", "worker-jobs"):
        assert "media:/app/var/media" in services[name]["volumes"], name
    assert str(settings.MEDIA_ROOT) == str(settings.VAR_DIR / "media")


def test_a_worker_consumes_each_queue(compose):
    from django.conf import settings

    services = compose["services"]
    queues = {}
    for name in ("worker", "worker-jobs"):
        args = _command(services[name])
        assert args[:4] == ["celery", "-A", "config", "worker"]
        queues[name] = _option(args, "-Q").split(",")
    # The settings' defaults when CELERY_QUEUE and CELERY_JOBS_QUEUE are unset.
    assert queues == {"worker": ["npsapp"], "worker-jobs": ["npsapp-jobs"]}
    if "CELERY_QUEUE" not in os.environ:
        assert settings.CELERY_TASK_DEFAULT_QUEUE == "npsapp"
        assert settings.CELERY_JOBS_QUEUE == "npsapp-jobs"


def test_every_long_running_service_has_a_healthcheck(compose):
    services = compose["services"]
    web = services["web"]["healthcheck"]["test"]
    assert web == ["CMD", "python", "-m", "config.healthcheck", "web"]
    for name in ("worker", "worker-jobs"):
        check = services[name]["healthcheck"]["test"]
        node = _option(_command(services[name]), "-n")
        assert check[0] == "CMD-SHELL"
        # The node named on the command line, on this container's host name.
        assert f"celery -A config inspect ping -d {node.replace('%h', '$$HOSTNAME')}" in check[1]
    beat = services["beat"]
    assert _option(_command(beat), "-S") == "config.celery.HeartbeatScheduler"
    assert beat["healthcheck"]["test"] == ["CMD", "python", "-m", "config.healthcheck", "beat"]


def _compose_binary() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_docker_compose_accepts_the_file():
    binary = _compose_binary()
    if binary is None:
        pytest.skip("neither docker compose nor docker-compose is installed (.ci/run checks it)")
    result = subprocess.run(
        [*binary, "config", "-q"],
        cwd=ROOT,
        env={**os.environ, "SECRET_KEY": "k" * 50},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    # Without SECRET_KEY it refuses, naming the variable.
    env = {k: v for k, v in os.environ.items() if k != "SECRET_KEY"}
    refused = subprocess.run(
        [*binary, "config", "-q"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert refused.returncode != 0
    assert "SECRET_KEY" in refused.stderr


# --- Dockerfile -----------------------------------------------------------------------------


def _dockerfile() -> list[str]:
    lines, pending = [], ""
    for raw in (ROOT / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    return lines


def test_the_image_installs_dependencies_from_the_lock_before_the_code():
    lines = _dockerfile()
    base = lines[0]
    assert re.fullmatch(r"FROM python:3\.11\.\d+-slim-\w+", base), base
    copy_lock = lines.index("COPY requirements/main.txt /tmp/requirements.txt")
    install = next(i for i, line in enumerate(lines) if "pip install" in line)
    copy_code = lines.index("COPY . .")
    assert copy_lock < install < copy_code
    assert "--require-hashes" in lines[install] and "-r /tmp/requirements.txt" in lines[install]
    # The app is installed once: run from /app, never `pip install .` on top.
    assert sum("pip install" in line for line in lines) == 1


def test_the_image_runs_as_a_non_root_user():
    lines = _dockerfile()
    users = [line for line in lines if line.startswith("USER ")]
    assert users == ["USER app"]
    assert lines.index("USER app") > lines.index("COPY . .")
    assert any("useradd" in line and " app" in line for line in lines)
    # The media volume starts out owned by that user.
    assert any("chown -R app:app /app/var" in line for line in lines)
    assert "tests" in (ROOT / ".dockerignore").read_text().split()
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


# --- Dependencies ---------------------------------------------------------------------------


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements() -> dict[str, list[Requirement]]:
    project = _project()
    groups = {"runtime": [Requirement(r) for r in project["dependencies"]]}
    for extra, items in project["optional-dependencies"].items():
        groups[extra] = [Requirement(r) for r in items]
    return groups


def _locked(path: str) -> dict[str, str]:
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==([^\s\\;]+)", (ROOT / path).read_text(), re.M)
    return {canonicalize_name(name): version for name, version in pins}


def test_every_range_is_bounded_and_every_package_listed_once():
    seen = {}
    for group, requirements in _requirements().items():
        for req in requirements:
            name = canonicalize_name(req.name)
            assert name not in seen, f"{req.name} is in {seen.get(name)} and {group}"
            seen[name] = group
            operators = {spec.operator for spec in req.specifier}
            bounded = "==" in operators or (
                operators & {">=", ">", "~="} and operators & {"<", "<=", "~="}
            )
            assert bounded, f"{req} ({group}) needs a lower and an upper bound"


@pytest.mark.parametrize(
    ("lock", "groups"),
    [
        ("requirements/main.txt", ("runtime", "sentry")),
        ("requirements/dev.txt", ("runtime", "sentry", "embedded", "dev")),
    ],
)
def test_the_lock_files_satisfy_the_ranges(lock, groups):
    """`make lock` rewrites them; a range changed without it fails here."""
    pins = _locked(lock)
    requirements = _requirements()
    for group in groups:
        for req in requirements[group]:
            name = canonicalize_name(req.name)
            assert name in pins, f"{req.name} is not in {lock}: run make lock"
            assert req.specifier.contains(pins[name], prereleases=True), (
                f"{lock} pins {req.name}=={pins[name]}, outside {req.specifier}: run make lock"
            )


def test_both_lock_files_pin_the_same_versions():
    main, dev = _locked("requirements/main.txt"), _locked("requirements/dev.txt")
    assert {name: dev.get(name) for name in main} == main


LOCAL_PACKAGES = {
    "config", "accounts", "surveys", "outcomes", "followups", "metrics", "tests", "benchmarks",
    # The API client the integration tier generates from the schema at run time.
    "npsclient",
}  # fmt: skip


def _top_level_imports(paths: list[Path]) -> dict[str, Path]:
    found = {}
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.partition(".")[0], path)
    return found


def _sources(*folders: str) -> list[Path]:
    files = []
    for folder in folders:
        target = ROOT / folder
        files += [target] if target.is_file() else sorted(target.rglob("*.py"))
    return [f for f in files if "migrations" not in f.parts or f.name != "__init__.py"]


@pytest.mark.parametrize(
    ("folders", "groups"),
    [
        (
            ("config", "accounts", "surveys", "outcomes", "followups", "metrics", "manage.py",
             "gunicorn.conf.py"),
            ("runtime", "embedded", "sentry"),
        ),
        (("tests", "benchmarks"), ("runtime", "embedded", "sentry", "dev")),
    ],
)  # fmt: skip
def test_every_import_is_declared(folders, groups):
    """Each third-party module the code imports belongs to a package pyproject.toml lists
    (not one that merely arrives with another)."""
    requirements = _requirements()
    declared = {canonicalize_name(r.name) for group in groups for r in requirements[group]}
    distributions = importlib.metadata.packages_distributions()
    undeclared = {}
    for module, path in _top_level_imports(_sources(*folders)).items():
        if module in sys.stdlib_module_names or module in LOCAL_PACKAGES:
            continue
        owners = {canonicalize_name(d) for d in distributions.get(module, [])}
        if not owners & declared:
            undeclared[module] = (sorted(owners), str(path.relative_to(ROOT)))
    assert undeclared == {}


# --- Healthcheck scripts --------------------------------------------------------------------


def test_the_web_healthcheck_picks_an_allowed_host():
    assert healthcheck.allowed_host("surveys.example.com,www.example.com") == "surveys.example.com"
    assert healthcheck.allowed_host(" .example.com") == "example.com"
    assert healthcheck.allowed_host("*,surveys.example.com") == "surveys.example.com"
    assert healthcheck.allowed_host("*") == "localhost"
    assert healthcheck.allowed_host("") == "localhost"


@pytest.mark.django_db(transaction=True)
def test_the_web_healthcheck_passes_the_host_check(live_server, settings):
    settings.ALLOWED_HOSTS = ["surveys.example.com"]
    settings.DEBUG = True  # eager Celery is healthy only in development
    port = int(live_server.url.rsplit(":", 1)[1])
    healthy, detail = healthcheck.check_web(port=port, allowed_hosts="surveys.example.com")
    assert healthy, detail
    assert '"status": "ok"' in detail
    # What the old healthcheck did: no Host header of the allowed list, so Django answers 400.
    healthy, detail = healthcheck.check_web(port=port, allowed_hosts="127.0.0.1")
    assert not healthy
    assert detail.startswith("HTTP 400")
    # And with DEBUG=false and no broker, the container is unhealthy.
    settings.DEBUG = False
    healthy, detail = healthcheck.check_web(port=port, allowed_hosts="surveys.example.com")
    assert not healthy
    assert detail.startswith("HTTP 503") and '"broker": "eager"' in detail


def test_the_web_healthcheck_fails_when_nothing_listens():
    healthy, detail = healthcheck.check_web(port=9, allowed_hosts="localhost", timeout=1)
    assert not healthy
    assert detail.startswith("no answer on port 9")


def test_beat_touches_its_heartbeat_and_the_healthcheck_reads_it(tmp_path, settings):
    from celery import Celery

    settings.BEAT_HEARTBEAT_FILE = tmp_path / "run" / "beat-heartbeat"
    # A scheduler with no entries: its tick only sleeps, sends nothing.
    app = Celery("heartbeat-test", set_as_current=False)
    app.conf.beat_schedule = {}
    scheduler = HeartbeatScheduler(app=app, schedule_filename=str(tmp_path / "schedule"))
    try:
        assert not healthcheck.check_beat(heartbeat=settings.BEAT_HEARTBEAT_FILE, max_age=120)[0]
        scheduler.tick()
        healthy, detail = healthcheck.check_beat(
            heartbeat=settings.BEAT_HEARTBEAT_FILE, max_age=120
        )
        assert healthy, detail
        # A beat stuck for longer than the limit is unhealthy.
        stale = time.time() - 121
        os.utime(settings.BEAT_HEARTBEAT_FILE, (stale, stale))
        assert not healthcheck.check_beat(heartbeat=settings.BEAT_HEARTBEAT_FILE, max_age=120)[0]
        scheduler.tick()
        assert healthcheck.check_beat(heartbeat=settings.BEAT_HEARTBEAT_FILE, max_age=120)[0]
    finally:
        scheduler.close()


def test_the_healthcheck_command_exits_non_zero_when_unhealthy(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "config.healthcheck", "beat"],
        cwd=ROOT,
        env={**os.environ, "BEAT_HEARTBEAT_FILE": str(tmp_path / "missing")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "no heartbeat file" in result.stdout


def test_gunicorn_reads_its_settings_from_the_environment():
    """The web container runs plain `gunicorn config.wsgi:application` in /app."""
    gunicorn = Path(sys.executable).parent / "gunicorn"
    result = subprocess.run(
        [str(gunicorn), "--print-config", "config.wsgi:application"],
        cwd=ROOT,
        env={**os.environ, "DEBUG": "true", "PORT": "9001", "WEB_CONCURRENCY": "2",
             "LOG_FORMAT": "json"},
        capture_output=True,
        text=True,
        timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    config = dict(
        (key.strip(), value.strip())
        for key, _, value in (line.partition("=") for line in result.stdout.splitlines())
        if value
    )
    assert config["bind"] == "['0.0.0.0:9001']"
    assert config["workers"] == "2"
    assert config["accesslog"] == "-"
    assert "%(U)s" in config["access_log_format"]
    assert "'fmt': 'json'" in config["logconfig_dict"]
