"""The distributions users install: built with ``python -m build``, checked
with ``twine``, and the wheel imported and used from a directory of its own."""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = [
    "flask_actions/py.typed",
    "flask_actions/templates/flask_actions/macros.html",
]
if (ROOT / "flask_actions/static/flask-actions.min.js").exists():
    PACKAGE_DATA.append("flask_actions/static/flask-actions.min.js")


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    wheels = list(out.glob("*.whl"))
    sdists = list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


def test_names(dist: dict[str, Path]) -> None:
    assert dist["wheel"].name.startswith("flask_server_actions-")
    assert dist["wheel"].name.endswith("-py3-none-any.whl")
    assert dist["sdist"].name.startswith("flask_server_actions-")


def test_wheel_contents(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
        info = next(n.split("/")[0] for n in names if ".dist-info/" in n)
        metadata = wheel.read(f"{info}/METADATA").decode()
    for path in PACKAGE_DATA:
        assert path in names
    assert f"{info}/licenses/LICENSE.txt" in names
    assert "flask_actions/cli.py" in names
    assert not [n for n in names if n.startswith(("tests/", "docs/", "examples/"))]
    assert not [n for n in names if "__pycache__" in n]
    assert "Name: flask-server-actions" in metadata
    assert "Requires-Dist: flask>=3.0" in metadata
    assert "Provides-Extra: cache" in metadata
    # What working on the project needs is in dependency groups, not extras.
    assert not [
        e for e in ("test", "docs", "bench", "dev") if f"Extra: {e}\n" in metadata
    ]


def test_sdist_contents(dist: dict[str, Path]) -> None:
    with tarfile.open(dist["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    for path in [
        *PACKAGE_DATA,
        "LICENSE.txt",
        "CHANGES.md",
        "README.md",
        "pyproject.toml",
        "docs/conf.py",
        "docs/index.md",
        "tests/conftest.py",
    ]:
        assert path in names, path
    assert not [n for n in names if n.startswith("docs/_build")]
    assert not [n for n in names if "__pycache__" in n]


def test_twine_check(dist: dict[str, Path]) -> None:
    pytest.importorskip("twine")
    done = subprocess.run(
        [sys.executable, "-m", "twine", "check", "--strict", *map(str, dist.values())],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("PASSED") == 2


def test_installed_wheel_works(dist: dict[str, Path], tmp_path: Path) -> None:
    """The wheel alone (no source tree) serves its templates and script."""
    target = tmp_path / "site"
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        wheel.extractall(target)
    script = """
import flask_actions, pathlib
from flask import Flask, render_template_string
from flask_actions import ActionExtension
app = Flask("demo")
app.config["SECRET_KEY"] = "s" * 32
ext = ActionExtension(app)

@ext.action
def ping():
    return "pong"

with app.test_request_context():
    html = render_template_string(
        '{% import "flask_actions/macros.html" as fa %}'
        '{{ fa.form(action("ping")) }}{{ fa.script() }}'
    )
print(pathlib.Path(flask_actions.__file__).parent)
print(html)
"""
    env = {**os.environ, "PYTHONPATH": str(target)}
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    where, html = done.stdout.split("\n", 1)
    assert Path(where) == target / "flask_actions"
    assert '<form method="post"' in html
    assert 'name="_action"' in html
    if "flask_actions/static/flask-actions.min.js" in PACKAGE_DATA:
        assert "flask-actions.min.js" in html
