"""The people and groups fixtures live in ``tests/fixtures/people.py`` (shared by
every app, registered from the root ``conftest.py``); the helpers are
re-exported here for the tests that import them from ``.conftest``."""

from tests.fixtures.people import enable_mfa, join

__all__ = ["enable_mfa", "join"]
