"""The guard of the workspace's patches of library internals.

``core.daphne_http`` (response back-pressure, Twisted's form parsing off, the
request body read from Twisted's file) and ``core.daphne_ws`` with the
consumer's fast path in ``core.consumers`` (a fan-out frame written once) rely
on internals of daphne, Twisted, autobahn and channels that no release
promises to keep; ``core.daphne_http``'s handler (one thread per request)
on how Django's handler builds and calls its middleware chain. Each patch is
applied only when its setting is on *and* the libraries it relies on are
installed at the versions it was written and tested for (``TESTED_VERSIONS``,
the versions the lock pins); otherwise the libraries work as they come, and
``check_patched_libraries`` warns (``core.W001``) on every ``manage.py check`` and server start.
"""

import functools
from importlib import metadata

from django.conf import settings
from django.core.checks import Tags, register
from django.core.checks import Warning as CheckWarning

# The versions the patches were written and tested for: the ones
# requirements.lock pins. After an upgrade, run the tests of the patches
# (core/tests/test_daphne_http.py, test_daphne_ws.py, test_consumers.py,
# test_one_thread.py) and
# the benchmarks they name, then move these.
TESTED_VERSIONS = {
    "daphne": "4.2.3",
    "twisted": "26.10.0",
    "autobahn": "26.11.1",
    "channels": "4.3.2",
    "django": "6.1.3",
    "asgiref": "3.13.0",
}

# Each patch: its off switch (a setting) and the libraries whose internals it uses.
PATCHES = {
    "response back-pressure": ("DAPHNE_BACKPRESSURE", ("daphne", "twisted")),
    "Twisted's form parsing off": ("DAPHNE_SKIP_FORM_PARSING", ("daphne", "twisted")),
    "request body from Twisted's file": ("DAPHNE_UPLOAD_FROM_FILE", ("daphne", "twisted")),
    "body limits": ("DAPHNE_BODY_LIMITS", ("daphne", "twisted")),
    "one thread per request": ("ASGI_ONE_THREAD", ("django", "asgiref")),
    "fan-out frame written once": (
        "WS_FRAME_ONCE",
        ("daphne", "twisted", "autobahn", "channels"),
    ),
}


@functools.cache
def installed_version(library: str) -> str | None:
    """The installed version of ``library``; None if it is not installed."""
    try:
        return metadata.version(library)
    except metadata.PackageNotFoundError:
        return None


def untested_libraries(
    libraries=None, expected: dict[str, str] = TESTED_VERSIONS
) -> dict[str, str | None]:
    """Of ``libraries`` (default: all of ``expected``), those installed at
    another version than ``expected`` names, with the installed version (None:
    not installed)."""
    names = expected if libraries is None else libraries
    return {
        name: installed_version(name)
        for name in names
        if installed_version(name) != expected.get(name)
    }


def patch_applies(patch: str) -> bool:
    """Whether ``patch`` (a key of ``PATCHES``) is to be applied: its setting
    is on and its libraries are the tested versions. Read when the patch is
    set up (settings are read then, not at import)."""
    setting, libraries = PATCHES[patch]
    return bool(getattr(settings, setting)) and not untested_libraries(libraries)


@register(Tags.compatibility)
def check_patched_libraries(app_configs=None, *, expected=TESTED_VERSIONS, **kwargs):
    """core.W001 when a library that a patch relies on is not at the version
    the patch was tested for: the patch is then not applied."""
    differing = untested_libraries(expected=expected)
    if not differing:
        return []
    found = ", ".join(
        f"{name} {version or 'not installed'} (tested: {expected[name]})"
        for name, version in sorted(differing.items())
    )
    affected = sorted(
        patch
        for patch, (_setting, libraries) in PATCHES.items()
        if any(name in differing for name in libraries)
    )
    return [
        CheckWarning(
            f"Untested versions of patched libraries: {found}. These patches are "
            f"not applied, daphne and channels work as they come: {', '.join(affected)}.",
            hint=(
                "Install from requirements.lock (make install), or re-test the patches "
                "with these versions and update core.checks.TESTED_VERSIONS."
            ),
            id="core.W001",
        )
    ]
