/*! flask-actions call | BSD-3-Clause | docs/browser.md */
// An extra of flask-actions.js (loaded by FlaskActions.load('call')): FlaskActions.call,
// an action called from an event handler with a promise for its result.
(() => {
  'use strict';
  const { internal } = window.FlaskActions;
  const { send, apply, renewable, csrfMeta, PAGE_HEADER } = internal;

  async function call(ref, data, options = {}) {
    const isForm = data instanceof FormData;
    const body = isForm ? data : JSON.stringify(data === undefined ? {} : data);
    const headers = { 'X-Action': ref, 'X-Flask-Actions': 'call' };
    if (csrfMeta()) headers['X-CSRFToken'] = csrfMeta().content;
    if (!isForm) headers['Content-Type'] = 'application/json';
    if (options.page === false) headers[PAGE_HEADER] = 'none';
    let outcome = await send(location.href, body, headers, options.signal);
    if (renewable(outcome.result)) {
      apply(outcome);
      headers['X-CSRFToken'] = outcome.result.csrf_token;
      outcome = await send(location.href, body, headers, options.signal);
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

  FlaskActions.extend('call', { call });
})();
