"""Settings for the procure-to-pay platform, read from the environment.

One file on purpose: development defaults work on a machine with Postgres and Redis on
localhost; `DJANGO_ENV=production` turns on every deploy check and refuses to start
without a real secret key and host list.
"""

import datetime as dt
import os
from pathlib import Path

import dj_database_url
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from p2p import dbroles

BASE_DIR = Path(__file__).resolve().parent.parent

DJANGO_ENV = os.environ.get("DJANGO_ENV", "development")
if DJANGO_ENV not in ("development", "production"):
    raise ImproperlyConfigured("DJANGO_ENV must be 'development' or 'production'")
PRODUCTION = DJANGO_ENV == "production"

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set when DJANGO_ENV=production")
    SECRET_KEY = "development-only-insecure-key-never-use-in-production"

DEBUG = not PRODUCTION and os.environ.get("DEBUG", "1") == "1"

ALLOWED_HOSTS = [h.strip() for h in os.environ.get("ALLOWED_HOSTS", "").split(",") if h.strip()]
if not ALLOWED_HOSTS:
    if PRODUCTION:
        raise ImproperlyConfigured("ALLOWED_HOSTS must be set when DJANGO_ENV=production")
    ALLOWED_HOSTS = ["localhost", "127.0.0.1", "[::1]", "testserver"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "knox",
    "axes",
    "csp",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "p2p",
    "currencies",
    "vendors",
    "procurement",
    "payables",
    "metrics",
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "p2p.middleware.SessionTimeouts",
    "p2p.middleware.LoginRequiredEverywhere",
    "p2p.middleware.TwoFactorRequired",
    # Last, so it turns a lockout raised anywhere in the login views into the lockout page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "p2p.urls"
WSGI_APPLICATION = "p2p.wsgi.application"

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
                "p2p.roles.navigation",
                # Development only: the login page lists the demo users that `make run` loads.
                *([] if PRODUCTION else ["demo.context_processors.demo_logins"]),
            ],
        },
    },
]

# The web server and workers connect as the app role (DATABASE_URL); migrations run as the
# owner role (DATABASE_ROLE=owner picks DATABASE_OWNER_URL). See p2p/dbroles.py. The URLs
# hold passwords, so they stay out of the settings (error pages list settings).
DATABASE_ROLE = os.environ.get("DATABASE_ROLE", "app")
if DATABASE_ROLE not in ("app", "owner"):
    raise ImproperlyConfigured("DATABASE_ROLE must be 'app' or 'owner'")
DB_POOL_MAX_SIZE = int(os.environ.get("DB_POOL_MAX_SIZE", "10"))
DB_WORKER_POOL_MAX_SIZE = int(os.environ.get("DB_WORKER_POOL_MAX_SIZE", "1"))
DATABASES = {
    "default": dj_database_url.parse(
        dbroles.role_urls(os.environ)[DATABASE_ROLE],
        # A pooled connection goes back to the pool after each request or task instead.
        conn_max_age=0 if DB_POOL_MAX_SIZE else int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DB_POOL_MAX_SIZE:
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": 1,
        "max_size": DB_POOL_MAX_SIZE,
        # A request waits this long for a free connection before it fails.
        "timeout": float(os.environ.get("DB_POOL_TIMEOUT", "30")),
    }
DATABASES["default"].setdefault("TEST", {})["NAME"] = os.environ.get(
    "TEST_DATABASE_NAME", "test_p2p"
)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")

# Invoice dates further back or ahead than this are typos (9999-12-31, 2062 for 2026) and
# are refused on every capture path before any date arithmetic runs.
INVOICE_DATE_YEARS_BACK = int(os.environ.get("INVOICE_DATE_YEARS_BACK", "10"))
INVOICE_DATE_YEARS_AHEAD = int(os.environ.get("INVOICE_DATE_YEARS_AHEAD", "1"))
# A CSV with more invoice lines than this is refused whole; split it into several files.
CSV_IMPORT_MAX_ROWS = int(os.environ.get("CSV_IMPORT_MAX_ROWS", "200000"))

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
    {"NAME": "p2p.accounts.RevokeTokensOnPasswordChange"},
]
# Scripts and styles only from our own files: no inline script or event handler, no CDN.
# Inline style *attributes* stay allowed (progress bars set their width from the server);
# they cannot run code. Attachment downloads send their own stricter `sandbox` policy.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# Axes first: it refuses a locked-out username or address before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Brute-force protection on the web login, the admin login and the API token endpoint:
# this many wrong passwords lock the username, and separately the client address, for the
# cool-off. An admin unlocks earlier under Admin > Axes > Access attempts (delete the row)
# or with `manage.py axes_reset_username NAME`.
AXES_FAILURE_LIMIT = int(os.environ.get("LOGIN_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = dt.timedelta(minutes=int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15")))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
# Its start-up banner would print before every manage.py command, worker and test run.
AXES_VERBOSE = False
# A success resets the account's failures only, not its address's (p2p.accounts.LockoutHandler).
AXES_HANDLER = "p2p.accounts.LockoutHandler"
# Reverse proxies in front of the app (0: clients connect directly). Without it, behind a
# proxy every sign-in would count against the proxy's address and one lockout would lock all.
PROXY_COUNT = int(os.environ.get("PROXY_COUNT", "0"))
AXES_CLIENT_IP_CALLABLE = "p2p.accounts.client_ip"
AXES_LOCKOUT_CALLABLE = "p2p.accounts.lockout_response"
# Sessions end after this many idle minutes, sooner for the roles that can pay money out,
# and in any case SESSION_MAX_HOURS after signing in (p2p.middleware.SessionTimeouts).
SESSION_IDLE_MINUTES = int(os.environ.get("SESSION_IDLE_MINUTES", "240"))
_finance_idle = int(os.environ.get("SESSION_IDLE_MINUTES_FINANCE", "30"))
SESSION_IDLE_MINUTES_BY_ROLE = {
    "ap_clerk": _finance_idle,
    "ap_manager": _finance_idle,
    "finance_leader": _finance_idle,
}
SESSION_MAX_HOURS = int(os.environ.get("SESSION_MAX_HOURS", "10"))
SESSION_COOKIE_AGE = SESSION_MAX_HOURS * 3600
# Approving a payment run asks for the password again unless it was typed this recently.
REAUTH_MINUTES = int(os.environ.get("REAUTH_MINUTES", "5"))
# Two-factor sign-in with an authenticator app (TOTP) is open to everyone; these roles must
# use it, by default in production only. Comma-separated role names; empty turns it off.
MFA_REQUIRED_ROLES = tuple(
    role.strip()
    for role in os.environ.get(
        "MFA_REQUIRED_ROLES", "ap_manager,finance_leader" if PRODUCTION else ""
    ).split(",")
    if role.strip()
)
# The name authenticator apps show next to the code.
OTP_TOTP_ISSUER = os.environ.get("MFA_ISSUER", "P2P")
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = os.environ.get("TIME_ZONE", "Europe/Amsterdam")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# htmx and Chart.js come from npm at setup (package.json) and are served by the app.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("vendor/htmx", BASE_DIR / "node_modules" / "htmx.org" / "dist"),
    ("vendor/chartjs", BASE_DIR / "node_modules" / "chart.js" / "dist"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
MEDIA_URL = "media/"
# Invoices and quotes are small; anything larger is refused before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend"
    if PRODUCTION
    else "django.core.mail.backends.console.EmailBackend",
)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "p2p@localhost")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = os.environ.get("EMAIL_USE_TLS", "0") == "1"
# Absolute links in notification emails.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "knox.auth.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "p2p.api.NewestFirstCursorPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "p2p.api.exception_handler",
}
# API tokens are stored hashed, expire, and can be listed and revoked (Account > API tokens).
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(hours=int(os.environ.get("API_TOKEN_TTL_HOURS", "720"))),
    # The header scripts already send: `Authorization: Token <token>`.
    "AUTH_HEADER_PREFIX": "Token",
    "AUTO_REFRESH": False,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Procure-to-pay API",
    "DESCRIPTION": "Requests, purchase orders, receipts, invoices, exceptions and payments.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    # One name for a choice set that several components share (vendor, payment hold, patch).
    "ENUM_NAME_OVERRIDES": {"VendorStatusEnum": "vendors.models.Vendor.Status"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "p2p.api.document_error_responses",
    ],
}

CELERY_BROKER_URL = REDIS_URL
CELERY_RESULT_BACKEND = None
# A separate queue name lets tests run their own worker beside a development one.
CELERY_TASK_DEFAULT_QUEUE = os.environ.get("CELERY_QUEUE", "p2p")
CELERY_TASK_IGNORE_RESULT = True
# At-least-once: a task is acknowledged only after it ran, and a worker that dies
# mid-task hands it back to the broker. Tasks are idempotent so a rerun is harmless.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# A message a dead worker took is handed out again after this many seconds.
CELERY_VISIBILITY_TIMEOUT = int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600"))
# Kombu scans for such messages only every tenth 10 s tick by default, adding up to 100 s
# to the timeout; one small sorted-set read every 10 s is cheap.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    "unacked_restore_throttle": 1,
}
# Below the visibility timeout so Redis never redelivers a task that is still running.
CELERY_TASK_TIME_LIMIT = max(CELERY_VISIBILITY_TIMEOUT // 2, 1)
CELERY_TASK_SOFT_TIME_LIMIT = max(CELERY_TASK_TIME_LIMIT - 10, CELERY_TASK_TIME_LIMIT * 9 // 10)
# Celery's Django fixup closes the database connection around every task unless told to
# reuse it; a new Postgres backend per match batch costs a fork and cold catalog caches.
# p2p.celery instead applies Django's own rules (CONN_MAX_AGE, health checks) between tasks.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_ALWAYS_EAGER = os.environ.get("CELERY_TASK_ALWAYS_EAGER", "0") == "1"
CELERY_TIMEZONE = TIME_ZONE
# An invoice still pending this many seconds after its match was queued has lost its task (a
# killed worker, a lost message): the sweep queues it again. Above the usual queue wait, so a
# busy queue is not fed duplicates; a duplicate is harmless anyway (matching is idempotent).
MATCH_STUCK_AFTER = int(os.environ.get("MATCH_STUCK_AFTER", "60"))
# An Idempotency-Key whose request never answered (its process was killed) is taken over by a
# retry after this many seconds: longer than any request runs, so it cannot run twice at once.
IDEMPOTENCY_PENDING_TIMEOUT = int(os.environ.get("IDEMPOTENCY_PENDING_TIMEOUT", "300"))
# Answers are replayed to retries for this many seconds, then purged (hourly, by beat).
IDEMPOTENCY_KEY_RETENTION = max(
    int(os.environ.get("IDEMPOTENCY_KEY_RETENTION", str(24 * 3600))), IDEMPOTENCY_PENDING_TIMEOUT
)
# Where the scheduled task fetches the ECB reference rates (the daily file,
# https://www.ecb.europa.eu/stats/eurofxref/eurofxref-daily.xml, or a mirror of it); empty
# turns the fetch off. Seconds before a fetch that gets no answer gives up.
ECB_RATES_URL = os.environ.get("ECB_RATES_URL", "").strip()
ECB_RATES_TIMEOUT = int(os.environ.get("ECB_RATES_TIMEOUT", "30"))
# A date without a rate of its own (a weekend, a TARGET holiday) takes the newest earlier
# rate up to this many days old; older than that, the lookup refuses.
FX_RATE_MAX_AGE_DAYS = int(os.environ.get("FX_RATE_MAX_AGE_DAYS", "7"))
CELERY_BEAT_SCHEDULE = {
    # Every 30 s, so a lost match is back in the queue within MATCH_STUCK_AFTER + 30 s.
    "match-sweep": {"task": "payables.tasks.match_sweep", "schedule": 30.0},
    "idempotency-keys-purge": {
        "task": "payables.tasks.purge_idempotency_keys",
        "schedule": 3600.0,
    },
    "kpi-rollup-recent": {"task": "metrics.tasks.rollup_recent_days", "schedule": 600.0},
    # Today's KPIs move within a minute of a match or payment; skipped while a rollup runs.
    "kpi-rollup-today": {"task": "metrics.tasks.rollup_today", "schedule": 30.0},
    # Hourly is plenty: contract prices are looked up by date, the status only follows.
    "contracts-expire": {"task": "vendors.tasks.expire_contracts", "schedule": 3600.0},
    # The ECB publishes once a working day around 16:00 CET; hourly finds it the same
    # afternoon, and an unchanged file changes nothing. Does nothing without ECB_RATES_URL.
    "ecb-rates-fetch": {"task": "currencies.tasks.fetch_ecb_rates", "schedule": 3600.0},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # Django gives its "django" logger a console handler of its own in development; with the
    # root handler above every Django line (a 404, a slow request) would be printed twice.
    "loggers": {"django": {"handlers": [], "level": "INFO"}},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = os.environ.get("SECURE_SSL_REDIRECT", "1") == "1"
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
    X_FRAME_OPTIONS = "DENY"
    CSRF_TRUSTED_ORIGINS = [
        o.strip() for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()
    ]
SESSION_COOKIE_HTTPONLY = True
