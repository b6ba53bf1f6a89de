"""Size of the browser script as served: raw, minified, minified and gzipped."""

from __future__ import annotations

import gzip
from pathlib import Path

STATIC = Path(__file__).resolve().parent.parent / "flask_actions" / "static"


def measure() -> dict[str, int] | None:
    """Byte sizes, or ``None`` when the minified script is not built."""
    minified = STATIC / "flask-actions.min.js"
    if not minified.exists():
        return None
    data = minified.read_bytes()
    sizes = {
        "minified": len(data),
        "gzipped": len(gzip.compress(data, compresslevel=9, mtime=0)),
    }
    source = STATIC / "flask-actions.js"
    if source.exists():
        sizes["source"] = source.stat().st_size
    # Every extra it may load and the core, as one file, in the order
    # scripts/build_js.py checks the whole budget in.
    everything = (
        b"".join(
            path.read_bytes() for path in sorted(STATIC.glob("flask-actions-*.min.js"))
        )
        + data
    )
    sizes["whole gzipped"] = len(gzip.compress(everything, compresslevel=9, mtime=0))
    return sizes
