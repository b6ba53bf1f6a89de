/*! flask-actions download | BSD-3-Clause | docs/browser.md */
// An extra of flask-actions.js (loaded by FlaskActions.load('download')): an answer
// that is not the action's JSON (a file, a page, a redirect the browser followed).
(() => {
  'use strict';

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

  FlaskActions.extend('download', { handOver });
})();
