"""Project-wide test setup.

``STRICT_TESTS=1`` (set by .ci/run) turns every skip into a failure: a test that
cannot run here must say why, and in CI it must not pass silently.
"""

import os

import pytest

# People and groups (member, moderator, guest, outsider, group, published...)
# for every app's tests.
pytest_plugins = ["tests.fixtures.people", "tests.fixtures.media"]

STRICT = os.environ.get("STRICT_TESTS") == "1"


def pytest_configure(config):
    """Each test run gets Redis names of its own (the default prefix "test"
    becomes "test-<pid>-<random>"): runs that share a Redis (several people on
    one machine, parallel CI jobs) would otherwise deliver each other's socket
    events (their room and user ids overlap) and empty each other's keys
    (``_fresh_cache``). Child servers (daphne) inherit it through the environment."""
    if os.environ.get("REDIS_PREFIX") != "test":
        return  # chosen explicitly
    import uuid

    from django.conf import settings

    prefix = f"test-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    os.environ["REDIS_PREFIX"] = prefix
    if settings.REDIS_URL:
        settings.CACHES["default"]["KEY_PREFIX"] = prefix
        settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"] = prefix


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if STRICT and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"Skipped under STRICT_TESTS=1, where every test must run: {reason}"


@pytest.fixture
def password():
    return "correct-horse-battery-staple"


@pytest.fixture
def make_user(db, password):
    """Creates an active user with a verified primary email address."""
    from allauth.account.models import EmailAddress

    from accounts.models import User

    counter = iter(range(1, 10_000))

    def make(email=None, **fields):
        email = email or f"person{next(counter)}@example.org"
        fields.setdefault("display_name", email.split("@")[0].title())
        user = User.objects.create_user(email=email, password=password, **fields)
        EmailAddress.objects.create(user=user, email=user.email, verified=True, primary=True)
        return user

    return make


@pytest.fixture
def user(make_user):
    return make_user("member@example.org", display_name="Mia Member")


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    """Each test starts with an empty cache: rate-limit counters must not leak
    from one test (or one run, on Redis) into the next."""
    from django.core.cache import cache

    if settings.CACHES["default"]["BACKEND"].endswith("RedisCache"):
        client = cache._cache.get_client(write=True)
        pattern = f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:*"
        keys = list(client.scan_iter(match=pattern, count=1000))
        if keys:
            client.delete(*keys)
    else:
        cache.clear()
    yield
