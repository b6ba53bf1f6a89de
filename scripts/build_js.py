"""Regenerate the minified browser scripts in ``flask_actions/static/``.

``flask-actions.js`` is the core ``fa.script()`` serves: what a plain form
needs. Each ``flask-actions-<name>.js`` beside it is an extra the core loads
when a page first needs it (``FlaskActions.load(name)``). Every source is
minified to ``<same>.min.js`` by terser, which also shortens local names (the
sources keep names that explain themselves; STYLE.md rule 16); the core gets
each extra's Subresource Integrity hash written into its ``INTEGRITY`` table
first, so an extra runs only as built. The minified files are committed, so
users need no build step; building needs Node.js and the terser pinned in
``scripts/package.json``::

    npm ci --prefix scripts             # once: terser into scripts/node_modules
    python scripts/build_js.py          # write the .min.js files, print the sizes
    python scripts/build_js.py --check  # fail if a .min.js is out of date

Each build also writes ``scripts/build-manifest.json``: the sha256 of every
source and of every ``.min.js`` it made from them. ``--check`` rebuilds and
compares where terser is installed; elsewhere (a machine with only Python,
as ``make test`` on a fresh clone) it compares the files with the manifest,
which tells a source edited since the last build, or a ``.min.js`` edited
by hand, from a tree that is built.

Both budgets are checked (min+gzip): the core alone (what every page with
``fa.script()`` fetches), and the whole script, the core and every extra
taken together as one file (what it would weigh unsplit; the split itself
costs a little more over the wire, printed as "sent separately", since each
file is compressed on its own).
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
STATIC = SCRIPTS.parent / "flask_actions" / "static"
TERSER = SCRIPTS / "node_modules" / "terser" / "bin" / "terser"
MANIFEST = SCRIPTS / "build-manifest.json"
CORE = STATIC / "flask-actions.js"
#: What the core (the script on a plain form's path) may weigh, minified and gzipped.
CORE_BUDGET = 6 * 1024
#: What the core and every extra may weigh together, minified and gzipped as one.
TOTAL_BUDGET = 8 * 1024
#: The core's table of the extras' hashes, as its source writes it.
INTEGRITY_SLOT = "const INTEGRITY = {};"


class MinifierMissing(RuntimeError):
    """Node.js or terser is not installed."""


def minifier() -> list[str]:
    """The command that minifies: Node.js running the pinned terser."""
    node = shutil.which("node")
    if node is None or not TERSER.exists():
        raise MinifierMissing(
            "Building the browser scripts needs Node.js and terser: run"
            " npm ci --prefix scripts"
        )
    return [node, str(TERSER)]


def build(source: str, *, licence: bool = True) -> str:
    """Minify a script's source (local names shortened), keeping its ``/*!``
    licence comment (the extras leave theirs out: they run only inside the
    core's page)."""
    done = subprocess.run(
        [*minifier(), "--mangle", "--comments", "/^!/" if licence else "false"],
        input=source,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    if done.returncode != 0:
        raise SystemExit(f"terser failed: {done.stderr}")
    return done.stdout.strip() + "\n"


def gzip_size(data: bytes) -> int:
    """Size of ``data`` compressed as ``gzip -9`` would."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def integrity(data: bytes) -> str:
    """The Subresource Integrity value of ``data``: sha256, the shortest
    that browsers accept (each hash is carried by the core on every page)."""
    return "sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode()


def minified_name(source: Path) -> Path:
    return source.with_name(source.name[: -len(".js")] + ".min.js")


def extra_sources() -> list[Path]:
    """The extras' sources: ``flask-actions-<name>.js``."""
    return sorted(
        path
        for path in STATIC.glob("flask-actions-*.js")
        if not path.name.endswith(".min.js")
    )


def extra_name(source: Path) -> str:
    return source.name[len("flask-actions-") : -len(".js")]


def build_all() -> dict[Path, bytes]:
    """Every ``.min.js`` with its content, the core last (it holds the
    extras' hashes)."""
    built: dict[Path, bytes] = {}
    hashes: dict[str, str] = {}
    for source in extra_sources():
        minified = build(source.read_text(encoding="utf-8"), licence=False).encode()
        built[minified_name(source)] = minified
        hashes[extra_name(source)] = integrity(minified)
    core = CORE.read_text(encoding="utf-8")
    if INTEGRITY_SLOT not in core:
        raise SystemExit(f"{CORE.name} lost its {INTEGRITY_SLOT!r} line")
    table = json.dumps(hashes, separators=(",", ":"))
    filled = core.replace(INTEGRITY_SLOT, INTEGRITY_SLOT.replace("{}", table), 1)
    built[minified_name(CORE)] = build(filled).encode()
    return built


def sizes(built: dict[Path, bytes]) -> tuple[int, int, int]:
    """Min+gzip sizes: the core, the whole script (every file as one), and
    the sum of every file compressed on its own."""
    core = gzip_size(built[minified_name(CORE)])
    whole = gzip_size(b"".join(built.values()))
    return core, whole, sum(gzip_size(data) for data in built.values())


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def manifest_of(built: dict[Path, bytes]) -> dict[str, dict[str, str]]:
    """What a build made from what: the sha256 of each source and output."""
    sources = [*extra_sources(), CORE]
    return {
        "sources": {path.name: sha256(path) for path in sources},
        "built": {
            path.name: hashlib.sha256(data).hexdigest()
            for path, data in sorted(built.items())
        },
    }


def stale_against_manifest() -> list[str]:
    """Without terser: the files whose sha256 is not the manifest's, as a
    person should read them ("... changed since the last build")."""
    if not MANIFEST.exists():
        return [f"{MANIFEST.name} is missing"]
    recorded = json.loads(MANIFEST.read_text(encoding="utf-8"))
    sources = [*extra_sources(), CORE]
    outputs = sorted(STATIC.glob("*.min.js"))
    now = {
        "sources": {path.name: sha256(path) for path in sources},
        "built": {path.name: sha256(path) for path in outputs},
    }
    problems = []
    for kind in ("sources", "built"):
        for name in sorted(set(recorded[kind]) | set(now[kind])):
            if recorded[kind].get(name) != now[kind].get(name):
                problems.append(f"{name} changed since the last build")
    return problems


def check_without_terser() -> int:
    problems = stale_against_manifest()
    for problem in problems:
        print(
            f"{problem}: run npm ci --prefix scripts, then python scripts/build_js.py"
        )
    if problems:
        return 1
    print(f"terser is not installed: the files match {MANIFEST.name}")
    return 0


def main(argv: list[str]) -> int:
    try:
        built = build_all()
    except MinifierMissing as missing:
        if "--check" in argv:
            return check_without_terser()
        print(missing)
        return 2
    stale = [
        path
        for path, data in built.items()
        if not path.exists() or path.read_bytes() != data
    ]
    manifest = json.dumps(manifest_of(built), indent=2, sort_keys=True) + "\n"
    if "--check" in argv:
        for path in stale:
            print(f"{path.name} is out of date: run python scripts/build_js.py")
        if not stale and (
            not MANIFEST.exists() or MANIFEST.read_text(encoding="utf-8") != manifest
        ):
            print(f"{MANIFEST.name} is out of date: run python scripts/build_js.py")
            return 1
        if stale:
            return 1
    else:
        for path in stale:
            path.write_bytes(built[path])
        MANIFEST.write_text(manifest, encoding="utf-8")
    for path, data in built.items():
        source = path.with_name(path.name.replace(".min.js", ".js"))
        print(
            f"{path.name}: raw {source.stat().st_size} B, min {len(data)} B,"
            f" min+gzip {gzip_size(data)} B"
        )
    core, whole, separately = sizes(built)
    print(
        f"core {core} B (budget {CORE_BUDGET} B), whole script {whole} B"
        f" (budget {TOTAL_BUDGET} B), sent separately {separately} B"
    )
    return 0 if core <= CORE_BUDGET and whole <= TOTAL_BUDGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
