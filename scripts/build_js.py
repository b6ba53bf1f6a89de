"""Regenerate ``flask_actions/static/flask-actions.min.js`` from its source.

The minified file is what ``fa.script()`` serves. It is committed, so users
need no build step; this script only needs Python and ``rjsmin`` (pure Python,
in the ``test`` extra)::

    python scripts/build_js.py          # write the .min.js, print the sizes
    python scripts/build_js.py --check  # fail if the .min.js is out of date
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import rjsmin

STATIC = Path(__file__).resolve().parent.parent / "flask_actions" / "static"
SOURCE = STATIC / "flask-actions.js"
TARGET = STATIC / "flask-actions.min.js"
#: What the served script may weigh, minified and gzipped.
BUDGET = 6 * 1024


def build(source: str) -> str:
    """Minify the script's source, keeping its ``/*!`` licence comment."""
    return rjsmin.jsmin(source, keep_bang_comments=True).strip() + "\n"


def gzip_size(data: bytes) -> int:
    """Size of ``data`` compressed as ``gzip -9`` would."""
    return len(gzip.compress(data, compresslevel=9, mtime=0))


def main(argv: list[str]) -> int:
    minified = build(SOURCE.read_text(encoding="utf-8")).encode()
    if "--check" in argv:
        if not TARGET.exists() or TARGET.read_bytes() != minified:
            print(f"{TARGET.name} is out of date: run python scripts/build_js.py")
            return 1
    else:
        TARGET.write_bytes(minified)
    raw = SOURCE.stat().st_size
    packed = gzip_size(minified)
    print(
        f"raw {raw} B, min {len(minified)} B, min+gzip {packed} B (budget {BUDGET} B)"
    )
    return 0 if packed < BUDGET else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
