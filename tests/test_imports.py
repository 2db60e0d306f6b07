"""The layers between apps (DESIGN.md, STYLE.md): core < accounts < groups <
discussions, documents, meetings < notifications < home; an app imports only from the layers
below it,
lazily or not. The import-linter contracts in pyproject.toml state them;
``lint-imports`` checks them here, so ``make test`` fails on a cycle as CI does."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def copy_of_the_apps(target: Path) -> None:
    """The apps' Python files and the contracts, without anything else."""
    shutil.copy(ROOT / "pyproject.toml", target)
    for package in _config()["root_packages"]:
        for source in (ROOT / package).rglob("*.py"):
            destination = target / source.relative_to(ROOT)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, destination)


def test_layer_contract_states_the_design_order():
    (layers,) = [c for c in _config()["contracts"] if c["type"] == "layers"]
    assert layers["layers"] == [
        "workspace",
        "home | public_pages",
        "notifications",
        "webinars",
        "discussions | documents | meetings | results",
        "groups",
        "accounts",
        "core",
    ]


def test_lint_imports_keeps_every_contract():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_lint_imports_fails_if_accounts_imports_groups_lazily(tmp_path):
    copy_of_the_apps(tmp_path)
    (tmp_path / "accounts" / "probe.py").write_text(
        "def invitation(request):\n"
        "    from groups.services import invitation_from_session\n\n"
        "    return invitation_from_session(request.session)\n"
    )
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "accounts is not allowed to import groups" in result.stdout
    assert "accounts.probe -> groups.services" in result.stdout


def test_lint_imports_fails_if_documents_reads_discussions_permissions(tmp_path):
    copy_of_the_apps(tmp_path)
    (tmp_path / "documents" / "probe.py").write_text(
        "from discussions.permissions import threads_visible_to\n"
    )
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "documents.probe -> discussions.permissions" in result.stdout


def test_lint_imports_fails_if_meetings_imports_the_home_app(tmp_path):
    copy_of_the_apps(tmp_path)
    (tmp_path / "meetings" / "probe.py").write_text("from home.search import search_everything\n")
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "meetings.probe -> home.search" in result.stdout


def test_lint_imports_fails_if_discussions_imports_notifications(tmp_path):
    copy_of_the_apps(tmp_path)
    (tmp_path / "discussions" / "probe.py").write_text(
        "from notifications.services import notify_post_created\n"
    )
    result = lint_imports(tmp_path)
    assert result.returncode != 0
    assert "discussions.probe -> notifications.services" in result.stdout
