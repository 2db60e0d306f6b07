"""German and English throughout."""

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def test_login_page_is_german_if_browser_prefers_german(client):
    page = client.get(reverse("account_login"), HTTP_ACCEPT_LANGUAGE="de-DE,de;q=0.9")
    assert '<html lang="de">' in page.text
    assert "<h1>Anmelden</h1>" in page.text
    assert "Ihr Konto erhalten Sie mit einer Einladung" in page.text
    assert 'for="id_password">Passwort' in page.text


def test_language_switch_turns_the_next_page_german(client):
    response = client.post(
        reverse("accounts:set_language"), {"language": "de", "next": reverse("account_login")}
    )
    assert response.status_code == 302
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "de"
    assert "<h1>Anmelden</h1>" in client.get(reverse("account_login")).text


def test_language_switch_is_kept_in_profile_if_signed_in(client, user):
    client.force_login(user)
    client.post(reverse("accounts:set_language"), {"language": "de", "next": "/"})
    user.refresh_from_db()
    assert user.language == "de"
    client.cookies.pop(settings.LANGUAGE_COOKIE_NAME)  # the profile alone decides now
    assert "<h1>Meine Gruppen</h1>" in client.get(reverse("groups:dashboard")).text


def test_language_switch_ignores_unknown_language(client, user):
    client.force_login(user)
    response = client.post(reverse("accounts:set_language"), {"language": "xx", "next": "/"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.language == ""


def test_profile_language_wins_over_browser(client, make_user):
    german = make_user(language="de")
    client.force_login(german)
    page = client.get(reverse("groups:dashboard"), HTTP_ACCEPT_LANGUAGE="en")
    assert "<h1>Meine Gruppen</h1>" in page.text


@pytest.mark.skipif(not shutil.which("xgettext"), reason="GNU gettext (xgettext) is not installed")
def test_german_catalog_translates_every_string(tmp_path):
    """Extracts the strings afresh from a copy of the code and finds none
    without a German translation."""
    copy = tmp_path / "src"
    ignore = shutil.ignore_patterns(".venv", "node_modules", "*.mo", "__pycache__", ".git")
    shutil.copytree(ROOT, copy, ignore=ignore, symlinks=True)
    subprocess.run(
        [
            sys.executable,
            "manage.py",
            "makemessages",
            "-l",
            "de",
            "--no-location",
            "--ignore",
            "tests",
            "--ignore",
            "bench",
            "-v0",
        ],
        cwd=copy,
        check=True,
        env={"DEBUG": "1", "PATH": "/usr/bin:/bin"},
    )
    result = subprocess.run(
        [
            "msgattrib",
            "--untranslated",
            "--only-fuzzy",
            "--no-obsolete",
            str(copy / "locale/de/LC_MESSAGES/django.po"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    untranslated = subprocess.run(
        [
            "msgattrib",
            "--untranslated",
            "--no-obsolete",
            str(copy / "locale/de/LC_MESSAGES/django.po"),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    missing = [line for line in untranslated.stdout.splitlines() if line.startswith("msgid ")]
    missing = [line for line in missing if line != 'msgid ""'] + [
        line
        for line in result.stdout.splitlines()
        if line.startswith("msgid ") and line != 'msgid ""'
    ]
    assert not missing, f"Strings without German translation: {missing}"
