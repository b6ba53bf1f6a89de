/*! flask-actions optimistic | BSD-3-Clause | docs/browser.md */
// An extra of flask-actions.js (loaded by FlaskActions.load('optimistic')): the
// optimistic items a form's <template data-fa-optimistic> shows while its
// submission is in flight (the core removes them when the answer is applied).
(() => {
  'use strict';
  const { internal } = window.FlaskActions;
  const { find, OPTIMISTIC_ITEM } = internal;

  function show(submission, body) {
    const selector = 'template[data-fa-optimistic]';
    let templates = submission.submitter ? [...submission.submitter.querySelectorAll(selector)] : [];
    if (!templates.length) templates = [...submission.form.querySelectorAll(selector)].filter((template) => !template.closest('button'));
    for (const template of templates) {
      const target = find(template.dataset.target);
      if (!target) continue;
      const clone = template.content.cloneNode(true);
      for (const element of clone.querySelectorAll('[data-fa-field]')) {
        const value = body.get(element.dataset.faField);
        element.textContent = value == null ? '' : typeof value === 'string' ? value : value.name;
      }
      for (const element of clone.children) {
        element.setAttribute(OPTIMISTIC_ITEM, '');
        submission.items.push(element);
      }
      let position = template.dataset.position;
      if (position === 'replace') {
        submission.hiddenTargets.push([target, target.hidden]);
        target.hidden = true;
        position = 'after';
      }
      target[/^(prepend|before|after)$/.test(position) ? position : 'append'](clone);
    }
  }

  FlaskActions.extend('optimistic', { show });
})();
