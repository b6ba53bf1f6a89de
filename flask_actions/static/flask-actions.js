/*! flask-actions browser enhancement | BSD-3-Clause | docs/browser.md */
// A classic script (no modules, no build step). It enhances the forms that the
// flask_actions macros render: the same forms work without it, so everything
// here is an improvement on the plain POST/redirect/GET round trip, never a
// requirement. The wire protocol it speaks is described in docs/wire.md.
//
// A request walks one way: submit or call -> send (one step for both) ->
// apply (one step for both): the answer's page, redirect or file reaches the
// screen. The script never evaluates strings, never sets inline handlers or
// styles, and never talks to another origin, so it runs under a strict CSP.
(() => {
  'use strict';
  if (window.FlaskActions) return;

  const doc = document;
  const coreScript = doc.currentScript;
  const PAGE_HEADER = 'X-Flask-Actions-Page';
  const OPTIMISTIC_ITEM = 'data-fa-optimistic-item';
  const CONTROL = /^(INPUT|SELECT|TEXTAREA)$/;
  const messages = {
    network: 'The request failed. Check your connection and try again; nothing you typed was lost.',
    server: 'The server could not complete the request. Try again; nothing you typed was lost.',
    refused: 'The server refused this request. Reload the page and try again.',
    tooLarge: 'This is too large to send. Send less (a smaller file, a shorter text).',
    otherSite: 'This form sends to another site, so nothing was sent.',
    badRedirect: 'The server sent an address this page does not open.',
    offline: 'Offline: this is sent when the connection is back.',
  };

  const submissions = new Map(); // form, or fa.button of its own, -> its submission in flight
  // An fa.button invokes its own action: pressing another card's button while
  // one is in flight is a submission of its own, not a repeat of the first.
  const submissionKey = (form, submitter) => (submitter?.hasAttribute('data-fa-button') ? submitter : form);
  const pendingSubmitters = new WeakSet(); // a page update leaves them alone
  const editedControls = new WeakSet(); // fields the user typed into
  const createdMessages = new WeakMap(); // form -> the message element this script added for it
  let shownRenderTime = 0; // rendered_at (ns) of the newest page on screen
  let pagesApplied = 0;
  let refreshes = 0;

  const emit = (target, type, detail, cancelable) =>
    (target.isConnected ? target : doc).dispatchEvent(
      new CustomEvent('fa:' + type, { bubbles: true, cancelable: !!cancelable, detail }),
    );
  const csrfMeta = () => doc.querySelector('meta[name="csrf-token"]');
  const find = (selector) => {
    try {
      return selector ? doc.querySelector(selector) : null;
    } catch {
      return null; // a selector the page got wrong finds nothing
    }
  };
  const address = (url) => {
    try {
      return new URL(url, location.href);
    } catch {
      return null;
    }
  };
  const sameOrigin = (url) => address(url)?.origin === location.origin;
  const webAddress = (url) => /^https?:$/.test(address(url)?.protocol);

  // --- Extras ---------------------------------------------------------------------
  // Code a plain form does not need lives in flask-actions-<name>.min.js next to
  // this file, loaded once when a page first needs it, with this script's nonce
  // and the integrity hash scripts/build_js.py writes into INTEGRITY. An extra
  // registers itself with FlaskActions.extend(name, api).
  const INTEGRITY = {}; // filled in the .min.js by scripts/build_js.py
  const extras = new Map(); // name -> Promise of its api
  const arrived = new Map(); // name -> the resolve of its Promise
  function load(name) {
    if (!extras.has(name))
      extras.set(name, new Promise((resolve, reject) => {
        arrived.set(name, resolve);
        const script = doc.createElement('script');
        script.src = new URL('flask-actions-' + name + '.min.js', coreScript.src).href;
        script.nonce = coreScript.nonce;
        if (INTEGRITY[name]) script.integrity = INTEGRITY[name];
        script.crossOrigin = 'anonymous';
        script.addEventListener('error', () => {
          extras.delete(name);
          reject(new Error('flask-actions-' + name + '.min.js did not load'));
        });
        doc.head.append(script);
      }));
    return extras.get(name);
  }
  const extend = (name, api) => arrived.get(name)?.(api);

  // --- Form control values -------------------------------------------------
  // What the user typed belongs to the user: a field is theirs once an
  // "input" event reached it, or when its value differs from the
  // value the HTML gave it (a page script set it). A form's "reset" gives its
  // fields back to the page.
  const isToggle = (control) => control.type === 'checkbox' || control.type === 'radio';
  const valueOf = (control) =>
    isToggle(control)
      ? control.checked ? '1' : ''
      : control.nodeName === 'SELECT'
        ? [...control.selectedOptions].map((option) => option.value).join('\n')
        : control.value;
  const defaultOf = (control) => {
    if (isToggle(control)) return control.defaultChecked ? '1' : '';
    if (control.type === 'file') return '';
    if (control.nodeName !== 'SELECT') return control.defaultValue;
    const options = [...control.options];
    const chosen = options.filter((option) => option.defaultSelected);
    const selected = control.multiple || control.size > 1 ? chosen : [chosen.pop() || options.find((option) => !option.disabled)];
    return selected.filter(Boolean).map((option) => option.value).join('\n');
  };
  const setValue = (control, value) => {
    if (valueOf(control) === value) return;
    if (isToggle(control)) control.checked = !!value;
    else if (control.nodeName === 'SELECT')
      for (const option of control.options) option.selected = value.split('\n').includes(option.value);
    else control.value = value;
  };
  const userOwns = (control) => editedControls.has(control) || valueOf(control) !== defaultOf(control);

  doc.addEventListener('input', (event) => editedControls.add(event.target), true);
  doc.addEventListener('reset', (event) => {
    for (const control of event.target.elements || []) editedControls.delete(control);
  }, true);

  // --- Updating the page ----------------------------------------------------
  // Brings the live DOM in line with a freshly rendered page while keeping the
  // nodes that survive, and with them focus, caret, scroll, typed values and
  // pending state. An element with an id that both pages have is the same
  // element wherever it moved in the tree, and so is an fa.form, by the name
  // the server gives it (data-fa-form: its action, bound arguments and place);
  // other children are matched among their siblings on tag + name (form
  // controls), then on position.
  // Optimistic items of submissions still in flight stay where they are.
  const idOf = (node) => (node.id ? '#' + node.id : node.getAttribute('data-fa-form') ? '# ' + node.getAttribute('data-fa-form') : '');
  const keyOf = (node) =>
    node.nodeType !== 1 ? '' : idOf(node) || (node.hasAttribute('name') ? node.nodeName + ' ' + node.getAttribute('name') : '');
  const IDENTIFIED = '[id],[data-fa-form]';
  // The form of `root` that is `form` in another render of the page, if any.
  const formIn = (root, form) => {
    const key = keyOf(form);
    return key[0] === '#' ? [...root.forms].find((other) => keyOf(other) === key) : root.forms[[...doc.forms].indexOf(form)];
  };
  const isSame = (live, fresh) => live.nodeName === fresh.nodeName && keyOf(live) === keyOf(fresh);
  const isOptimistic = (node) => node?.nodeType === 1 && node.hasAttribute(OPTIMISTIC_ITEM);
  const moveBefore = (parent, node, before) => {
    try {
      parent.moveBefore(node, before); // keeps focus and state where supported
    } catch {
      parent.insertBefore(node, before);
    }
  };

  function morph(liveRoot, freshRoot, succeeded) {
    const liveById = new Map();
    for (const element of liveRoot.querySelectorAll(IDENTIFIED))
      if (!liveById.has(idOf(element)) && !element.closest('[' + OPTIMISTIC_ITEM + ']')) liveById.set(idOf(element), element);
    // movable: id -> the live element it names. Holders: the nodes on the way
    // to one, which go to a hidden place rather than away when the new page
    // does not have them where they were, so that the element can move on.
    const tree = { succeeded, movable: new Map(), liveHolders: new Set(), freshHolders: new Set(), setAside: doc.createElement('div') };
    const addHolders = (element, root, holders) => {
      for (let node = element; node && node !== root; node = node.parentNode) holders.add(node);
    };
    for (const fresh of freshRoot.querySelectorAll(IDENTIFIED)) {
      const id = idOf(fresh);
      const live = liveById.get(id);
      if (id && live?.nodeName === fresh.nodeName && !tree.movable.has(id)) {
        tree.movable.set(id, live);
        addHolders(live, liveRoot, tree.liveHolders);
        addHolders(fresh, freshRoot, tree.freshHolders);
      }
    }
    tree.setAside.hidden = true;
    doc.documentElement.append(tree.setAside);
    try {
      morphElement(liveRoot, freshRoot, tree);
    } finally {
      tree.setAside.remove();
    }
  }

  function morphElement(live, fresh, tree) {
    if (live.nodeType !== 1) {
      if (live.nodeValue !== fresh.nodeValue) live.nodeValue = fresh.nodeValue;
      return;
    }
    if (pendingSubmitters.has(live) || live.hasAttribute('data-fa-permanent')) return;
    const tag = live.nodeName;
    const control = CONTROL.test(tag);
    let typed, keep;
    if (control) {
      typed = valueOf(live);
      // The form that just succeeded shows the server's value (usually empty
      // again), except in the fields the user changed after submitting.
      keep = userOwns(live) && tree.succeeded?.get(live) !== typed;
    }
    for (const attribute of [...live.attributes]) if (!fresh.hasAttribute(attribute.name)) live.removeAttribute(attribute.name);
    for (const attribute of fresh.attributes)
      if (live.getAttribute(attribute.name) !== attribute.value) live.setAttribute(attribute.name, attribute.value);
    if (tag === 'TEXTAREA') {
      if (live.defaultValue !== fresh.defaultValue) live.defaultValue = fresh.defaultValue;
    } else if (tag === 'TEMPLATE') {
      if (live.innerHTML !== fresh.innerHTML) live.content.replaceChildren(doc.importNode(fresh.content, true));
    } else if (tag !== 'NOSCRIPT') morphChildren(live, fresh, tree);
    if (!control) return;
    if (keep) setValue(live, typed);
    else {
      setValue(live, defaultOf(live));
      editedControls.delete(live);
    }
  }

  function morphChildren(live, fresh, tree) {
    const freshChildren = [...fresh.childNodes];
    const wanted = new Set(freshChildren.map(keyOf));
    let cursor = live.firstChild;
    const skipOptimistic = () => {
      while (isOptimistic(cursor)) cursor = cursor.nextSibling;
    };
    const discardCursor = () => {
      const node = cursor;
      cursor = node.nextSibling;
      if (tree.liveHolders.has(node)) moveBefore(tree.setAside, node, null);
      else node.remove();
    };
    for (const freshChild of freshChildren) {
      for (skipOptimistic(); cursor && keyOf(cursor) && !wanted.has(keyOf(cursor)); skipOptimistic()) discardCursor();
      const key = keyOf(freshChild);
      let match = null;
      if (tree.movable.has(key)) {
        match = tree.movable.get(key);
        tree.movable.delete(key);
        if (match.contains(live)) match = null;
      } else if (key && key[0] !== '#') {
        for (let node = cursor; node && !match; node = node.nextSibling) if (!isOptimistic(node) && isSame(node, freshChild)) match = node;
      } else if (key) {
        // an id the page did not have: a new element
      } else if (cursor && isSame(cursor, freshChild)) match = cursor;
      else if (cursor && !keyOf(cursor) && cursor.nextSibling && !isOptimistic(cursor.nextSibling) && isSame(cursor.nextSibling, freshChild)) {
        discardCursor();
        match = cursor;
      }
      if (match) {
        if (match === cursor) cursor = cursor.nextSibling;
        else moveBefore(live, match, cursor);
        morphElement(match, freshChild, tree);
      } else if (tree.freshHolders.has(freshChild)) {
        // A new element around elements the page has elsewhere: build it
        // here, so that they move in instead of being made again.
        const shell = doc.importNode(freshChild, false);
        live.insertBefore(shell, cursor);
        morphElement(shell, freshChild, tree);
      } else live.insertBefore(doc.adoptNode(freshChild), cursor);
    }
    for (skipOptimistic(); cursor; skipOptimistic()) discardCursor();
  }

  // Morphs the page (or only `onlyForm`, from its counterpart in the page)
  // into `html`, a complete HTML document.
  function updatePage(html, succeeded, onlyForm) {
    const fresh = new DOMParser().parseFromString(html, 'text/html');
    let live = doc.body;
    let target = fresh.body;
    if (onlyForm) {
      live = onlyForm;
      target = formIn(fresh, onlyForm);
      if (target?.nodeName !== 'FORM') return;
    } else {
      const meta = fresh.querySelector('meta[name="csrf-token"]');
      if (meta && csrfMeta()) csrfMeta().content = meta.content;
      if (fresh.title && fresh.title !== doc.title) doc.title = fresh.title;
      pagesApplied++;
    }
    const focused = doc.activeElement;
    let selection;
    try {
      selection = [focused.selectionStart, focused.selectionEnd, focused.selectionDirection];
    } catch {}
    morph(live, target, succeeded);
    for (const submission of submissions.values()) showPending(submission);
    if (focused && focused !== doc.body && focused.isConnected && doc.activeElement !== focused) {
      focused.focus({ preventScroll: true });
      try {
        if (selection[0] != null) focused.setSelectionRange(...selection);
      } catch {}
    }
  }

  // --- Order ------------------------------------------------------------------
  // Answers may come back in another order than their requests went out. A
  // page is applied only when it was rendered after the one on screen
  // (`rendered_at`); an older one is skipped, but for the errors of a form
  // that failed, which go to that form alone. A skipped success may have
  // changed what the page shows after the newer render began (a cookie it
  // set, a late commit), so the page is then fetched again.
  function applyPage(result, form, succeeded) {
    const renderedAt = result.rendered_at;
    if (!(renderedAt <= shownRenderTime)) {
      if (renderedAt) shownRenderTime = renderedAt;
      updatePage(result.html, succeeded);
    } else if (!result.ok) {
      if (form?.isConnected) updatePage(result.html, null, form);
    } else refreshPage();
  }

  async function refreshPage() {
    const ticket = ++refreshes;
    const applied = pagesApplied;
    try {
      const response = await fetch(location.href, {
        mode: 'same-origin',
        credentials: 'same-origin',
        cache: 'no-store',
        headers: { Accept: 'text/html' },
      });
      const html = await response.text();
      if (response.ok && ticket === refreshes && applied === pagesApplied && /html/.test(response.headers.get('Content-Type')))
        updatePage(html);
    } catch {} // the page stays as it is; the next update brings it up to date
  }

  // --- Pending state and optimistic items ------------------------------------
  function showPending(submission) {
    submission.form.setAttribute('aria-busy', 'true');
    submission.form.setAttribute('data-pending', '');
    for (const [target] of submission.hiddenTargets) target.hidden = true;
  }

  function setPending(submission, pending) {
    const { form, submitter } = submission;
    if (pending) {
      submissions.set(submission.key, submission);
      showPending(submission);
    } else {
      submissions.delete(submission.key);
      if (![...submissions.values()].some((other) => other.form === form)) {
        form.removeAttribute('aria-busy');
        form.removeAttribute('data-pending');
      }
      for (const item of submission.items) item.remove();
      for (const [target, wasHidden] of submission.hiddenTargets) target.hidden = wasHidden;
      submission.items = submission.hiddenTargets = [];
    }
    if (!submitter) return;
    const isInput = submitter.nodeName === 'INPUT';
    if (pending) {
      pendingSubmitters.add(submitter);
      submission.wasDisabled = submitter.disabled;
      submitter.disabled = true;
      const text = submitter.getAttribute('data-pending-text');
      if (text != null) {
        submission.label = isInput ? submitter.value : [...submitter.childNodes];
        if (isInput) submitter.value = text;
        else submitter.textContent = text;
      }
    } else {
      pendingSubmitters.delete(submitter);
      submitter.disabled = submission.wasDisabled;
      if (submission.label != null) {
        if (isInput) submitter.value = submission.label;
        else submitter.replaceChildren(...submission.label);
      }
      if (submission.focused === submitter && submitter.isConnected && (doc.activeElement === doc.body || !doc.activeElement))
        submitter.focus({ preventScroll: true });
    }
  }

  // --- Messages and focus ---------------------------------------------------------
  // A failure's message goes to the form's own [data-fa-message] element,
  // else to the element its data-fa-message-target names, else to an element
  // the script puts right before the form (not inside: the form's own layout
  // stays as it is), or first in the body when the new page has no such form
  // (its row was deleted meanwhile), as the page without JavaScript shows it.
  // Success messages still on the page go away first.
  function showMessage(form, text) {
    if (!text || doc.body.textContent.includes(text)) return;
    for (const success of doc.querySelectorAll('[data-fa-message][role=status]')) success.remove();
    const here = form.isConnected;
    let box = (here && form.querySelector('[data-fa-message]')) || find(form.getAttribute('data-fa-message-target'));
    if (!box) {
      box = createdMessages.get(form);
      if (!box?.isConnected) {
        box = doc.createElement('div');
        box.setAttribute('role', 'alert');
        box.setAttribute('data-fa-message', '');
        if (here) form.before(box);
        else doc.body.prepend(box);
        createdMessages.set(form, box);
      }
    }
    box.textContent = text;
  }

  function clearMessage(form) {
    createdMessages.get(form)?.remove();
    createdMessages.delete(form);
  }

  function fieldNames(errors, prefix, names) {
    for (const key of Object.keys(errors && typeof errors === 'object' ? errors : {})) {
      const name = prefix ? prefix + '.' + key : key;
      names.add(name);
      if (!Array.isArray(errors[key])) fieldNames(errors[key], name, names);
    }
    return names;
  }

  function focusInvalid(form, errors) {
    const invalid = fieldNames(errors, '', new Set());
    for (const control of form.elements)
      if (control.type !== 'hidden' && (control.getAttribute('aria-invalid') === 'true' || invalid.has(control.name)))
        return control.focus();
  }

  // --- Sending: one step for forms and calls ---------------------------------------
  // Resolves to {result, response, error, file}. `result` is the action's
  // JSON, or one the script makes ({ok, status, data, errors, message}) when
  // the answer is not that JSON: status 0 for a network failure or a refusal
  // to send, the script's own message for a person. `file` is the body of an
  // answer that is not the action's JSON (a download, a page), handed to the
  // browser as it is. Only an abort rejects.
  // `watch` (a form's submission, or a call's options) hears of progress: a
  // body with files goes with the progress extra's XMLHttpRequest (fetch
  // reports no upload progress), a streamed answer is read by that extra.
  // A request with a submission key (docs/idempotency.md) runs once on the
  // server however often it arrives: one lost to the network is sent again
  // with the same key (3 times, backing off), one lost because the browser
  // is offline when the connection is back, and its form says it waits.
  // A form with no file chosen goes urlencoded: smaller than multipart and
  // cheaper for the server to read; an empty file input sends nothing, which
  // the server reads as it reads an empty file part.
  const withoutFiles = (body) => body instanceof FormData && [...body.values()].every((value) => typeof value === 'string' || !value.name);

  async function send(url, body, headers, signal, watch) {
    const answer = (status, message, more) => ({
      ...more,
      result: { ok: !message, status, data: null, errors: {}, message: message || null, redirect: null },
    });
    if (!sameOrigin(url)) return answer(0, messages.otherSite);
    const keyed = headers['Idempotency-Key'] || body.has?.('_submission') || /\.\d+$/.test(body.get?.('_button'));
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        const request = {
          method: 'POST',
          body: withoutFiles(body) ? new URLSearchParams([...body].filter(([, value]) => typeof value === 'string')) : body,
          signal,
          mode: 'same-origin', // the browser refuses a redirect to another origin too
          credentials: 'same-origin',
          headers: { Accept: 'application/json, text/event-stream', ...headers },
        };
        const files = body instanceof FormData && [...body.values()].some((value) => value.size);
        response = await (files ? (await load('progress')).upload(url, request, watch) : fetch(url, request));
        if (!sameOrigin(response.url)) return answer(0, messages.otherSite);
        const type = response.headers.get('Content-Type') || '';
        const status = response.status;
        if (/json|event-stream/.test(type)) {
          const result = /json/.test(type) ? await response.json() : await (await load('progress')).read(response, watch);
          if (result.redirect && !webAddress(result.redirect))
            return { response, result: { ...result, ok: false, redirect: null, message: messages.badRedirect } };
          return { response, result };
        }
        if (status < 400) return answer(status, null, { response, file: /html/.test(type) ? await response.text() : await response.blob() });
        return answer(status, status === 413 ? messages.tooLarge : status < 500 ? messages.refused : messages.server, { response });
      } catch (error) {
        if (error.name === 'AbortError') throw error;
        if (!keyed || attempt > 2)
          return answer(response ? response.status : 0, response ? messages.server : messages.network, { response, error });
        const offline = !navigator.onLine;
        if (offline && watch?.form) showMessage(watch.form, messages.offline);
        await new Promise((resolve) =>
          offline ? addEventListener('online', resolve, { once: true }) : setTimeout(resolve, 400 * 3 ** attempt),
        );
      }
    }
  }


  // A rejection the server lets the page recover from: it carries a fresh
  // CSRF token (and, for a form, the page with fresh hidden fields), and the
  // action did not run, so the same request can be sent once more.
  const renewable = (result) => result?.csrf_token && /^(csrf|bad_bound_arguments)$/.test(result.reason);

  function renewTokens(token) {
    const meta = csrfMeta();
    const stale = new Set([meta?.content]);
    for (const button of doc.querySelectorAll('[data-fa-button]')) {
      const parts = button.value.split('~'); // REF~TOKEN, or REF~TOKEN~CONFIRMATION
      if (!parts[1]) continue; // no token of its own (inside an fa.form)
      stale.add(parts[1]);
      parts[1] = token;
      button.value = parts.join('~');
    }
    for (const input of doc.querySelectorAll('input[type=hidden]')) if (stale.has(input.value)) input.value = token;
    if (meta) meta.content = token;
  }

  // --- Applying: one step for forms and calls -------------------------------------
  function apply(outcome, form, succeeded, navigate = true) {
    const { response, result, file } = outcome;
    if (file !== undefined) return load('progress').then((extra) => extra.handOver(response, file));
    if (result.csrf_token) renewTokens(result.csrf_token);
    // A redirect is followed after a failure too: a sign-in page the action
    // was refused for.
    if (result.redirect) {
      if (navigate) location.assign(result.redirect);
    } else if (result.html) applyPage(result, form, succeeded);
    else if (result.ok && succeeded) {
      // Nothing on the page changed: show the form as a reload would.
      for (const [control, value] of succeeded)
        if (control.isConnected && valueOf(control) === value) {
          setValue(control, defaultOf(control));
          editedControls.delete(control);
        }
    }
  }

  // --- Enhanced form submission --------------------------------------------------
  const enhanced = (form, submitter) =>
    (form.hasAttribute('data-fa-form') || submitter?.hasAttribute('data-fa-button') || form.elements._action) &&
    !form.hasAttribute('data-fa-native') &&
    !submitter?.hasAttribute('data-fa-native') &&
    (submitter?.formMethod || form.method) === 'post' &&
    /^(_self)?$/i.test(submitter?.hasAttribute('formtarget') ? submitter.formTarget : form.target);

  // The request sent again after a renewable rejection: the same fields, but
  // the hidden ones (tokens, bound arguments) and the button as they are now.
  function sameFieldsRenewed(form, submitter, previous) {
    const body = new FormData();
    for (const [name, value] of previous) {
      const field = form.elements.namedItem(name);
      body.append(name, submitter?.name === name ? submitter.value : field?.type === 'hidden' ? field.value : value);
    }
    return body;
  }

  async function submit(form, submitter, previous) {
    // The hidden default button fa.form renders first (for Enter): no submitter.
    if (submitter?.hasAttribute('data-fa-default')) submitter = null;
    const key = submissionKey(form, submitter);
    if (submissions.has(key)) return;
    let body;
    if (previous) body = sameFieldsRenewed(form, submitter, previous);
    else {
      body = new FormData(form, submitter);
      // Browsers that ignore FormData's submitter argument still send the button.
      if (submitter?.name && !body.has(submitter.name)) body.append(submitter.name, submitter.value);
      const question = submitter?.hasAttribute('data-fa-button')
        ? submitter.getAttribute('data-fa-confirm')
        : submitter?.getAttribute('data-fa-confirm') ?? form.getAttribute('data-fa-confirm');
      if (question != null) {
        if (!confirm(question)) return;
        body.append('_confirmed', '1');
      }
      if (!emit(form, 'before', { form, submitter, formData: body }, 1)) return;
    }
    const url = submitter?.hasAttribute('formaction') ? submitter.formAction : form.action;
    const headers = { 'X-Flask-Actions': 'form' };
    if ((submitter?.getAttribute('data-fa-page') ?? form.getAttribute('data-fa-page')) === 'none') headers[PAGE_HEADER] = 'none';
    const submission = { key, form, submitter, focused: doc.activeElement, snapshot: new Map(), items: [], hiddenTargets: [] };
    for (const control of form.elements) if (CONTROL.test(control.nodeName)) submission.snapshot.set(control, valueOf(control));
    setPending(submission, true);
    // Without the extra (it did not load) the form is sent all the same.
    if (form.querySelector('template[data-fa-optimistic]')) (await load('optimistic').catch(() => null))?.show(submission, body);
    const outcome = await send(url, body, headers, undefined, submission);
    const { response, result } = outcome;
    const leaving = !!result.redirect || (result.ok && outcome.file !== undefined && response.redirected);
    if (!leaving) setPending(submission, false); // else busy until the browser has left
    if (!previous && renewable(result)) {
      apply(outcome, form);
      if (form.isConnected) return submit(form, submitter, body);
    }
    // Done: the form's keys get another counter (the server signs the rest),
    // so that sending it again, also from the back/forward cache, is a new
    // submission, not a repeat.
    if (result.ok)
      for (const field of form.querySelectorAll('[name=_submission],[data-fa-button]'))
        field.value = field.value.replace(/\.\d+$/, '.' + ((Math.random() * 1e9) | 0));
    const detail = { form, submitter, result, response: response || null, error: outcome.error };
    if (emit(form, result.ok ? 'success' : 'failure', detail, 1)) {
      apply(outcome, form, result.ok ? submission.snapshot : null);
      const current = form.isConnected ? form : formIn(doc, form) || form;
      if (result.ok) clearMessage(form);
      else if (!leaving) {
        showMessage(current, result.message);
        focusInvalid(current, result.errors);
      }
    } else if (leaving) setPending(submission, false);
    emit(form, 'after', detail);
    return result;
  }

  doc.addEventListener('submit', (event) => {
    const form = event.target;
    if (event.defaultPrevented || !enhanced(form, event.submitter)) return;
    event.preventDefault();
    submit(form, event.submitter);
  });

  // A hint for the page's developer: HTML submits forms only, so a button
  // outside any form does nothing when clicked, with this script or without.
  for (const button of doc.querySelectorAll('[data-fa-button]'))
    if (!button.form) console.warn('flask-actions: an fa.button outside any <form> does nothing (docs/templates.md)', button);

  // Coming back to this page from the history cache: nothing is in flight.
  addEventListener('pageshow', (event) => {
    if (event.persisted) for (const submission of [...submissions.values()]) setPending(submission, false);
  });

  window.FlaskActions = {
    call: (ref, data, options) => load('progress').then((extra) => extra.call(ref, data, options)),
    async *stream(ref, data, options) {
      yield* (await load('progress')).stream(ref, data, options);
    },
    submit: (form, submitter) => submit(form, submitter),
    updatePage: (html) => updatePage(html),
    messages,
    load,
    extend,
    // For the extras (not a stable API): the core's own steps.
    internal: { send, apply, renewable, emit, find, csrfMeta, PAGE_HEADER, OPTIMISTIC_ITEM },
  };
  // Fetched ahead when this page will need them.
  if (doc.querySelector('template[data-fa-optimistic]')) load('optimistic');
  if (doc.querySelector('[data-fa-stream],[data-fa-progress],input[type=file]')) load('progress');
  if (doc.querySelector('form[data-fa-live]')) load('live'); // checks as the user types
})();
