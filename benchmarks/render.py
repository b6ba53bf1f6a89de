"""Render time of a page of 1,000 rows with a bound ``fa.button`` each,
against the same page written by hand with hidden inputs.

Both pages come from one app (``benchmarks/apps/render.py``) through its test
client, interleaved, and the median of the rounds is reported.
"""

from __future__ import annotations

import statistics
import time

from .apps.render import create_app


def measure(rounds: int = 30, csrf: bool = True) -> dict[str, float]:
    """Median milliseconds per page: ``{"fa_button": ..., "hand_written": ...,
    "floor": ...}`` (``floor``: the template's two calls a row doing nothing)."""
    app = create_app(csrf)
    client = app.test_client()
    paths = {
        "fa_button": "/rows",
        "hand_written": "/rows-plain",
        "floor": "/rows-floor",
    }
    for path in paths.values():  # warm-up: template compilation, keys
        for _ in range(3):
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"GET {path} answered {response.status_code}.")
    samples: dict[str, list[float]] = {key: [] for key in paths}
    for _ in range(rounds):
        for key, path in paths.items():
            start = time.process_time()
            client.get(path)
            samples[key].append((time.process_time() - start) * 1000)
    return {key: statistics.median(values) for key, values in samples.items()}
