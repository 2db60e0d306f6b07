"""core.checks: the patches' libraries are the versions they were tested for,
or core.W001 says which are not and which patches are therefore off."""

from django.core.checks import run_checks
from django.core.checks.registry import registry

from core import checks
from core.checks import TESTED_VERSIONS, check_patched_libraries, patch_applies


def test_check_patched_libraries_is_silent_if_the_tested_versions_are_installed():
    assert check_patched_libraries in registry.get_checks()
    assert check_patched_libraries() == []
    assert "core.W001" not in {message.id for message in run_checks(tags=["compatibility"])}


def test_check_patched_libraries_warns_if_a_library_is_not_the_tested_version():
    expected = {**TESTED_VERSIONS, "autobahn": "1.0.0"}
    [warning] = check_patched_libraries(expected=expected)
    assert warning.id == "core.W001"
    assert f"autobahn {checks.installed_version('autobahn')} (tested: 1.0.0)" in warning.msg
    assert "fan-out frame written once" in warning.msg
    assert "response back-pressure" not in warning.msg  # daphne and Twisted only


def test_check_patched_libraries_warns_if_a_library_is_missing():
    expected = {**TESTED_VERSIONS, "not-a-library-here": "1.0"}
    [warning] = check_patched_libraries(expected=expected)
    assert "not-a-library-here not installed (tested: 1.0)" in warning.msg


def test_a_patch_applies_if_switched_on_and_tested(settings):
    settings.WS_FRAME_ONCE = True
    assert patch_applies("fan-out frame written once")


def test_a_patch_does_not_apply_if_switched_off(settings):
    settings.WS_FRAME_ONCE = False
    assert not patch_applies("fan-out frame written once")


def test_a_patch_does_not_apply_if_a_library_is_not_the_tested_version(settings, monkeypatch):
    settings.WS_FRAME_ONCE = True
    monkeypatch.setitem(TESTED_VERSIONS, "channels", "3.0.0")
    assert not patch_applies("fan-out frame written once")
    assert patch_applies("response back-pressure")  # does not use channels
