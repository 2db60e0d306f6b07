"""Workspace settings, all read from the environment (see the README's table).

With no environment set the workspace runs embedded: SQLite, the in-memory
channel layer and a local-memory cache, in one process. ``DATABASE_URL`` selects
PostgreSQL, ``REDIS_URL`` the Redis channel layer and cache.
"""

import os
import tempfile
from pathlib import Path

from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

from workspace.env import LOG_LEVELS, ConfigurationError, Env, mime_type, origin, whole_number

BASE_DIR = Path(__file__).resolve().parent.parent

# An empty variable counts as unset; a malformed one stops the process with
# one line naming it (workspace/env.py).
env = Env()

DEBUG = env.bool("DEBUG", default=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ConfigurationError(
            "SECRET_KEY",
            "must be set when DEBUG is off. Generate one with: "
            'python -c "import secrets; print(secrets.token_urlsafe(50))"',
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG"  # noqa: S105

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"] if DEBUG else []
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[], item=origin)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.forms",
    "channels",
    "django_htmx",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "core",
    "accounts",
    "groups",
    "discussions",
    "documents",
    "meetings",
    "results",
    "webinars",
    "notifications",
    "home",
    "public_pages",
    # The task queue's tables and its worker (manage.py db_worker).
    "django_tasks_db",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "groups.middleware.RolesOncePerRequestMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "accounts.middleware.UserPreferencesMiddleware",
    "accounts.middleware.LastSeenMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "groups.middleware.OrganiserMFAMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
]

ROOT_URLCONF = "workspace.urls"
FORM_RENDERER = "core.forms.FormRenderer"
WSGI_APPLICATION = "workspace.wsgi.application"
ASGI_APPLICATION = "workspace.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.csp",
                "groups.context_processors.mfa_resume",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL with synchronous=NORMAL (SQLite's advice for WAL): a commit does not
    # wait for the disk; a killed process loses nothing committed, a power
    # cut at most the last commits, never the file's integrity.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            # Writers queue for the database; under a rush (hundreds of
            # webinar registrations at once, bench/webinars.py) the last wait
            # longer than sqlite3's default 5 s, which would fail them.
            "timeout": env.int("SQLITE_TIMEOUT_SECONDS", default=30),
        }
    )
    # A file, not memory, so that a daphne process started by the browser tests
    # can serve the very database the tests write to.
    DATABASES["default"]["TEST"] = {
        "NAME": env.str(
            "SQLITE_TEST_NAME",
            default=str(Path(tempfile.gettempdir()) / f"workspace-test-{os.getpid()}.sqlite3"),
        )
    }
elif DATABASE_POOL_SIZE := env.int("DATABASE_POOL_SIZE", default=20):
    # Under ASGI Django opens a connection per request (each request's sync
    # code runs in a thread of its own) and per database_sync_to_async call of
    # a consumer: a psycopg pool per process hands out open connections
    # instead (opening one cost milliseconds per request and chat message).
    DATABASES["default"].setdefault("OPTIONS", {})["pool"] = {
        "min_size": min(2, DATABASE_POOL_SIZE),
        "max_size": DATABASE_POOL_SIZE,
        "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0, minimum=0.1),
    }
    # Each connection is checked as it leaves the pool (an empty query): after
    # PostgreSQL restarted, every pooled connection is dead, and without the
    # check each would fail one request before the pool replaced it.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:  # no pool: connections per thread, kept for CONN_MAX_AGE seconds
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: channel layer and cache ---------------------------------------------
REDIS_URL = env.redis_url("REDIS_URL", default="")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env.str("REDIS_PREFIX", default="ws")},
        }
    }
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("REDIS_PREFIX", default="ws"),
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth and allauth ------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if env.bool("TEST_FAST_PASSWORD_HASHER", default=False):
    # Test runs only (pytest sets it): hashing at full strength costs ~0.5 s a login.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "groups:dashboard"
# Sign-up is by invitation only: the invitation is the groups app's.
ACCOUNT_ADAPTER = "groups.adapter.AccountAdapter"
ACCOUNT_FORMS = {"signup": "groups.forms.InvitationSignupForm"}
# What accounts (a layer below groups) takes from above instead of importing it.
PROFILE_VISIBILITY_RULE = "groups.permissions.can_view_profile"
DEMO_SEEDERS = [
    "groups.seed.seed_groups",
    "discussions.seed.seed_discussions",
    "documents.seed.seed_documents",
    "meetings.seed.seed_meetings",
    "public_pages.seed.seed_public",
    "results.seed.seed_results",
    "webinars.seed.seed_webinars",
]
# What groups' home page takes from the apps above it: what is new in each group.
DASHBOARD_NEWS = "home.selectors.group_news"
# What the public pages show of the apps below them: dotted paths of
# ``section(request, group=None) -> dict | None`` (public.selectors.sections).
PUBLIC_SECTIONS: list[str] = ["results.public.section", "webinars.public.section"]
# How long a public page is kept in the cache at most; any change of what it
# shows drops it at once (the ``public.changed`` hook).
PUBLIC_CACHE_SECONDS = env.int("PUBLIC_CACHE_SECONDS", default=300)
# Where a published result came from: each kind read through its own app's
# rule (results sits beside discussions, documents and meetings).
RESULT_SOURCES = {
    "thread": "discussions.permissions.threads_visible_to",
    "document": "documents.permissions.documents_visible_to",
    "meeting": "meetings.permissions.meetings_visible_to",
}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_RATE_LIMITS = {
    # allauth keeps these counters in the default cache: Redis when configured,
    # so every server process shares them.
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "confirm_email": "1/3m/key",
    "signup": "20/m/ip",
}
# Sensitive account changes (turning two-factor authentication on or off, ...)
# ask for the password again after this many seconds; a fresh sign-in counts
# (groups.adapter.AccountAdapter.is_reauthentication_required).
ACCOUNT_REAUTHENTICATION_TIMEOUT = 300
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Workspace")
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Internationalisation ------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.time_zone("TIME_ZONE", default="Europe/Berlin")
USE_I18N = True
USE_TZ = True
# Unambiguous dates in each language ("6 Dec 2026, 01:15", "6. Dez. 2026, 01:15").
FORMAT_MODULE_PATH = ["workspace.formats"]

# --- Static and media files ------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
WHITENOISE_USE_FINDERS = DEBUG

S3_BUCKET_NAME = env.str("S3_BUCKET_NAME", default="")
S3_URL_EXPIRE_SECONDS = env.int("S3_URL_EXPIRE_SECONDS", default=60)
if S3_BUCKET_NAME:
    _media_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": S3_BUCKET_NAME,
            "endpoint_url": env.str("S3_ENDPOINT_URL", default=None),
            "access_key": env.str("S3_ACCESS_KEY_ID", default=None),
            "secret_key": env.str("S3_SECRET_ACCESS_KEY", default=None),
            "region_name": env.str("S3_REGION", default=None),
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": S3_URL_EXPIRE_SECONDS,
            "file_overwrite": False,
        },
    }
else:
    _media_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT, "base_url": None},
    }
STORAGES = {
    "default": _media_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedStaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}

# --- Mail -------------------------------------------------------------------------
# EMAIL_URL: consolemail:// (default), smtp://user:pass@host:587 (smtp+tls://,
# smtps://). Translated to Django 6.1's MAILERS setting.
_email = env.email_url("EMAIL_URL", default="consolemail://")
_email_options = {
    option: _email[setting]
    for option, setting in [
        ("host", "EMAIL_HOST"),
        ("port", "EMAIL_PORT"),
        ("username", "EMAIL_HOST_USER"),
        ("password", "EMAIL_HOST_PASSWORD"),
        ("use_tls", "EMAIL_USE_TLS"),
        ("use_ssl", "EMAIL_USE_SSL"),
    ]
    if _email.get(setting) not in (None, "", False)
}
if _email["EMAIL_BACKEND"].endswith("filebased.EmailBackend"):
    _email_options = {"file_path": _email["EMAIL_FILE_PATH"]}
elif not _email["EMAIL_BACKEND"].endswith("smtp.EmailBackend"):
    _email_options = {}
MAILERS = {"default": {"BACKEND": _email["EMAIL_BACKEND"], "OPTIONS": _email_options}}
# The address people reach the workspace at, for links in emails.
SITE_URL = env.site_url("SITE_URL", default="http://127.0.0.1:8000")
DEFAULT_FROM_EMAIL = env.email_address(
    "DEFAULT_FROM_EMAIL", default="Workspace <workspace@localhost>"
)
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Background tasks and the email outbox ------------------------------------------
# django.tasks with the database backend: tasks are rows, run by
# `manage.py db_worker` (beside daphne in `make run`, the `worker` service in
# docker-compose.yml). TASKS_BACKEND exists for the tests, which run tasks at
# once (django.tasks.backends.immediate.ImmediateBackend) unless they test the worker.
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
    }
}
# Emails leave through the outbox (core.outbox): a failed send is tried again
# after OUTBOX_RETRY_SECONDS, doubling each time up to OUTBOX_RETRY_MAX_SECONDS.
OUTBOX_RETRY_SECONDS = env.int("OUTBOX_RETRY_SECONDS", default=60, minimum=1)
OUTBOX_RETRY_MAX_SECONDS = env.int("OUTBOX_RETRY_MAX_SECONDS", default=6 * 3600, minimum=1)
# The worker composes the due emails OUTBOX_COMPOSE_CHUNK at a time (in a
# number of queries that does not grow with the chunk), then sends each in its
# own transaction: access is checked again at most a chunk's sending before
# delivery (a few seconds).
OUTBOX_COMPOSE_CHUNK = env.int("OUTBOX_COMPOSE_CHUNK", default=50, minimum=1)
# The safety net: every OUTBOX_SWEEP_SECONDS the worker sends what is due even
# if the task enqueued for it was lost (a worker killed while running it).
OUTBOX_SWEEP_SECONDS = env.int("OUTBOX_SWEEP_SECONDS", default=60, minimum=1)

# --- Security -------------------------------------------------------------------
TRUSTED_PROXY_COUNT = ALLAUTH_TRUSTED_PROXY_COUNT
if TRUSTED_PROXY_COUNT:
    # The proxy terminates TLS and says so in X-Forwarded-Proto.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SECURE_COOKIES", default=not DEBUG)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "font-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# --- Workspace ------------------------------------------------------------------
# Per-user limit of inbound socket frames (count per window in seconds).
WS_MAX_FRAME_BYTES = env.int("WS_MAX_FRAME_BYTES", default=16 * 1024, minimum=1)
WS_RATE_LIMIT = env.rate("WS_RATE_LIMIT", default="20/5")
# Documents: the largest upload, the types accepted (detected from the content),
# and how downloads leave the server.
DOCUMENTS_MAX_UPLOAD_BYTES = env.int(
    "DOCUMENTS_MAX_UPLOAD_BYTES", default=100 * 1024 * 1024, minimum=1
)
DOCUMENTS_ALLOWED_TYPES = env.list(
    "DOCUMENTS_ALLOWED_TYPES",
    item=mime_type,
    default=[
        "application/pdf",
        "application/msword",
        "application/vnd.ms-excel",
        "application/vnd.ms-powerpoint",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/vnd.oasis.opendocument.presentation",
        "application/rtf",
        "text/rtf",
        "text/plain",
        "text/csv",
        "text/markdown",
        "image/png",
        "image/jpeg",
        "image/gif",
        "image/webp",
        "image/svg+xml",
        "application/zip",
    ],
)
# Behind the nginx of docker-compose.yml: answer downloads with X-Accel-Redirect
# to its internal location instead of streaming them through daphne.
DOCUMENTS_X_ACCEL = env.bool("DOCUMENTS_X_ACCEL", default=False)
DOCUMENTS_X_ACCEL_PREFIX = env.str("DOCUMENTS_X_ACCEL_PREFIX", default="/protected-media/")
# Patches of daphne, Twisted and channels internals (core.daphne_http,
# core.daphne_ws, core.checks): each is applied only when its switch is on and
# the libraries are the versions it was tested for (else core.W001 warns).
# Responses go out no faster than the client reads them.
DAPHNE_BACKPRESSURE = env.bool("DAPHNE_BACKPRESSURE", default=True)
# Twisted does not parse form bodies in memory before daphne sees them.
DAPHNE_SKIP_FORM_PARSING = env.bool("DAPHNE_SKIP_FORM_PARSING", default=True)
# A request body reaches Django from Twisted's file, not daphne's memory queue.
DAPHNE_UPLOAD_FROM_FILE = env.bool("DAPHNE_UPLOAD_FROM_FILE", default=True)
# A socket event's frame is built once and written to every daphne connection.
WS_FRAME_ONCE = env.bool("WS_FRAME_ONCE", default=True)
# A request body over its limit is answered 413 before it is read: the largest
# upload and its form for people signed in, every visitor's form otherwise
# (nginx's client_max_body_size does the first in front of daphne).
DAPHNE_BODY_LIMITS = env.bool("DAPHNE_BODY_LIMITS", default=True)
# Django's middleware chain runs synchronously, a request in one call in its
# thread, not in async mode with eight trips between daphne's event loop and
# the thread (core.daphne_http, section 5).
ASGI_ONE_THREAD = env.bool("ASGI_ONE_THREAD", default=True)
# How many requests one daphne process runs in Django at once; the others wait
# their turn in its event loop (core.daphne_http; 0: no limit, a thread each).
ASGI_CONCURRENT_REQUESTS = env.int("ASGI_CONCURRENT_REQUESTS", default=1)
REQUEST_BODY_MAX_BYTES = env.int(
    "REQUEST_BODY_MAX_BYTES", default=DOCUMENTS_MAX_UPLOAD_BYTES + 1024 * 1024
)
REQUEST_BODY_ANONYMOUS_MAX_BYTES = env.int("REQUEST_BODY_ANONYMOUS_MAX_BYTES", default=1024 * 1024)
# Meetings: a meeting's chat room opens this long before and closes this long
# after the meeting; chat messages are at most this long.
MEETING_ROOM_OPENS_MINUTES_BEFORE = env.int("MEETING_ROOM_OPENS_MINUTES_BEFORE", default=30)
MEETING_ROOM_CLOSES_MINUTES_AFTER = env.int("MEETING_ROOM_CLOSES_MINUTES_AFTER", default=60)
CHAT_MAX_MESSAGE_CHARS = env.int("CHAT_MAX_MESSAGE_CHARS", default=4000, minimum=1)
# Presence: a socket that has not said "still here" for this long counts as gone.
PRESENCE_TIMEOUT_SECONDS = env.int("PRESENCE_TIMEOUT_SECONDS", default=60, minimum=1)
# Redis connections presence uses at most per process; more operations at
# once wait for one (meetings.presence.RedisBackend).
PRESENCE_REDIS_CONNECTIONS = env.int("PRESENCE_REDIS_CONNECTIONS", default=20, minimum=1)
# Invitations: how long a link stays valid; join requests: per-IP limit.
INVITATION_VALID_DAYS = env.int("INVITATION_VALID_DAYS", default=14, minimum=1)
JOIN_REQUEST_RATE_LIMIT = env.rate("JOIN_REQUEST_RATE_LIMIT", default="5/3600")
# Unsubscribe links in notification emails work without sign-in for this
# many days after the email was sent.
UNSUBSCRIBE_MAX_AGE_DAYS = env.int("UNSUBSCRIBE_MAX_AGE_DAYS", default=90, minimum=1)
# Notification emails wait this long before they leave (what is read in the
# app meanwhile is not sent; what comes meanwhile joins the same email);
# mentions wait less. A meeting starting soon does not wait.
NOTIFY_EMAIL_HOLD_MINUTES = env.int("NOTIFY_EMAIL_HOLD_MINUTES", default=10)
NOTIFY_MENTION_HOLD_MINUTES = env.int("NOTIFY_MENTION_HOLD_MINUTES", default=2)

# A person's "last seen" time is written at most this often (one UPDATE);
# digests go only to those not seen since the last one.
LAST_SEEN_UPDATE_SECONDS = env.int("LAST_SEEN_UPDATE_SECONDS", default=300, minimum=1)
# Reminders: a meeting's people are told this many minutes before it starts;
# a guest and the group's moderators this many days before the guest's access ends.
MEETING_REMINDER_MINUTES = env.int("MEETING_REMINDER_MINUTES", default=15)
GUEST_EXPIRY_NOTICE_DAYS = env.int("GUEST_EXPIRY_NOTICE_DAYS", default=7)
# Public webinars (webinars/): the confirmation link is valid this many hours,
# unconfirmed registrations are deleted after this many, a place offered from
# the waiting list must be taken within this many hours (never after the
# start); reminders go this many minutes before the start (a new webinar's
# offsets, stored on it); the personal join link opens this many minutes
# before the start; registrants' data is deleted this many days after the
# webinar (except theirs who asked to be kept informed). The privacy notice's
# version is stored with each consent: raise it when the notice changes.
WEBINAR_CONFIRM_HOURS = env.int("WEBINAR_CONFIRM_HOURS", default=48)
WEBINAR_UNCONFIRMED_DELETE_HOURS = env.int("WEBINAR_UNCONFIRMED_DELETE_HOURS", default=72)
WEBINAR_OFFER_HOURS = env.int("WEBINAR_OFFER_HOURS", default=24)
WEBINAR_REMINDER_MINUTES = env.list(
    "WEBINAR_REMINDER_MINUTES", item=whole_number, default=[1440, 60]
)
WEBINAR_JOIN_OPENS_MINUTES_BEFORE = env.int("WEBINAR_JOIN_OPENS_MINUTES_BEFORE", default=30)
WEBINAR_RETENTION_DAYS = env.int("WEBINAR_RETENTION_DAYS", default=30)
# A presenter invited when the webinar is published is a guest of the group
# until this many days after it.
WEBINAR_PRESENTER_GUEST_DAYS = env.int("WEBINAR_PRESENTER_GUEST_DAYS", default=14)
WEBINAR_PRIVACY_NOTICE_VERSION = env.str("WEBINAR_PRIVACY_NOTICE_VERSION", default="2026-1")
# Registrations: per connection and per address (a bot, a flood of emails).
WEBINAR_REGISTER_IP_RATE_LIMIT = env.rate("WEBINAR_REGISTER_IP_RATE_LIMIT", default="20/3600")
WEBINAR_REGISTER_EMAIL_RATE_LIMIT = env.rate("WEBINAR_REGISTER_EMAIL_RATE_LIMIT", default="3/3600")
# The URL name (reversed with a group's slug) of its published results, for
# the follow-up after a webinar; empty: the email links the join form only.
WEBINAR_RESULTS_URL_NAME = env.str("WEBINAR_RESULTS_URL_NAME", default="results:list")

# One line per refused request (4xx) with the user's id, tracebacks only for
# real errors (core/request_log.py). Django's own "django" logger would print
# each record a second time in DEBUG (its console handler besides the root's).
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"refused_requests": {"()": "core.request_log.RefusedRequestFilter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "filters": ["refused_requests"]},
    },
    "root": {
        "handlers": ["console"],
        "level": env.choice("LOG_LEVEL", default="INFO", choices=LOG_LEVELS),
    },
    "loggers": {
        "django": {"handlers": [], "level": "INFO", "propagate": True},
        "django.db.backends": {"level": "WARNING"},
    },
}
