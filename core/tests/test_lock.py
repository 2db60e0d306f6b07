"""The locks: every installed package is the version requirements-dev.lock
pins (what CI tested), and the locks agree with the pins they were made from.
After changing requirements*.txt: `make lock`, then `make install`."""

import re
from importlib import metadata
from pathlib import Path

import pytest
from packaging.markers import Marker
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)\s*(?:;\s*([^\\]+))?")


def pins(path: Path) -> dict[str, str]:
    """The exact pins of a requirements or lock file that apply here (markers
    evaluated), by normalised name."""
    found = {}
    for line in path.read_text().splitlines():
        match = PIN.match(line)
        if match is None:
            continue
        name, version, marker = match.groups()
        if marker and not Marker(marker.strip()).evaluate():
            continue
        found[canonicalize_name(name)] = version
    return found


def test_every_locked_package_is_installed_at_its_locked_version():
    locked = pins(ROOT / "requirements-dev.lock")
    assert len(locked) > 40
    installed = {
        canonicalize_name(dist.metadata["Name"]): dist.version for dist in metadata.distributions()
    }
    differing = {
        name: (installed.get(name), version)
        for name, version in locked.items()
        if installed.get(name) != version
    }
    assert differing == {}, "installed ≠ locked (run make install): " + repr(differing)


@pytest.mark.parametrize(
    ("source", "lock"),
    [
        ("requirements.txt", "requirements.lock"),
        ("requirements-dev.txt", "requirements-dev.lock"),
        ("requirements.lock", "requirements-dev.lock"),
    ],
)
def test_the_lock_holds_every_pin_of_its_source(source, lock):
    wanted, locked = pins(ROOT / source), pins(ROOT / lock)
    assert wanted
    missing = {name: version for name, version in wanted.items() if locked.get(name) != version}
    assert missing == {}, f"{lock} is out of date with {source}: run make lock"


def test_the_lock_pins_the_versions_the_patches_were_tested_for():
    from core.checks import TESTED_VERSIONS

    locked = pins(ROOT / "requirements.lock")
    assert {name: locked[name] for name in TESTED_VERSIONS} == TESTED_VERSIONS
