"""Khata settings, read from the environment.

A fresh clone runs with no env file: every variable has a default that works on a
development machine. `KHATA_ENV=production` turns the defaults strict (no DEBUG, secure
cookies, HTTPS redirects) and requires a real SECRET_KEY.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab, schedule
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

KHATA_ENV = env.str("KHATA_ENV", default="development")
if KHATA_ENV not in {"development", "test", "production"}:
    raise ImproperlyConfigured("KHATA_ENV must be development, test or production")
PRODUCTION = KHATA_ENV == "production"
TESTING = KHATA_ENV == "test"

DEBUG = env.bool("DEBUG", default=not PRODUCTION)
_DEV_SECRET = "khata-development-secret-key-never-use-in-production"
SECRET_KEY = env.str("SECRET_KEY", default="" if PRODUCTION else _DEV_SECRET)
if not SECRET_KEY:
    raise ImproperlyConfigured("SECRET_KEY must be set when KHATA_ENV=production")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["*"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

DATABASES = {
    "default": env.db_url("DATABASE_URL", default="postgres://root@127.0.0.1:5432/khata"),
}
DATABASES["default"]["ENGINE"] = "config.postgres"  # Django's, with a cheaper health check
DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# Django binds parameters on the client, and such statements are never prepared; the ledger's
# posting calls bind server-side (apps/ledger/prepared.py) and are prepared on first use. With a
# pooling proxy in transaction mode in front of PostgreSQL, turn on its prepared-statement
# support or set DATABASE_PREPARE_THRESHOLD to an empty value.
_prepare_threshold = env.str("DATABASE_PREPARE_THRESHOLD", default="0")
DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
    int(_prepare_threshold) if _prepare_threshold else None
)
DATABASES["default"].setdefault("TEST", {})["NAME"] = env.str("TEST_DATABASE_NAME", default="test_khata")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env.str("REDIS_URL", default="redis://127.0.0.1:6379/0")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_api_key",
    "knox",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_celery_beat",
    "simple_history",
    "apps.identity",
    "apps.events",
    "apps.ledger",
    "apps.giftcards",
    "apps.points",
]

MIDDLEWARE = [
    "log_request_id.middleware.RequestIDMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "identity.User"

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
            ],
        },
    },
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Password hashing is deliberately slow; tests create many users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "wallet"
LOGOUT_REDIRECT_URL = "login"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not (DEBUG or TESTING)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Request body limit: a full event batch (1,000 events) fits comfortably; anything
# larger is refused with 413 before it is parsed.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("MAX_REQUEST_BYTES", default=5 * 1024 * 1024)

CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": f"khata-{KHATA_ENV}",
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# --- security (strict unless DEBUG) ---
TRUST_X_FORWARDED_FOR = env.bool("TRUST_X_FORWARDED_FOR", default=False)
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- REST API ---
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.identity.authentication.ApiKeyAuthentication",
        "apps.identity.authentication.UserTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["djangorestframework_camel_case.render.CamelCaseJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["djangorestframework_camel_case.parser.CamelCaseJSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "config.errors.api_exception_handler",
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_THROTTLE_RATES": {},
    "JSON_UNDERSCOREIZE": {
        # Event payloads belong to their producers: stored and passed on exactly as sent.
        "ignore_fields": ("payload",),
    },
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Khata API",
    "DESCRIPTION": "Offers, loyalty points, card fees and gift cards on one double-entry ledger.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    # Swagger UI served from our own static files: no CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "CAMELIZE_NAMES": False,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "drf_spectacular.contrib.djangorestframework_camel_case.camelize_serializer_fields",
    ],
}

REST_KNOX = {
    # End-user tokens for mobile/web clients; a token unused for this long stops working.
    "TOKEN_TTL": timedelta(days=env.int("USER_TOKEN_TTL_DAYS", default=30)),
    "AUTO_REFRESH": True,
    "AUTH_HEADER_PREFIX": "Token",
}

API_KEY_CUSTOM_HEADER = None

# --- Celery ---
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# A request must not hang on a broker that is down: the work is already durable in
# PostgreSQL and the sweepers will enqueue it later.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "visibility_timeout": 3600,
}
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Celery's Django support closes the database connection around every task unless this is set:
# a new connection per task costs a PostgreSQL backend start, cold catalog caches and the
# ledger's PL/pgSQL functions planned again. Workers keep theirs for this many tasks instead;
# around each task config.celery closes it as a request would (past CONN_MAX_AGE, or unusable
# after an error).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# Worker logs go through LOGGING below (JSON lines), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# The outbox stream (fan-out, consumers, webhooks) has its own queue and worker (Procfile
# `stream`, at a lower CPU priority): downstream consumers never delay moving money or points.
STREAM_QUEUE = "stream"
CELERY_TASK_ROUTES = {
    f"apps.events.tasks.{name}": {"queue": STREAM_QUEUE}
    for name in (
        "outbox_messages_fanout_task",
        "outbox_message_fanout_task",
        "outbox_delivery_attempt_task",
    )
}
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# django-celery-beat copies these into its tables when beat starts; staff can see them
# (and pause one) in the admin.
CELERY_BEAT_SCHEDULE = {
    "events: re-dispatch pending inbound events": {
        "task": "apps.events.tasks.inbound_events_sweep_task",
        "schedule": schedule(timedelta(seconds=30)),
    },
    "events: relay outbox and retry deliveries": {
        "task": "apps.events.tasks.outbox_sweep_task",
        "schedule": schedule(timedelta(seconds=30)),
    },
    "ledger: void expired holds": {
        "task": "apps.ledger.tasks.ledger_holds_expire_task",
        "schedule": schedule(timedelta(seconds=60)),
    },
    "giftcards: confirm or reverse redemptions awaiting the vendor": {
        "task": "apps.giftcards.tasks.giftcard_redemptions_reconcile_task",
        "schedule": schedule(timedelta(seconds=60)),
    },
    "points: post awards still pending": {
        "task": "apps.points.tasks.points_awards_sweep_task",
        "schedule": schedule(timedelta(seconds=60)),
    },
    "points: send exchanges out that are due": {
        "task": "apps.points.tasks.points_exchanges_sweep_task",
        "schedule": schedule(timedelta(seconds=60)),
    },
    "points: nightly tier recalculation": {
        "task": "apps.points.tasks.points_tiers_nightly_task",
        "schedule": crontab(hour=2, minute=15),
    },
    "points: monthly expiry runs and expiry warnings": {
        "task": "apps.points.tasks.points_expiry_schedule_task",
        "schedule": crontab(minute=5),
    },
    "ledger: journal checkpoint": {
        "task": "apps.ledger.tasks.ledger_checkpoint_task",
        "schedule": schedule(timedelta(minutes=5)),
    },
}

# --- Points ---
# Users are warned this many days before their points expire (once per expiry date).
POINTS_EXPIRY_NOTICE_DAYS = env.int("POINTS_EXPIRY_NOTICE_DAYS", default=14)

# --- Events ---
EVENTS_MAX_BATCH = 1000
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=10.0)

# --- Gift cards ---
# Card numbers are kept only as HMAC-SHA256 fingerprints under this key (and their last 4
# digits). Changing it makes earlier fingerprints unmatchable: rotate only with a re-key plan.
_DEV_FINGERPRINT_KEY = "khata-development-card-fingerprint-key"
GIFTCARD_FINGERPRINT_KEY = env.str("GIFTCARD_FINGERPRINT_KEY", default="" if PRODUCTION else _DEV_FINGERPRINT_KEY)
if not GIFTCARD_FINGERPRINT_KEY:
    raise ImproperlyConfigured("GIFTCARD_FINGERPRINT_KEY must be set when KHATA_ENV=production")
# scrypt cost for sandbox card PINs (2**14 = 16 MiB, tens of milliseconds per check)
GIFTCARD_PIN_SCRYPT_N = env.int("GIFTCARD_PIN_SCRYPT_N", default=2**14)
# failed redemption attempts allowed per user, per card and per IP address within the window
GIFTCARD_MAX_FAILURES = env.int("GIFTCARD_MAX_FAILURES", default=5)
GIFTCARD_FAILURE_WINDOW_SECONDS = env.int("GIFTCARD_FAILURE_WINDOW_SECONDS", default=15 * 60)
# a redemption the vendor has not confirmed is retried with backoff, then reversed
GIFTCARD_CONFIRM_MAX_ATTEMPTS = env.int("GIFTCARD_CONFIRM_MAX_ATTEMPTS", default=8)

# --- Admin ---
ADMIN_SITE_HEADER = "Khata back office"

# --- Logging: JSON lines with the request id ---
LOG_REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
GENERATE_REQUEST_ID_IF_NOT_IN_HEADER = True
REQUEST_ID_RESPONSE_HEADER = "X-Request-ID"
# One JSON line per request with method, path, status and the internal user id (no IPs, no names).
LOG_REQUESTS = True
LOG_USER_ATTRIBUTE = "pk"
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "log_request_id.filters.RequestIDFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json", "filters": ["request_id"]},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "django.server": {"level": "WARNING"},
        "celery": {"level": "INFO"},
    },
}
