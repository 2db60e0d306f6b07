"""Settings come from the environment: embedded by default, real services when configured."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from channels.layers import get_channel_layer
from django.core.cache import cache
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'db': s.DATABASES['default']['ENGINE'], "
    "'db_name': s.DATABASES['default']['NAME'], "
    "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], "
    "'cache': s.CACHES['default']['BACKEND'], "
    "'mailer': s.MAILERS['default']['BACKEND'], "
    "'media': s.STORAGES['default']['BACKEND'], 'debug': s.DEBUG}))"
)
SERVICE_VARS = ("DATABASE_URL", "REDIS_URL", "S3_BUCKET_NAME", "EMAIL_URL", "DEBUG", "SECRET_KEY")


def run_settings(env: dict[str, str], code: str = PROBE) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    clean["DJANGO_SETTINGS_MODULE"] = "workspace.settings"
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def probe(env: dict[str, str]) -> dict:
    result = run_settings(env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_settings_are_embedded_if_no_service_is_configured():
    found = probe({"DEBUG": "1"})
    assert found["db"] == "django.db.backends.sqlite3"
    assert found["layer"] == "channels.layers.InMemoryChannelLayer"
    assert found["cache"] == "django.core.cache.backends.locmem.LocMemCache"
    assert found["mailer"] == "django.core.mail.backends.console.EmailBackend"
    assert found["media"] == "django.core.files.storage.FileSystemStorage"


def test_settings_use_postgresql_and_redis_if_urls_are_set():
    found = probe(
        {
            "DEBUG": "1",
            "DATABASE_URL": "postgres://someone@db.internal:5432/workspace",
            "REDIS_URL": "redis://cache.internal:6379/2",
            "EMAIL_URL": "smtp+tls://mailer:secret@mail.internal:587",
            "S3_BUCKET_NAME": "documents",
        }
    )
    assert found["db"] == "django.db.backends.postgresql"
    assert found["db_name"] == "workspace"
    assert found["layer"] == "channels_redis.pubsub.RedisPubSubChannelLayer"
    assert found["cache"] == "django.core.cache.backends.redis.RedisCache"
    assert found["mailer"] == "django.core.mail.backends.smtp.EmailBackend"
    assert found["media"] == "storages.backends.s3.S3Storage"


def test_settings_refuse_to_start_without_secret_key_if_not_debug():
    result = run_settings({"DEBUG": "0"})
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_production_settings_pass_check_deploy():
    env = {
        "DEBUG": "0",
        "SECRET_KEY": "x7Jq2vLw9pZ4nR8tY1mC6bF3hK0dS5gA-production-like-secret-key",
        "ALLOWED_HOSTS": "workspace.example.org",
        "CSRF_TRUSTED_ORIGINS": "https://workspace.example.org",
        "EMAIL_URL": "smtp+tls://workspace:secret@mail.example.org:587",
    }
    result = run_settings(
        env,
        "import sys; from django.core.management import execute_from_command_line; "
        "execute_from_command_line(['manage.py', 'check', '--deploy'])",
    )
    output = result.stdout + result.stderr
    warnings = {
        line.split(")")[0].split("(")[-1] for line in output.splitlines() if "(security." in line
    }
    # HSTS preload and subdomains are a decision for whoever owns the domain.
    assert warnings <= {"security.W005", "security.W021"}, output
    assert result.returncode == 0, output


@pytest.mark.django_db
def test_configured_database_is_the_one_in_use():
    url = os.environ.get("DATABASE_URL", "")
    expected = "postgresql" if url.startswith(("postgres", "pgsql")) else "sqlite"
    assert connection.vendor == expected


def test_configured_redis_carries_cache_and_channel_layer():
    if not os.environ.get("REDIS_URL"):
        assert type(get_channel_layer()).__name__ == "InMemoryChannelLayer"
        return
    assert type(get_channel_layer()).__name__ == "RedisPubSubChannelLayer"
    cache.set("settings-probe", {"ok": True}, 5)
    assert cache.get("settings-probe") == {"ok": True}
    client = cache._cache.get_client()
    assert any(b"settings-probe" in key for key in client.scan_iter(match="*settings-probe*"))


POOL_PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "d = s.DATABASES['default']; "
    "print(json.dumps({'pool': d.get('OPTIONS', {}).get('pool'), "
    "'conn_max_age': d.get('CONN_MAX_AGE'), 'checks': d.get('CONN_HEALTH_CHECKS')}))"
)


def test_postgresql_connections_come_from_a_pool_unless_turned_off():
    env = {"DEBUG": "1", "DATABASE_URL": "postgres://someone@db.internal:5432/workspace"}
    result = run_settings(env, POOL_PROBE)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "pool": {"min_size": 2, "max_size": 20, "timeout": 10.0},
        "conn_max_age": 0,
        # A pooled connection is checked as it leaves the pool: after a
        # PostgreSQL restart the dead ones are replaced, not handed out.
        "checks": True,
    }
    result = run_settings({**env, "DATABASE_POOL_SIZE": "0", "CONN_MAX_AGE": "60"}, POOL_PROBE)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"pool": None, "conn_max_age": 60, "checks": True}


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_connection_in_use_is_pooled():
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's (set DATABASE_URL=postgres://…)")
    assert connection.pool is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close()  # back to the pool, still open
    assert connection.pool.get_stats()["pool_available"] >= 1


# What a bad value of each kind says: the variable and what is wrong, on one line.
BAD_VALUES = [
    ("DATABASE_URL", "postgress://someone@db.internal/workspace", "the scheme 'postgress'"),
    ("DATABASE_URL", "db.internal:5432/workspace", "is not a URL"),
    ("DATABASE_URL", "postgres://someone@db.internal:port/workspace", "malformed"),
    ("DATABASE_URL", "postgres://someone@db.internal:5432/", "names no database"),
    ("REDIS_URL", "cache.internal:6379", "is not a URL"),
    ("REDIS_URL", "redis://:6379/0", "names no host"),
    ("REDIS_URL", "redis://cache.internal:6379/zero", "not a number"),
    ("EMAIL_URL", "smtpx://mail.internal:587", "the scheme 'smtpx'"),
    ("EMAIL_URL", "smtp://", "names no mail server"),
    ("SITE_URL", "workspace.example.org", "not an address like https://"),
    ("SITE_URL", "https://workspace.example.org/app", "no path"),
    ("DEBUG", "maybe", "not on or off"),
    ("SECURE_COOKIES", "sure", "not on or off"),
    ("PUBLIC_CACHE_SECONDS", "five minutes", "not a whole number"),
    ("INVITATION_VALID_DAYS", "-3", "less than 1"),
    ("OUTBOX_COMPOSE_CHUNK", "0", "less than 1"),
    ("TIME_ZONE", "Europe/Atlantis", "not a time zone"),
    ("LOG_LEVEL", "loud", "not one of"),
    ("WS_RATE_LIMIT", "20", "not count/seconds"),
    ("WEBINAR_REMINDER_MINUTES", "1440,an hour", "not a whole number"),
    ("CSRF_TRUSTED_ORIGINS", "workspace.example.org", "not an origin"),
    ("DOCUMENTS_ALLOWED_TYPES", "pdf,text/plain", "not a MIME type"),
    ("DEFAULT_FROM_EMAIL", "workspace", "not an email address"),
]


def manage_check(env: dict[str, str]) -> subprocess.CompletedProcess:
    """``python manage.py check`` with ``env`` on top of a clean environment."""
    clean = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    return subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={**clean, "DEBUG": "1", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(("name", "value", "problem"), BAD_VALUES)
def test_settings_stop_with_one_line_naming_the_variable_if_its_value_is_malformed(
    name, value, problem
):
    result = manage_check({name: value})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Configuration error: {name} "), lines[0]
    assert problem in lines[0]
    assert "Traceback" not in result.stderr


def test_settings_never_repeat_a_malformed_url_which_may_hold_a_password():
    result = manage_check({"DATABASE_URL": "postgress://someone:s3cret@db.internal/workspace"})
    assert result.returncode != 0
    assert "s3cret" not in result.stderr


def test_settings_refuse_an_empty_secret_key_if_not_debug_in_one_line():
    result = run_settings({"DEBUG": "0", "SECRET_KEY": "  "})
    assert result.returncode != 0
    assert result.stderr.strip().startswith("Configuration error: SECRET_KEY must be set")
    assert "Traceback" not in result.stderr


EMPTY_PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({'db': s.DATABASES['default']['NAME'].endswith('db.sqlite3'), "
    "'site': s.SITE_URL, 'redis': s.REDIS_URL, 'mailer': s.MAILERS['default']['BACKEND'], "
    "'zone': s.TIME_ZONE, 'hosts': s.ALLOWED_HOSTS, 'cache': s.PUBLIC_CACHE_SECONDS, "
    "'reminders': s.WEBINAR_REMINDER_MINUTES, 'level': s.LOGGING['root']['level']}))"
)


def test_settings_take_an_empty_variable_as_unset():
    names = [
        "DATABASE_URL",
        "REDIS_URL",
        "EMAIL_URL",
        "SITE_URL",
        "ALLOWED_HOSTS",
        "TIME_ZONE",
        "PUBLIC_CACHE_SECONDS",
        "WEBINAR_REMINDER_MINUTES",
        "LOG_LEVEL",
        "SECURE_COOKIES",
        "DEFAULT_FROM_EMAIL",
        "S3_BUCKET_NAME",
    ]
    result = run_settings({"DEBUG": "1", **dict.fromkeys(names, "")}, EMPTY_PROBE)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "db": True,
        "site": "http://127.0.0.1:8000",
        "redis": "",
        "mailer": "django.core.mail.backends.console.EmailBackend",
        "zone": "Europe/Berlin",
        "hosts": ["localhost", "127.0.0.1", "[::1]"],
        "cache": 300,
        "reminders": [1440, 60],
        "level": "INFO",
    }
    # And the process runs: `DATABASE_URL=` used to stop it with KeyError: 'ENGINE'.
    checked = manage_check({"DATABASE_URL": "", "REDIS_URL": "", "EMAIL_URL": ""})
    assert checked.returncode == 0, checked.stderr


def test_daphne_stops_with_the_same_one_line_if_a_value_is_malformed():
    clean = {k: v for k, v in os.environ.items() if k not in SERVICE_VARS}
    result = subprocess.run(
        [sys.executable, "-m", "daphne", "-p", "1", "workspace.asgi:application"],
        cwd=ROOT,
        env={**clean, "DEBUG": "1", "REDIS_URL": "cache.internal:6379"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert result.stderr.strip() == (
        "Configuration error: REDIS_URL is not a URL; use redis://host:6379/0 (rediss:// with TLS)."
    )
