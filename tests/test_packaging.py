"""The distributions users install: built with ``python -m build``, checked
with ``twine``, and the wheel imported and used from a directory of its own.

The wheel holds the C extension ``flask_actions._slots`` where it could be
compiled, and is pure Python where not (``setup.py``); the tests that need
the extension skip without it. ``FLASK_ACTIONS_REQUIRE_SPEEDUPS=1`` (as
``.ci/run`` sets) makes a failure to compile it fail the build instead."""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PACKAGE_DATA = [
    "flask_actions/py.typed",
    "flask_actions/_slots.pyi",
    "flask_actions/templates/flask_actions/macros.html",
]
if (ROOT / "flask_actions/static/flask-actions.min.js").exists():
    PACKAGE_DATA.append("flask_actions/static/flask-actions.min.js")
SPEEDUPS_SOURCE = "flask_actions/_slots.c"


def build(*args: str | Path, **env: str | None) -> tuple[int, str]:
    """``python -m build`` with ``args`` and these environment variables
    changed (None: removed): its exit status and output."""
    environ = {k: v for k, v in {**os.environ, **env}.items() if v is not None}
    done = subprocess.run(
        [sys.executable, "-m", "build", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        env=environ,
    )
    return done.returncode, done.stdout + done.stderr


def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


def compiled(names: set[str]) -> list[str]:
    """The C extension's files among a wheel's ``names``."""
    return [
        n
        for n in names
        if n.startswith("flask_actions/_slots.") and n.endswith((".so", ".pyd"))
    ]


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    pytest.importorskip("build")
    out = tmp_path_factory.mktemp("dist")
    status, output = build("--outdir", out, ROOT)
    assert status == 0, output
    wheels = list(out.glob("*.whl"))
    sdists = list(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, list(out.iterdir())
    return {"wheel": wheels[0], "sdist": sdists[0]}


@pytest.fixture(scope="module")
def speedups(dist: dict[str, Path]) -> str:
    """The C extension's file in the wheel; skips where it was not built."""
    found = compiled(wheel_names(dist["wheel"]))
    if not found:
        pytest.skip(
            "the C extension was not built (no C compiler or Python headers?);"
            " FLASK_ACTIONS_REQUIRE_SPEEDUPS=1 makes that fail the build"
        )
    assert len(found) == 1, found
    return found[0]


def test_names(dist: dict[str, Path]) -> None:
    assert dist["wheel"].name.startswith("flask_server_actions-")
    assert dist["sdist"].name.startswith("flask_server_actions-")
    # With the C extension the wheel is for this interpreter and platform
    # (cp311-cp311-linux_x86_64); without it, for any Python 3.
    if compiled(wheel_names(dist["wheel"])):
        tag = f"-cp{sys.version_info[0]}{sys.version_info[1]}-"
        assert tag in dist["wheel"].name
    else:
        assert dist["wheel"].name.endswith("-py3-none-any.whl")


def test_wheel_has_the_c_extension(dist: dict[str, Path], speedups: str) -> None:
    names = wheel_names(dist["wheel"])
    assert not dist["wheel"].name.endswith("-py3-none-any.whl")
    # Compiled for this Python: _slots.cpython-311-x86_64-linux-gnu.so
    assert speedups == "flask_actions/_slots" + sysconfig.get_config_var("EXT_SUFFIX")
    # At the top of the wheel (Root-Is-Purelib: false), not under .data/.
    assert not [n for n in names if ".data/" in n]
    assert SPEEDUPS_SOURCE not in names


def test_wheel_contents(dist: dict[str, Path]) -> None:
    with zipfile.ZipFile(dist["wheel"]) as wheel:
        names = set(wheel.namelist())
        info = next(n.split("/")[0] for n in names if ".dist-info/" in n)
        metadata = wheel.read(f"{info}/METADATA").decode()
    for path in PACKAGE_DATA:
        assert path in names
    assert f"{info}/licenses/LICENSE.txt" in names
    assert "flask_actions/cli.py" in names
    # Every module of the source tree: a new subpackage must be added to
    # [tool.setuptools] packages in pyproject.toml.
    modules = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "flask_actions").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert "flask_actions/cache/__init__.py" in modules
    assert modules <= names, sorted(modules - names)
    # The C source is in the sdist only.
    assert not [n for n in names if n.endswith((".c", ".h"))]
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
        # What builds the wheel from the sdist, the C extension with it.
        "setup.py",
        "MANIFEST.in",
        "setup.cfg",
        SPEEDUPS_SOURCE,
        "Makefile",
        "docs/conf.py",
        "docs/index.md",
        "tests/conftest.py",
        "scripts/build_js.py",
        "examples/todos/app.py",
        "benchmarks/__main__.py",
    ]:
        assert path in names, path
    assert not [n for n in names if n.startswith(("docs/_build", "build/"))]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if "node_modules/" in n or "/.next/" in n]
    assert not [n for n in names if "instance/" in n or ".sqlite3" in n]
    # Built in place by an editable install, for this machine only.
    assert not [n for n in names if n.endswith((".so", ".pyd"))]


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
try:
    import flask_actions._slots as speedups
except ImportError:
    speedups = None
print(pathlib.Path(flask_actions.__file__).parent)
print(speedups and speedups.__file__)
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
    where, speedups, html = done.stdout.split("\n", 2)
    assert Path(where) == target / "flask_actions"
    # The wheel's C extension imports on the Python that built it.
    if compiled(wheel_names(dist["wheel"])):
        assert Path(speedups).parent == target / "flask_actions"
    else:
        assert speedups == "None"
    assert '<form method="post"' in html
    assert 'name="_action"' in html
    if "flask_actions/static/flask-actions.min.js" in PACKAGE_DATA:
        assert "flask-actions.min.js" in html


@pytest.fixture(scope="module")
def no_compiler(
    dist: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The sdist unpacked, with C code that no compiler builds, as on a
    platform the C code refuses (it has an #error for big-endian ones)."""
    where = tmp_path_factory.mktemp("no-compiler")
    with tarfile.open(dist["sdist"]) as sdist:
        # The "data" filter where Python has it (3.12+ warns without one).
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
        sdist.extractall(where, **safe)  # type: ignore[arg-type]
    (src,) = where.iterdir()
    with (src / SPEEDUPS_SOURCE).open("a") as source:
        source.write('\n#error "no speedups here (tests/test_packaging.py)"\n')
    return src


def test_without_the_c_extension_the_wheel_is_pure(
    no_compiler: Path, tmp_path: Path
) -> None:
    status, output = build(
        "--wheel",
        "--outdir",
        tmp_path,
        no_compiler,
        FLASK_ACTIONS_REQUIRE_SPEEDUPS=None,
    )
    assert status == 0, output
    assert "WARNING: the C extension flask_actions._slots could not be built" in output
    (wheel,) = tmp_path.glob("*.whl")
    assert wheel.name.endswith("-py3-none-any.whl")
    names = wheel_names(wheel)
    assert not compiled(names)
    assert "flask_actions/slots.py" in names
    assert not [n for n in names if ".data/" in n]
    with zipfile.ZipFile(wheel) as archive:
        info = next(n for n in names if n.endswith(".dist-info/WHEEL"))
        assert "Root-Is-Purelib: true" in archive.read(info).decode()


def test_a_required_c_extension_fails_the_build(
    no_compiler: Path, tmp_path: Path
) -> None:
    status, output = build(
        "--wheel", "--outdir", tmp_path, no_compiler, FLASK_ACTIONS_REQUIRE_SPEEDUPS="1"
    )
    assert status != 0
    # The compiler's own error, not a wrapper's.
    assert SPEEDUPS_SOURCE in output
    assert "WARNING: the C extension" not in output
    assert not list(tmp_path.glob("*.whl"))
