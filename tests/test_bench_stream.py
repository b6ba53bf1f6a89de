"""The streaming benchmark (``benchmarks/bench_stream.py``) measures what it
says: its app streams every event and ends with the result, and a client
reading a long stream holds no more memory than one reading a short one."""

from __future__ import annotations

import tracemalloc

from benchmarks import bench_stream


def test_the_stream_bench_reads_every_event_and_the_result() -> None:
    client = bench_stream._Client(bench_stream._app())
    elapsed, events = client.whole(1000)
    assert events == 1000 and elapsed > 0
    assert client.first_event(1000) > 0 and client.plain() > 0


def test_memory_stays_flat_however_long_the_stream() -> None:
    client = bench_stream._Client(bench_stream._app())
    peaks = []
    for count in (1_000, 20_000):
        client.whole(count)
        tracemalloc.start()
        client.whole(count)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    # 20 times the events, not 20 times the memory: the backlog is bounded.
    assert peaks[1] < 1.5 * peaks[0], peaks
