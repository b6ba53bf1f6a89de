/*! flask-actions live | BSD-3-Clause | docs/validation.md */
// An extra of flask-actions.js (loaded by FlaskActions.load('live') for a
// page with a form[data-fa-live], what fa.form(..., live=True) renders): the
// server checks the form against the action's schema while the user fills it
// in. A field is touched once the user changed it or left it; a change or a
// blur sends the form, debounced, as a validate-only request (the action does
// not run); so does typing in a field that shows an error. The answer (204:
// valid, 422: the errors) updates the error lists of touched fields only, the
// same [data-fa-errors] lists a failed submission fills, and their inputs'
// aria-invalid. Any other answer (a guard's refusal, a network failure)
// changes nothing: the submission will tell. A field (or a fieldset) with
// data-fa-live="off" is never sent for checking.
(() => {
  'use strict';
  const doc = document;
  const WAIT = 300; // ms after the last change before asking the server
  const touched = new WeakMap(); // form -> Set of the names the user touched
  const timers = new WeakMap(); // form -> the pending check's timeout
  const inFlight = new WeakMap(); // form -> the AbortController of its check

  const liveForm = (control) => {
    const form = control.form;
    const live = form?.hasAttribute('data-fa-live') && /^(INPUT|SELECT|TEXTAREA)$/.test(control.nodeName);
    return live && control.name && !control.closest('[data-fa-live=off]') ? form : null;
  };

  function touch(event, always) {
    const form = liveForm(event.target);
    if (!form || !(always || event.target.getAttribute('aria-invalid') === 'true')) return;
    if (!touched.has(form)) touched.set(form, new Set());
    touched.get(form).add(event.target.name);
    clearTimeout(timers.get(form));
    timers.set(form, setTimeout(() => check(form), WAIT));
  }
  doc.addEventListener('change', (event) => touch(event, true));
  doc.addEventListener('focusout', (event) => touch(event, true));
  doc.addEventListener('input', (event) => touch(event, false));
  // A form sent or reset starts afresh: what the page shows then is the server's.
  for (const type of ['fa:success', 'reset']) doc.addEventListener(type, (event) => touched.delete(event.target), true);

  async function check(form) {
    inFlight.get(form)?.abort(); // an older answer would be out of date
    const controller = new AbortController();
    inFlight.set(form, controller);
    let errors;
    try {
      const response = await fetch(form.action, {
        method: 'POST',
        body: new FormData(form),
        signal: controller.signal,
        mode: 'same-origin',
        credentials: 'same-origin',
        headers: { 'X-Flask-Actions': 'validate', Accept: 'application/json' },
      });
      if (response.status === 204) errors = {};
      else if (response.status === 422) errors = (await response.json()).errors || {};
      else return;
    } catch {
      return;
    }
    if (!form.hasAttribute('aria-busy')) show(form, errors);
  }

  // The messages of `name` ("address.city", "pets.0.name") in nested errors.
  function messagesOf(errors, name) {
    let node = errors;
    for (const part of name.split('.')) node = node && typeof node === 'object' && !Array.isArray(node) ? node[part] : null;
    return Array.isArray(node) ? node : [];
  }

  function show(form, errors) {
    for (const name of touched.get(form) || []) {
      const controls = [...form.elements].filter((control) => control.name === name && control.type !== 'hidden');
      const control = controls[controls.length - 1];
      if (!control) continue;
      let list = [...form.querySelectorAll('[data-fa-errors]')].find((element) => element.dataset.faErrors === name);
      if (!list) {
        list = doc.createElement('ul');
        list.className = 'fa-errors';
        list.dataset.faErrors = name;
        control.after(list);
      }
      const messages = messagesOf(errors, name);
      list.replaceChildren(...messages.map((message) => Object.assign(doc.createElement('li'), { textContent: message })));
      list.hidden = !messages.length;
      if (messages.length) {
        list.id ||= (control.id || name.replace(/\W/g, '-')) + '-errors';
        control.setAttribute('aria-invalid', 'true');
        control.setAttribute('aria-describedby', list.id);
      } else control.removeAttribute('aria-invalid');
    }
  }

  FlaskActions.extend('live', { check });
})();
