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
    "'conn_max_age': d.get('CONN_MAX_AGE')}))"
)


def test_postgresql_connections_come_from_a_pool_unless_turned_off():
    env = {"DEBUG": "1", "DATABASE_URL": "postgres://someone@db.internal:5432/workspace"}
    result = run_settings(env, POOL_PROBE)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "pool": {"min_size": 2, "max_size": 20, "timeout": 10.0},
        "conn_max_age": 0,
    }
    result = run_settings({**env, "DATABASE_POOL_SIZE": "0", "CONN_MAX_AGE": "60"}, POOL_PROBE)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"pool": None, "conn_max_age": 60}


@pytest.mark.django_db(transaction=True)
def test_on_postgresql_the_connection_in_use_is_pooled():
    if connection.vendor != "postgresql":
        pytest.skip("the pool is PostgreSQL's (set DATABASE_URL=postgres://…)")
    assert connection.pool is not None
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    connection.close()  # back to the pool, still open
    assert connection.pool.get_stats()["pool_available"] >= 1
