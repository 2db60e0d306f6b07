"""Fixtures of the tests in tests/: a real SMTP server, tasks in the database."""

import pytest
from django.tasks import task_backends

from tests.smtp import smtp_server


@pytest.fixture
def smtp():
    """A real SMTP server (aiosmtpd) for this test; ``smtp.messages`` is what it received."""
    with smtp_server() as mailbox:
        yield mailbox


@pytest.fixture
def smtp_mailer(smtp, settings):
    """Django's default mailer sends to ``smtp``, as ``EMAIL_URL=smtp://127.0.0.1:<port>``
    would."""
    settings.MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {"host": "127.0.0.1", "port": smtp.port},
        }
    }
    return smtp


@pytest.fixture
def database_tasks():
    """Tasks go to the database backend (rows for a db_worker), not run at once."""
    from django_tasks_db.backend import DatabaseBackend

    previous = task_backends["default"]
    task_backends["default"] = DatabaseBackend(
        alias="default", params={"BACKEND": "django_tasks_db.DatabaseBackend"}
    )
    yield
    task_backends["default"] = previous
