/*! flask-actions progress | BSD-3-Clause | docs/streaming.md */
// An extra of flask-actions.js (loaded by FlaskActions.load('progress')): how
// answers travel beyond a plain form's JSON. FlaskActions.call and
// FlaskActions.stream; an answer that is not JSON (a file, a page); and how
// far a request is. A body with files is sent with XMLHttpRequest, whose
// upload events fetch lacks; a streamed answer (text/event-stream, see
// docs/streaming.md) is read piece by piece. Progress goes to the form's
// <progress> elements, or to what its data-fa-progress names (a <progress>
// gets value and max, anything else the text), to fa:progress events and to
// a call's onProgress; text pieces append to what data-fa-stream names. When
// the answer is complete those elements are as before, and the core applies
// the result as for any action: the page decides what stays.
(() => {
  'use strict';
  const { emit, find, send, apply, renewable, csrfMeta, PAGE_HEADER } = FlaskActions.internal;
  const STOPPED = 'Stopped before it finished.';
  const stoppers = new Map(); // form -> how to stop its request in flight

  const stopped = () => ({ ok: false, status: 0, errors: {}, message: STOPPED });

  document.addEventListener('click', (event) => {
    const button = event.target.closest?.('[data-fa-cancel]');
    const stop = button && stoppers.get(button.form || button.closest('form'));
    if (stop) {
      event.preventDefault();
      stop();
    }
  });

  // The elements showing one request, with what they showed before it.
  function view(watch) {
    const form = watch.form;
    if (!watch.view) {
      let targets = [];
      try {
        const named = form?.getAttribute('data-fa-progress');
        targets = form ? [...(named ? document.querySelectorAll(named) : form.querySelectorAll('progress'))] : [];
      } catch {} // a selector the page got wrong shows nothing
      watch.view = { shown: targets.map((target) => [target, target.hidden, target.textContent]) };
    }
    return watch.view;
  }

  function report(watch, kind, value) {
    const form = watch.form;
    const shown = view(watch);
    if (kind === 'progress') {
      watch.onProgress?.(value);
      for (const [target] of shown.shown) {
        target.hidden = false;
        if (target.nodeName !== 'PROGRESS')
          target.textContent = (value.message || '') + (value.total > 0 ? ' ' + Math.floor((100 * value.done) / value.total) + '%' : '');
        else if (value.total > 0) {
          target.max = value.total;
          target.value = value.done;
        }
      }
    }
    const text = kind === 'text' && find(form?.getAttribute('data-fa-stream'));
    if (text) {
      if (!shown.text) shown.text = [text, text.textContent, (text.textContent = '')];
      text.append(value);
    }
    watch.onEvent?.({ type: kind, value });
    if (form) emit(form, kind === 'progress' ? 'progress' : 'chunk', { form, [kind]: value });
  }

  // The page as before the request; streamed text stays after a success
  // (the page update, when there is one, has the last word).
  function restore(watch, succeeded) {
    const { shown, text } = watch.view || { shown: [] };
    for (const [target, hidden, before] of shown) {
      target.hidden = hidden;
      if (target.nodeName === 'PROGRESS') target.removeAttribute('value');
      else target.textContent = before;
    }
    if (text && !succeeded) text[0].textContent = text[1];
    watch.view = null;
  }

  // Reads a text/event-stream answer: each piece reported as it arrives,
  // the `result` event is the action's JSON result.
  async function read(response, watch = {}) {
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    const form = watch.form;
    let result;
    let buffer = '';
    if (form) stoppers.set(form, () => reader.cancel());
    try {
      for (let chunk; !(chunk = await reader.read()).done; ) {
        buffer += chunk.value;
        for (let end; (end = buffer.indexOf('\n\n')) >= 0; buffer = buffer.slice(end + 2)) {
          const block = buffer.slice(0, end);
          const kind = /^event: (\w+)/m.exec(block)?.[1];
          const data = /^data: (.*)/m.exec(block)?.[1];
          if (!kind || data == null) continue; // a heartbeat
          if (kind === 'result') result = JSON.parse(data);
          else report(watch, kind, JSON.parse(data));
        }
      }
    } finally {
      if (form) stoppers.delete(form);
      restore(watch, result?.ok);
    }
    return result || stopped();
  }

  // fetch for a body with files, reporting how much of it went out. A
  // streamed answer is handed on as it arrives; any other once complete.
  function upload(url, request, watch = {}) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      const form = watch.form;
      const aborted = () => new DOMException('Aborted', 'AbortError');
      let stream; // the streamed answer's controller
      let read = 0;
      const more = () => {
        stream.enqueue(new TextEncoder().encode(xhr.responseText.slice(read)));
        read = xhr.responseText.length;
      };
      const answer = (body) => {
        const headers = {};
        for (const name of ['Content-Type', 'Content-Disposition']) headers[name] = xhr.getResponseHeader(name) || '';
        // A body with a 204 (say) is a TypeError: the answer would never settle.
        const response = new Response(/^(204|205|304)$/.test(xhr.status) ? null : body, { status: xhr.status, headers });
        resolve(Object.defineProperty(response, 'url', { value: xhr.responseURL }));
      };
      // The end of the request; a streamed answer's reader puts the page back.
      const end = (then) => () => {
        if (form) stoppers.delete(form);
        if (!stream) restore(watch);
        then();
      };
      xhr.open('POST', url);
      for (const [name, value] of Object.entries(request.headers)) xhr.setRequestHeader(name, value);
      xhr.upload.addEventListener('progress', (event) =>
        report(watch, 'progress', { done: event.loaded, total: event.lengthComputable ? event.total : null, upload: true }),
      );
      xhr.addEventListener('readystatechange', () => {
        if (xhr.readyState !== 2) return;
        if (!/event-stream/.test(xhr.getResponseHeader('Content-Type'))) xhr.responseType = 'blob';
        else {
          answer(new ReadableStream({ start: (controller) => (stream = controller), cancel: () => xhr.abort() }));
          restore(watch, true); // the upload's progress ends; the action's begins
          xhr.addEventListener('progress', more);
        }
      });
      xhr.addEventListener('load', end(() => {
        if (!stream) return answer(xhr.response);
        more();
        stream.close();
      }));
      xhr.addEventListener('error', end(() => (stream ? stream.error(new TypeError('The request failed.')) : reject(new TypeError('The request failed.')))));
      xhr.addEventListener('abort', end(() =>
        stream
          ? stream.error(aborted())
          : request.signal?.aborted
            ? reject(aborted())
            : resolve(new Response(JSON.stringify(stopped()), { headers: { 'Content-Type': 'application/json' } })),
      ));
      request.signal?.addEventListener('abort', () => xhr.abort());
      if (form) stoppers.set(form, () => xhr.abort());
      xhr.send(request.body);
    });
  }

  // An answer that is not the action's JSON, handed to the browser without
  // sending anything again: a redirect's target is loaded (a GET), a page is
  // shown in place of this one, anything else is saved as a file.
  function handOver(response, file) {
    if (response.redirected) return location.assign(response.url);
    const disposition = response.headers.get('Content-Disposition') || '';
    if (typeof file === 'string' && !/^\s*attachment/i.test(disposition)) {
      const page = new DOMParser().parseFromString(file, 'text/html');
      return document.documentElement.replaceWith(document.adoptNode(page.documentElement));
    }
    if (response.status === 204) return;
    const link = document.createElement('a');
    link.href = URL.createObjectURL(typeof file === 'string' ? new Blob([file], { type: 'text/html' }) : file);
    link.download = fileName(disposition);
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(link.href), 60000);
  }

  function fileName(disposition) {
    const encoded = /filename\*\s*=\s*UTF-8''([^;\s]+)/i.exec(disposition);
    try {
      if (encoded) return decodeURIComponent(encoded[1]);
    } catch {}
    return /filename\s*=\s*"?([^";]*)/i.exec(disposition)?.[1].trim() || 'download';
  }

  // --- Calls from event handlers -------------------------------------------------
  async function call(ref, data, options = {}) {
    const isForm = data instanceof FormData;
    const body = isForm ? data : JSON.stringify(data === undefined ? {} : data);
    // One key per call, kept by its retries (docs/idempotency.md).
    const key = crypto.getRandomValues(new Uint32Array(4)).join('-');
    const headers = { 'X-Action': ref, 'X-Flask-Actions': 'call', 'Idempotency-Key': key };
    if (csrfMeta()) headers['X-CSRFToken'] = csrfMeta().content;
    if (!isForm) headers['Content-Type'] = 'application/json';
    if (options.page === false) headers[PAGE_HEADER] = 'none';
    let outcome = await send(location.href, body, headers, options.signal, options);
    if (renewable(outcome.result)) {
      apply(outcome);
      headers['X-CSRFToken'] = outcome.result.csrf_token;
      outcome = await send(location.href, body, headers, options.signal, options);
    }
    apply(outcome, null, null, options.navigate !== false);
    const { result } = outcome;
    if (result.ok) return result;
    throw Object.assign(new Error(result.message || 'Action failed with status ' + result.status), {
      status: result.status,
      errors: result.errors || {},
      result,
    });
  }

  // FlaskActions.stream: the call's pieces for `for await`, then
  // {type: 'result', value: result}; leaving the loop early stops the action.
  function stream(ref, data, options = {}) {
    const abort = new AbortController();
    options.signal?.addEventListener('abort', () => abort.abort());
    return new ReadableStream({
      start: (events) =>
        call(ref, data, { ...options, signal: abort.signal, onEvent: (event) => events.enqueue(event) }).then(
          (value) => {
            events.enqueue({ type: 'result', value });
            events.close();
          },
          (error) => events.error(error),
        ),
      cancel: () => abort.abort(),
    });
  }

  FlaskActions.extend('progress', { read, upload, call, stream, handOver });
})();
