"""The access-matrix tests' common parts: the ten kinds of person, the status
each gets by default, and the runner that tries every URL as each of them."""

import re

from django.urls import reverse

ACTORS = [
    "anonymous",
    "outsider",
    "other_member",
    "other_moderator",
    "guest",
    "expired_guest",
    "removed_member",
    "member",
    "moderator",
    "organiser",
]
LOGIN = "login"  # a redirect to the sign-in page


def expect(**overrides):
    """Expected status per actor; defaults: a page for the group's people."""
    base = {
        "anonymous": LOGIN,
        "outsider": 404,
        "other_member": 404,
        "other_moderator": 404,
        "guest": 200,
        "expired_guest": 404,
        "removed_member": 404,
        "member": 200,
        "moderator": 200,
        "organiser": 200,
    }
    base.update(overrides)
    return base


def status_of(response) -> int | str:
    if response.status_code == 302 and response["Location"].startswith(reverse("account_login")):
        return LOGIN
    return response.status_code


def assert_matrix(client, people: dict, urls, on_response=None) -> None:
    """GETs every URL as every actor and compares the status with the
    expectation; reports every mismatch at once. ``on_response(url, actor,
    response)`` may check more of an answer."""
    failures = []
    for url, expected in urls:
        for actor in ACTORS:
            client.logout()
            if actor != "anonymous":
                client.force_login(people[actor])
            response = client.get(url)
            got = status_of(response)
            if got != expected[actor]:
                failures.append(f"{url} as {actor}: expected {expected[actor]}, got {got}")
            if on_response is not None:
                on_response(url, actor, response)
    assert not failures, "\n".join(failures)


def without_tokens(html: str) -> str:
    """The page without its per-request CSRF tokens and CSP nonces."""
    html = re.sub(r'nonce="[^"]+"', 'nonce=""', html)
    return re.sub(r"[A-Za-z0-9]{64}", "<token>", html)
