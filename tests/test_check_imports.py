"""scripts/check_imports.py: every import counts, top-level, type-only and
function-local, and a cycle fails the check."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "check_imports.py"


def _package(tmp_path: Path, modules: dict[str, str]) -> Path:
    package = tmp_path / "pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, source in modules.items():
        (package / f"{name}.py").write_text(source)
    return package


def _check(package: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(package)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_a_package_without_cycles_passes(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {"low": "import json\n", "high": "from . import low\nfrom .low import x\n"},
    )
    checked = _check(package)
    assert checked.returncode == 0, checked.stdout
    assert "3 modules, no import cycle." in checked.stdout


def test_a_type_only_import_back_is_a_cycle(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "low": "import typing as t\nif t.TYPE_CHECKING:\n    from .high import H\n",
            "high": "from .low import L\n",
        },
    )
    checked = _check(package)
    assert checked.returncode == 1
    assert "pkg.high -> pkg.low" in checked.stdout
    assert "pkg.low -> pkg.high" in checked.stdout


def test_a_function_local_import_back_is_a_cycle(tmp_path: Path) -> None:
    package = _package(
        tmp_path,
        {
            "a": "def f():\n    from . import c\n",
            "b": "from .a import f\n",
            "c": "from pkg.b import g\n",
        },
    )
    checked = _check(package)
    assert checked.returncode == 1
    assert "import cycle among 3 modules" in checked.stdout


def test_flask_actions_has_no_import_cycle() -> None:
    checked = _check(SCRIPT.parent.parent / "flask_actions")
    assert checked.returncode == 0, checked.stdout
    assert "no import cycle." in checked.stdout


def test_a_cycle_added_to_a_copy_of_flask_actions_fails(tmp_path: Path) -> None:
    """The check of the real package can fail: its copy, with the lowest
    module (codec) importing the request walk back, has a cycle."""
    copy = tmp_path / "flask_actions"
    shutil.copytree(SCRIPT.parent.parent / "flask_actions", copy)
    codec = copy / "codec.py"
    codec.write_text(
        codec.read_text(encoding="utf-8")
        + "\n\ndef _late() -> None:\n    from . import dispatch  # noqa: F401\n",
        encoding="utf-8",
    )
    checked = _check(copy)
    assert checked.returncode == 1
    assert "flask_actions.codec -> flask_actions.dispatch" in checked.stdout
