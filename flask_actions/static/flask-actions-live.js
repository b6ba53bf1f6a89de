/*! flask-actions live | BSD-3-Clause | docs/validation.md */
// An extra of flask-actions.js (loaded by FlaskActions.load('live') for a
// page with a form[data-fa-live], what fa.form(..., live=True) renders): the
// server checks the form against the action's schema while the user fills it
// in. A field is touched once the user typed in it and left it (or made a
// choice in a select or a checkbox); then the form is sent, debounced, as a
// validate-only request (the action does not run), as it is while the user
// types in a field that shows an error. The answer (204: valid, 422: the
// errors) updates the error lists of touched fields only, the same
// [data-fa-errors] lists a failed submission fills, and their inputs'
// aria-invalid. Any other answer (a guard's refusal, a network failure)
// changes nothing: the submission will tell. Files are not sent. A field (or
// a fieldset) with data-fa-live="off" never asks for a check.
(() => {
  'use strict';
  const doc = document;
  const WAIT = 300; // ms after the last change before asking the server
  const touched = new WeakMap(); // form -> Set of the names the user touched
  const edited = new WeakSet(); // controls the user typed into
  const latest = new WeakMap(); // form -> the number of its newest check
  const shown = new WeakMap(); // form -> the errors of its last check

  function touch(event) {
    const control = event.target;
    const form = control.form;
    if (!form?.hasAttribute('data-fa-live') || !control.name || !/^(INPUT|SELECT|TEXTAREA)$/.test(control.nodeName)) return;
    if (control.closest('[data-fa-live=off]')) return;
    // Leaving a field only touches it once typed into: tabbing through an
    // empty form shows nothing. Typing checks again a field showing an error.
    if (event.type === 'input') edited.add(control);
    const due = event.type === 'change' || (event.type === 'focusout' ? edited.has(control) : control.getAttribute('aria-invalid') === 'true');
    if (!due) return;
    if (!touched.has(form)) touched.set(form, new Set());
    touched.get(form).add(control.name);
    const number = (latest.get(form) || 0) + 1;
    latest.set(form, number);
    setTimeout(() => latest.get(form) === number && check(form, number), WAIT);
  }
  for (const type of ['input', 'change', 'focusout']) doc.addEventListener(type, touch);
  // A submission's answer is newer than any check asked before it: the
  // check a blur on the way to the submit button asked for is dropped.
  doc.addEventListener('submit', (event) => latest.set(event.target, (latest.get(event.target) || 0) + 1), true);
  // A form sent or reset starts afresh: what the page shows then is the server's.
  for (const type of ['fa:success', 'reset'])
    doc.addEventListener(type, (event) => {
      touched.delete(event.target);
      shown.delete(event.target);
      for (const control of event.target.elements || []) edited.delete(control);
    }, true);

  // Another form's answer brings the server's page, whose error lists know
  // nothing of these checks: the forms being filled in show theirs again.
  doc.addEventListener('fa:after', (event) => {
    for (const form of doc.querySelectorAll('form[data-fa-live]')) if (form !== event.target && shown.has(form)) show(form, shown.get(form));
  });

  async function check(form, number) {
    let errors = {};
    const body = new FormData(form);
    for (const [name, value] of [...body]) if (value instanceof File) body.delete(name); // sent on submission only
    try {
      const response = await fetch(form.action, {
        method: 'POST',
        body,
        mode: 'same-origin',
        credentials: 'same-origin',
        headers: { 'X-Flask-Actions': 'validate', Accept: 'application/json' },
      });
      if (response.status === 422) errors = (await response.json()).errors;
      else if (response.status !== 204) return;
    } catch {
      return;
    }
    if (latest.get(form) !== number) return; // out of date
    shown.set(form, errors);
    show(form, errors);
  }

  function show(form, errors) {
    for (const name of touched.get(form) || []) {
      // The messages of "address.city" or "pets.0.name" in nested errors.
      let messages = errors;
      for (const part of name.split('.')) messages = messages?.[part];
      messages = Array.isArray(messages) ? messages : [];
      const control = [...form.elements].filter((element) => element.name === name && element.type !== 'hidden').pop();
      let list = [...form.querySelectorAll('[data-fa-errors]')].find((element) => element.dataset.faErrors === name);
      if (!control) continue;
      if (!list) {
        list = doc.createElement('ul');
        list.className = 'fa-errors';
        list.dataset.faErrors = name;
        control.after(list);
      }
      list.replaceChildren(...messages.map((message) => Object.assign(doc.createElement('li'), { textContent: message })));
      list.hidden = !messages.length;
      if (messages.length) {
        list.id ||= (control.id || name) + '-errors';
        control.setAttribute('aria-invalid', 'true');
        const described = (control.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
        if (!described.includes(list.id)) control.setAttribute('aria-describedby', [...described, list.id].join(' '));
      } else control.removeAttribute('aria-invalid');
    }
  }

  FlaskActions.extend('live', { check: (form) => check(form, latest.get(form)) });
})();
