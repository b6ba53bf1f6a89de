"""Streaming actions and upload progress used as their users use them, in
Chromium, with JavaScript on and off (``tests/apps/reports_app.py``,
``docs/streaming.md``): a slow report that shows its progress and its rows
as they come, a failure in the middle, Stop, FlaskActions.call with an
AbortSignal, a closed tab, ``for await`` over FlaskActions.stream, and an
upload on a throttled connection whose progress is seen between 0 and 100."""

from __future__ import annotations

import gc
import sys
import threading
import time
import typing as t
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "apps"))

from reports_app import create_app
from reports_app import Reports
from servers import Tab

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from playwright.sync_api import Page
    from servers import LiveServer

pytestmark = pytest.mark.browser

WAIT = 10

# What the page shows while a request runs, sampled on every change.
WATCH = """() => {
  window.__seen = [];
  const sample = (why) => {
    const bar = document.querySelector('#report-bar');
    const upload = document.querySelector('#upload-bar');
    window.__seen.push({
      why,
      bar: bar && !bar.hidden ? [bar.getAttribute('value'), bar.getAttribute('max')] : null,
      upload: upload && !upload.hidden ? [upload.getAttribute('value'), upload.getAttribute('max')] : null,
      status: document.querySelector('#report-status')?.textContent,
      log: document.querySelector('#report-log')?.textContent,
      busy: document.querySelector('#report')?.getAttribute('aria-busy'),
    });
  };
  new MutationObserver(() => sample('dom')).observe(document.body, {subtree: true, childList: true, attributes: true, characterData: true});
  window.__progress = [];
  document.addEventListener('fa:progress', (event) => window.__progress.push(event.detail.progress));
  window.__chunks = [];
  document.addEventListener('fa:chunk', (event) => window.__chunks.push(event.detail.text ?? event.detail.data));
}"""

PDF = b"%PDF-1.4\n" + b"0" * (1024 * 1024) + b"\n%%EOF\n"


@pytest.fixture
def reports(live_server: Callable[..., LiveServer]) -> LiveServer:
    server = live_server(create_app())
    state(server).row_delay = 0.15
    return server


def state(server: LiveServer) -> Reports:
    return t.cast(Reports, server.app.extensions["reports"])


def open_tab(
    server: LiveServer, browser_page: Callable[..., Page], js: bool = True
) -> Tab:
    tab = Tab(browser_page(js=js), server, js).open()
    if js:
        tab.page.evaluate(WATCH)
        tab.page.wait_for_function("() => FlaskActions.load('progress')")
    return tab


def settle(page: Page) -> None:
    page.wait_for_load_state()
    page.wait_for_function("() => !document.querySelector('[aria-busy=true]')")


def test_a_report_shows_its_progress_and_rows_as_they_come(
    reports: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(reports, browser_page)
    page = tab.page
    page.fill("#rows", "4")
    page.click("#build")
    tab.wait_after()
    seen = page.evaluate("() => window.__seen")
    # The bar moved through every row before the answer was complete.
    bars = [s["bar"] for s in seen if s["bar"] and s["bar"][0] is not None]
    values = [b[0] for b in bars if b[1] == "4"]
    assert [v for i, v in enumerate(values) if v not in values[:i]] == [
        "1",
        "2",
        "3",
        "4",
    ]
    assert any(s["busy"] == "true" and s["log"] == "Row 1: 1\n" for s in seen)
    assert any(s["status"] == "Row 2 of 4 50%" for s in seen)
    assert page.evaluate("() => window.__progress.map(p => p.done)") == [1, 2, 3, 4]
    assert page.evaluate("() => window.__chunks")[:2] == ["Row 1: 1\n", "Row 2: 4\n"]
    # Then the page is what the server renders: the whole log, the bar idle.
    assert (
        page.text_content("#report-log") == "Row 1: 1\nRow 2: 4\nRow 3: 9\nRow 4: 16\n"
    )
    assert page.is_hidden("#report-bar") and page.inner_text("#report-status") == ""
    assert tab.same_document() and len(tab.posts) == 1
    assert tab.violations() == []


def test_without_javascript_the_report_runs_to_the_end_then_the_page_shows_it(
    reports: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(reports, browser_page, js=False)
    page = tab.page
    page.fill("#rows", "3")
    page.click("#build")
    page.wait_for_load_state()
    assert page.text_content("#report-log") == "Row 1: 1\nRow 2: 4\nRow 3: 9\n"
    assert page.url == reports.url + "/"  # the 303 back to the page
    page.fill("#rows", "0")
    page.click("#build")
    page.wait_for_load_state()
    assert "less than or equal to 100" in page.inner_text("#report")
    assert page.input_value("#rows") == "0"


def test_a_failure_in_the_middle_leaves_no_row_and_keeps_what_was_typed(
    reports: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(reports, browser_page)
    page = tab.page
    page.fill("#rows", "14")
    page.click("#build")
    tab.wait_after()
    seen = page.evaluate("() => window.__seen")
    assert any("Row 12: 144" in s["log"] for s in seen)  # it streamed
    assert page.text_content("#report-log") == ""  # nothing stale
    assert "Row 13 is unlucky" in page.inner_text("[data-fa-message], [role=alert]")
    assert page.input_value("#rows") == "14"
    assert page.is_hidden("#report-bar")
    assert tab.result()["status"] == 400


def test_stop_ends_the_report_and_its_generator(
    reports: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(reports, browser_page)
    page = tab.page
    page.fill("#rows", "100")
    page.click("#build")
    page.wait_for_function("() => window.__progress.length >= 2")
    assert page.is_visible("#stop-report")
    page.click("#stop-report")
    tab.wait_after()
    assert state(reports).stopped.wait(WAIT), "the generator's finally did not run"
    assert "Stopped before it finished" in page.inner_text("body")
    assert page.get_attribute("#report", "aria-busy") is None
    assert page.text_content("#report-log") == ""
    assert page.is_hidden("#stop-report")


def test_call_with_an_abort_signal_stops_the_generator(
    reports: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(reports, browser_page)
    outcome = tab.page.evaluate(
        """async () => {
          const abort = new AbortController();
          const seen = [];
          const call = FlaskActions.call(document.body.dataset.forever, {}, {
            signal: abort.signal,
            onProgress: (progress) => { seen.push(progress.done); if (seen.length === 3) abort.abort(); },
          });
          try { await call; return 'resolved'; } catch (error) { return [error.name, seen]; }
        }"""
    )
    assert outcome == ["AbortError", [1, 2, 3]]
    assert state(reports).stopped.wait(WAIT)


def test_closing_the_tab_stops_the_generator(
    reports: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(reports, browser_page)
    tab.page.evaluate(
        """() => { window.__got = 0; FlaskActions.call(document.body.dataset.forever, {}, {
          onProgress: () => window.__got++ }); }"""
    )
    tab.page.wait_for_function("() => window.__got >= 2")
    assert not state(reports).stopped.is_set()
    tab.page.close()
    assert state(reports).stopped.wait(WAIT)


def test_for_await_reads_an_answer_word_by_word(
    reports: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(reports, browser_page)
    events = tab.page.evaluate(
        """async () => {
          const events = [];
          for await (const event of FlaskActions.stream(document.body.dataset.ask, {question: 'why'}))
            events.push(event);
          return events;
        }"""
    )
    words = [e["value"] for e in events if e["type"] == "text"]
    assert "".join(words) == "You asked: why. Here is a slow answer. "
    assert len(words) == 8
    assert events[-1]["type"] == "result"
    assert events[-1]["value"]["data"] == {
        "answer": "You asked: why. Here is a slow answer."
    }


def test_leaving_for_await_early_stops_the_generator(
    reports: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(reports, browser_page)
    count = tab.page.evaluate(
        """async () => {
          let count = 0;
          for await (const event of FlaskActions.stream(document.body.dataset.forever, {})) {
            if (++count === 3) break;
          }
          return count;
        }"""
    )
    assert count == 3
    assert state(reports).stopped.wait(WAIT)


def throttle(page: Page, bytes_per_second: int) -> None:
    session = page.context.new_cdp_session(page)
    session.send("Network.enable")
    session.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 20,
            "downloadThroughput": -1,
            "uploadThroughput": bytes_per_second,
        },
    )


def choose(page: Page, tmp_path: Path, data: bytes = PDF) -> None:
    path = tmp_path / "scan.pdf"
    path.write_bytes(data)
    page.set_input_files("#document", str(path))


def test_an_upload_shows_its_progress_on_a_slow_connection(
    reports: LiveServer, browser_page: Callable[..., Page], tmp_path: Path
) -> None:
    tab = open_tab(reports, browser_page)
    page = tab.page
    throttle(page, 512 * 1024)  # about 2 s for the 1 MiB file
    page.fill("#title", "Scan")
    choose(page, tmp_path)
    page.click("#send")
    tab.wait_after()
    progress = page.evaluate("() => window.__progress")
    total = progress[-1]["total"]
    assert total > len(PDF) and all(p["upload"] for p in progress)
    between = [p["done"] for p in progress if 0 < p["done"] < total]
    assert len(between) >= 2, progress
    seen = page.evaluate("() => window.__seen")
    bars = [s["upload"] for s in seen if s["upload"] and s["upload"][0] is not None]
    assert any(0 < float(value) < float(high) for value, high in bars), bars
    assert page.inner_text("#documents") == f"Scan: {len(PDF)} bytes"
    assert page.is_hidden("#upload-bar")
    assert len(tab.posts) == 1 and tab.same_document()


def test_an_upload_that_fails_keeps_what_was_typed_and_shows_the_errors(
    reports: LiveServer, browser_page: Callable[..., Page], tmp_path: Path
) -> None:
    tab = open_tab(reports, browser_page)
    page = tab.page
    page.fill("#title", "x" * 41)
    choose(page, tmp_path, b"not a pdf at all")
    page.click("#send")
    page.wait_for_function(
        "() => document.querySelector('#upload').getAttribute('aria-busy') === 'true' || window.__events.length"
    )
    tab.wait_after()
    text = page.inner_text("#upload")
    assert "40" in text  # the title's length error
    assert "PDF" in text  # the document's type error
    assert page.input_value("#title") == "x" * 41
    # The chosen file stays chosen (a page cannot choose it again for the user).
    assert page.evaluate("() => document.querySelector('#document').files.length") == 1
    assert page.inner_text("#documents") == ""
    assert tab.events() == ["fa:before upload", "fa:failure upload", "fa:after upload"]
    assert len(tab.posts) == 1


# Werkzeug's multipart parser leaves the file it was writing unclosed when the
# client goes away mid-body (ClientDisconnected; the same with a bare
# werkzeug.Request, Werkzeug 3.1.9): garbage collection closes it. Not ours to
# patch (STYLE rule 14); the rest of the test says what the user sees.
@pytest.mark.filterwarnings(
    "ignore:Exception ignored in. <function SpooledTemporaryFile.__del__"
    ":pytest.PytestUnraisableExceptionWarning"
)
def test_stop_cancels_an_upload(
    reports: LiveServer, browser_page: Callable[..., Page], tmp_path: Path
) -> None:
    tab = open_tab(reports, browser_page)
    page = tab.page
    throttle(page, 128 * 1024)  # 8 s for the file
    page.fill("#title", "Scan")
    choose(page, tmp_path)
    page.click("#send")
    page.wait_for_function("() => window.__progress.some(p => p.done > 0)")
    assert page.get_attribute("#upload", "aria-busy") == "true"
    page.click("#stop-upload")
    tab.wait_after()
    assert "Stopped before it finished" in page.inner_text("body")
    assert page.get_attribute("#upload", "aria-busy") is None
    assert page.input_value("#title") == "Scan"
    page.reload()
    assert page.inner_text("#documents") == ""
    page.close()
    # Let the server finish the cut request, so that Werkzeug's unclosed file
    # (see the mark above) is reclaimed within this test.
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline and any(
        "process_request_thread" in thread.name for thread in threading.enumerate()
    ):
        time.sleep(0.05)
    gc.collect()


def test_an_upload_answered_with_no_content_settles(
    reports: LiveServer, browser_page: Callable[..., Page]
) -> None:
    tab = open_tab(reports, browser_page)
    result = tab.page.evaluate(
        """async () => {
          const data = new FormData();
          data.append('document', new File(['%PDF-1.4 tiny'], 'a.pdf'));
          const result = await FlaskActions.call(document.body.dataset.receipt, data);
          return [result.ok, result.status];
        }"""
    )
    assert result == [True, 204]


def test_an_upload_whose_action_streams_shows_both_as_they_happen(
    reports: LiveServer, browser_page: Callable[..., Page], tmp_path: Path
) -> None:
    tab = open_tab(reports, browser_page)
    page = tab.page
    state(reports).hold = True  # the action waits after its first line
    path = tmp_path / "rows.txt"
    path.write_bytes(
        b"".join(b"row %d " % n + b"x" * 100_000 + b"\n" for n in range(3))
    )
    throttle(page, 512 * 1024)
    page.set_input_files("#rows-file", str(path))
    page.click("#import-button")
    # The first line's progress and text reach the page while the action
    # waits: the answer to an upload streams too.
    page.wait_for_function(
        "() => window.__progress.some(p => !p.upload && p.done === 1)"
        " && document.querySelector('#import-log').textContent.startsWith('Imported row 0')"
    )
    assert page.get_attribute("#import", "aria-busy") == "true"
    progress = page.evaluate("() => window.__progress")
    assert any(p.get("upload") for p in progress)  # the upload's came first
    state(reports).go.set()
    tab.wait_after()
    assert tab.result()["data"]["imported"] == 3
    assert (
        page.text_content("#import-log")
        == "Imported row 0\nImported row 1\nImported row 2\n"
    )
    assert page.is_hidden("#import-bar")


def test_stop_ends_an_upload_whose_answer_streams(
    reports: LiveServer, browser_page: Callable[..., Page], tmp_path: Path
) -> None:
    tab = open_tab(reports, browser_page)
    page = tab.page
    state(reports).hold = True
    path = tmp_path / "rows.txt"
    path.write_bytes(b"one\ntwo\n")
    page.set_input_files("#rows-file", str(path))
    page.click("#import-button")
    page.wait_for_function(
        "() => window.__progress.some(p => !p.upload && p.done === 1)"
    )
    page.click("#stop-import")
    tab.wait_after()
    state(reports).go.set()
    assert "Stopped before it finished" in page.inner_text("body")
    assert page.get_attribute("#import", "aria-busy") is None
    assert page.text_content("#import-log") == ""
    assert page.is_hidden("#import-bar")
