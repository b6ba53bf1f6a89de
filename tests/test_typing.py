from __future__ import annotations

from pathlib import Path

import pytest

mypy_api = pytest.importorskip("mypy.api")

ROOT = Path(__file__).resolve().parent.parent
USAGE = Path(__file__).with_name("typed_usage.py")


def _mypy(*args: str, cache: Path) -> tuple[str, int]:
    stdout, stderr, status = mypy_api.run(
        [
            "--strict",
            "--warn-unused-ignores",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--cache-dir",
            str(cache),
            *args,
        ]
    )
    return stdout + stderr, status


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mypy_cache")


def test_package_ships_py_typed() -> None:
    assert (ROOT / "flask_actions" / "py.typed").is_file()


def test_typed_usage_passes_strict(cache: Path) -> None:
    """The public API types a user's code precisely: the good calls pass and
    every call marked with ``# type: ignore[...]`` is reported (an unused
    ignore would fail)."""
    output, status = _mypy(str(USAGE), cache=cache)
    assert status == 0, output


def test_wrong_call_to_an_action_is_reported(tmp_path: Path, cache: Path) -> None:
    broken = tmp_path / "broken_usage.py"
    broken.write_text(
        USAGE.read_text(encoding="utf-8").replace(
            'add("1", "x")  # type: ignore[arg-type]', 'add("1", "x")'
        ),
        encoding="utf-8",
    )
    output, status = _mypy(str(broken), cache=cache)
    assert status == 1
    assert 'incompatible type "str"; expected "int"' in output
