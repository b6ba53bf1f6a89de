"""The documentation builds without a warning, and its samples run.

Samples: in each page listed in ``SAMPLE_PAGES``, every ```` ```python ````
block runs, in order, in one namespace per page, inside a fresh directory.
A block preceded by an HTML comment may be steered:

- ``<!-- file: templates/index.html -->`` writes the block (any language) to
  that path first, so ``Flask(__name__)`` finds the page's templates there;
- ``<!-- skip -->`` leaves a python block out (a fragment that cannot run
  alone: it is the rare exception);
- ``<!-- requires: flask 3.1 -->`` runs it only with that version of a
  distribution or a later one (for features of newer dependencies).

Samples check themselves with ``assert``; the test fails on any exception.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
import traceback
import typing as t
from importlib import metadata
from pathlib import Path

import pytest
from flask import Flask
from jinja2 import TemplateSyntaxError

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: The pages whose python samples run here (pages maintained with their own
#: tests, such as browser.md, are built but not executed).
SAMPLE_PAGES = [
    "index",
    "quickstart",
    "actions",
    "templates",
    "validation",
    "revalidation",
    "signals",
    "deployment",
    "streaming",
    "testing",
    "configuration",
    "migrating",
    "nextjs",
    "idempotency",
]

_FENCE = re.compile(
    r"(?:<!--(?P<directive>[^>]*)-->\s*\n)?"
    r"^(?P<fence>`{3,})(?P<lang>[^\s`{]*)[^\n]*\n(?P<code>.*?)^(?P=fence)\s*$",
    re.MULTILINE | re.DOTALL,
)


@dataclasses.dataclass
class Block:
    lang: str
    code: str
    line: int
    directive: str

    @property
    def runs(self) -> bool:
        if self.lang != "python" or self.directive == "skip":
            return False
        match = re.fullmatch(r"requires:\s*(\S+)\s+([\d.]+)", self.directive)
        if match is None:
            return True
        installed = _version_tuple(metadata.version(match.group(1)))
        return installed >= _version_tuple(match.group(2))

    @property
    def file(self) -> str | None:
        match = re.fullmatch(r"file:\s*(\S+)", self.directive)
        return match.group(1) if match else None


def _version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def blocks(page: str) -> list[Block]:
    text = (DOCS / f"{page}.md").read_text(encoding="utf-8")
    found = []
    for match in _FENCE.finditer(text):
        line = text.count("\n", 0, match.start("code")) + 1
        found.append(
            Block(
                lang=match.group("lang"),
                code=match.group("code"),
                line=line,
                directive=(match.group("directive") or "").strip(),
            )
        )
    return found


def test_every_page_has_runnable_samples_or_none() -> None:
    for page in SAMPLE_PAGES:
        directives = {b.directive for b in blocks(page)}
        unknown = {
            d
            for d in directives
            if d and d != "skip" and not d.startswith(("file:", "requires:"))
        }
        assert not unknown, f"{page}.md: unknown sample directives {unknown}"


@pytest.mark.parametrize("page", SAMPLE_PAGES)
def test_samples_run(
    page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    found = blocks(page)
    for block in found:
        if block.file:
            path = tmp_path / block.file
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(block.code, encoding="utf-8")
    namespace: dict[str, t.Any] = {"__name__": f"docs_sample_{page}"}
    for block in found:
        if not block.runs:
            continue
        # Padded so that tracebacks name the line in the Markdown file.
        source = "\n" * (block.line - 1) + block.code
        code = compile(source, str(DOCS / f"{page}.md"), "exec")
        try:
            exec(code, namespace)
        except Exception as e:
            where = traceback.extract_tb(e.__traceback__)
            lines = [f.lineno for f in where if f.filename == code.co_filename]
            raise AssertionError(
                f"The sample at docs/{page}.md line {block.line} failed on line"
                f" {lines[-1] if lines else '?'}: {e!r}"
            ) from e


@pytest.mark.parametrize("page", SAMPLE_PAGES)
def test_template_samples_parse(page: str) -> None:
    """Template fragments that no sample renders are at least valid Jinja."""
    env = Flask(__name__).jinja_env
    for block in blocks(page):
        if block.lang == "html+jinja":
            try:
                env.parse(block.code)
            except TemplateSyntaxError as e:
                raise AssertionError(
                    f"The template at docs/{page}.md line {block.line + e.lineno - 1}"
                    f" is not valid Jinja: {e.message}"
                ) from e


def test_sphinx_build_without_warnings(tmp_path: Path) -> None:
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sphinx",
            "-W",
            "--keep-going",
            "-q",
            "-b",
            "html",
            "-d",
            str(tmp_path / "doctrees"),
            str(DOCS),
            str(tmp_path / "html"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "html" / "index.html").is_file()
    assert (tmp_path / "html" / "api.html").is_file()


def _config_keys_in_package() -> set[str]:
    keys: set[str] = set()
    for path in (ROOT / "flask_actions").rglob("*.py"):
        keys |= set(re.findall(r"\"(ACTIONS_[A-Z0-9_]+)\"", path.read_text("utf-8")))
    return {k for k in keys if not k.endswith("_")}  # not prefixes


def test_configuration_page_lists_every_key() -> None:
    documented = (DOCS / "configuration.md").read_text(encoding="utf-8")
    keys = _config_keys_in_package()
    assert "ACTIONS_SECRET_KEY" in keys
    missing = sorted(k for k in keys if f"`{k}`" not in documented)
    assert not missing, f"docs/configuration.md does not document {missing}"
