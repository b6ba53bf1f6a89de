/*! flask-actions browser enhancement | BSD-3-Clause | docs/browser.md */
// A classic script (no modules, no build step). It enhances the forms that the
// flask_actions macros render: the same forms work without it, so everything
// here is an improvement on the plain POST/redirect/GET round trip, never a
// requirement. The wire protocol it speaks is described in docs/wire.md.
(() => {
  'use strict';
  if (window.FlaskActions) return;

  const d = document;
  const pending = new Map(); // form -> state of its submission in flight
  const frozen = new WeakSet(); // pending submitters: a morph leaves them alone
  const native = new WeakSet(); // forms whose next submit goes to the browser
  const said = new WeakSet(); // message elements this script wrote into
  const OPT = 'data-fa-optimistic-item';
  const messages = {
    network: 'The request failed. Check your connection and try again; nothing you typed was lost.',
    server: 'The server could not complete the request. Try again; nothing you typed was lost.',
  };

  const emit = (el, type, detail, cancelable) =>
    (el.isConnected ? el : d).dispatchEvent(
      new CustomEvent('fa:' + type, { bubbles: true, cancelable: !!cancelable, detail }),
    );
  const csrf = () => d.querySelector('meta[name="csrf-token"]');

  // --- Form control values -------------------------------------------------
  // A control's value differs from its default (the value the HTML gave it)
  // exactly when the user (or a page script) changed it. That is how a morph
  // tells "the user is typing here" from "the server changed this field".
  const box = (el) => el.type === 'checkbox' || el.type === 'radio';
  const val = (el) =>
    box(el)
      ? el.checked ? '1' : ''
      : el.nodeName === 'SELECT'
        ? [...el.selectedOptions].map((o) => o.value).join('\n')
        : el.value;
  const dflt = (el) => {
    if (box(el)) return el.defaultChecked ? '1' : '';
    if (el.type === 'file') return '';
    if (el.nodeName !== 'SELECT') return el.defaultValue;
    const os = [...el.options];
    const ds = os.filter((o) => o.defaultSelected);
    return (el.multiple || el.size > 1 ? ds : [ds.pop() || os.find((o) => !o.disabled)])
      .filter(Boolean)
      .map((o) => o.value)
      .join('\n');
  };
  const put = (el, v) => {
    if (val(el) === v) return;
    if (box(el)) el.checked = !!v;
    else if (el.nodeName === 'SELECT') for (const o of el.options) o.selected = v.split('\n').includes(o.value);
    else el.value = v;
  };

  // --- Morphing --------------------------------------------------------------
  // Brings the live DOM in line with a freshly rendered page while keeping the
  // nodes that survive (and with them focus, caret, scroll and typed values).
  // Children are matched on id, then on tag + name (form controls), then on
  // position. Optimistic items of other submissions still in flight are kept.
  const key = (n) =>
    n.nodeType !== 1 ? '' : n.id ? '#' + n.id : n.hasAttribute('name') ? n.nodeName + ' ' + n.getAttribute('name') : '';
  const same = (o, n) => o.nodeName === n.nodeName && key(o) === key(n);
  const kept = (n) => n && n.nodeType === 1 && n.hasAttribute(OPT);
  const CONTROL = /^(INPUT|SELECT|TEXTAREA)$/;

  function morph(o, n, reset) {
    if (o.nodeType !== 1) {
      if (o.nodeValue !== n.nodeValue) o.nodeValue = n.nodeValue;
      return;
    }
    if (frozen.has(o) || o.hasAttribute('data-fa-permanent')) return;
    const tag = o.nodeName;
    const ctl = CONTROL.test(tag);
    let v, keep;
    if (ctl) {
      v = val(o);
      // Keep what the user typed, except in the form that just succeeded,
      // where the server's (usually cleared) value wins unless the user kept
      // typing after the request started.
      keep = v !== dflt(o) && reset.get(o) !== v;
    }
    for (const a of [...o.attributes]) if (!n.hasAttribute(a.name)) o.removeAttribute(a.name);
    for (const a of n.attributes) if (o.getAttribute(a.name) !== a.value) o.setAttribute(a.name, a.value);
    if (tag === 'TEXTAREA') {
      if (o.defaultValue !== n.defaultValue) o.defaultValue = n.defaultValue;
    } else if (tag === 'TEMPLATE') {
      if (o.innerHTML !== n.innerHTML) o.innerHTML = n.innerHTML;
    } else if (tag !== 'NOSCRIPT') children(o, n, reset);
    if (ctl) put(o, keep ? v : dflt(o));
  }

  function children(o, n, reset) {
    const news = [...n.childNodes];
    const want = new Set(news.map(key));
    let c = o.firstChild;
    const drop = (x) => {
      c = x.nextSibling;
      x.remove();
    };
    for (const nc of news) {
      for (;;) {
        while (kept(c)) c = c.nextSibling;
        if (c && key(c) && !want.has(key(c))) drop(c);
        else break;
      }
      const k = key(nc);
      let m = null;
      if (k) {
        for (let x = c; x; x = x.nextSibling) if (!kept(x) && same(x, nc)) { m = x; break; }
      } else if (c && same(c, nc)) m = c;
      else if (c && !key(c) && c.nextSibling && !kept(c.nextSibling) && same(c.nextSibling, nc)) {
        drop(c);
        m = c;
      }
      if (!m) o.insertBefore(d.adoptNode(nc), c);
      else {
        if (m === c) c = c.nextSibling;
        else
          try {
            o.moveBefore(m, c); // keeps focus and state where supported
          } catch {
            o.insertBefore(m, c);
          }
        morph(m, nc, reset);
      }
    }
    while (c) {
      const x = c;
      c = c.nextSibling;
      if (!kept(x)) x.remove();
    }
  }

  function update(html, reset = new Map()) {
    const doc = new DOMParser().parseFromString(html, 'text/html');
    const a = d.activeElement;
    let sel;
    try {
      sel = [a.selectionStart, a.selectionEnd, a.selectionDirection];
    } catch {}
    const m = doc.querySelector('meta[name="csrf-token"]');
    if (m && csrf()) csrf().content = m.content;
    if (doc.title && doc.title !== d.title) d.title = doc.title;
    morph(d.body, doc.body, reset);
    for (const st of pending.values()) mark(st);
    if (a && a !== d.body && a.isConnected && d.activeElement !== a) {
      a.focus({ preventScroll: true });
      try {
        if (sel[0] != null) a.setSelectionRange(...sel);
      } catch {}
    }
  }

  // --- Pending state and optimistic items ------------------------------------
  function mark(st) {
    st.f.setAttribute('aria-busy', 'true');
    st.f.setAttribute('data-pending', '');
    for (const [t] of st.hide) t.hidden = true;
  }

  function busy(st, on) {
    const { f, s } = st;
    if (on) {
      pending.set(f, st);
      mark(st);
    } else {
      pending.delete(f);
      f.removeAttribute('aria-busy');
      f.removeAttribute('data-pending');
      for (const x of st.items) x.remove();
      for (const [t, h] of st.hide) t.hidden = h;
      st.items = st.hide = [];
    }
    if (!s) return;
    const input = s.nodeName === 'INPUT';
    if (on) {
      frozen.add(s);
      st.dis = s.disabled;
      s.disabled = true;
      const t = s.getAttribute('data-pending-text');
      if (t != null) {
        st.label = input ? s.value : [...s.childNodes];
        if (input) s.value = t;
        else s.textContent = t;
      }
    } else {
      frozen.delete(s);
      s.disabled = st.dis;
      if (st.label != null) {
        if (input) s.value = st.label;
        else s.replaceChildren(...st.label);
      }
      if (st.focus === s && s.isConnected && (d.activeElement === d.body || !d.activeElement))
        s.focus({ preventScroll: true });
    }
  }

  function optimistic(st, fd) {
    const q = 'template[data-fa-optimistic]';
    let ts = st.s ? [...st.s.querySelectorAll(q)] : [];
    if (!ts.length) ts = [...st.f.querySelectorAll(q)].filter((t) => !t.closest('button'));
    for (const t of ts) {
      const target = d.querySelector(t.dataset.target);
      if (!target) continue;
      const c = t.content.cloneNode(true);
      for (const el of c.querySelectorAll('[data-fa-field]')) {
        const v = fd.get(el.dataset.faField);
        el.textContent = v == null ? '' : typeof v === 'string' ? v : v.name;
      }
      for (const el of c.children) {
        el.setAttribute(OPT, '');
        st.items.push(el);
      }
      let pos = t.dataset.position;
      if (pos === 'replace') {
        st.hide.push([target, target.hidden]);
        target.hidden = true;
        pos = 'after';
      }
      target[/^(prepend|before|after)$/.test(pos) ? pos : 'append'](c);
    }
  }

  // --- Messages and focus --------------------------------------------------------
  function say(f, text) {
    if (!f.isConnected) return;
    let el = f.querySelector('[data-fa-message]');
    if (!el) {
      el = d.createElement('div');
      el.setAttribute('data-fa-message', '');
      el.setAttribute('role', 'alert');
      f.prepend(el);
    }
    el.textContent = text;
    said.add(el);
  }

  function names(errors, prefix, out) {
    for (const k in errors || {}) {
      const n = prefix ? prefix + '.' + k : k;
      out.add(n);
      if (errors[k] && typeof errors[k] === 'object' && !Array.isArray(errors[k])) names(errors[k], n, out);
    }
    return out;
  }

  function focusInvalid(f, errors) {
    const bad = names(errors, '', new Set());
    for (const el of f.elements)
      if (el.type !== 'hidden' && (el.getAttribute('aria-invalid') === 'true' || bad.has(el.name)))
        return el.focus();
  }

  // --- Enhanced form submission --------------------------------------------------
  const enhanced = (f, s) =>
    (f.hasAttribute('data-fa-form') || (s && s.hasAttribute('data-fa-button')) || f.elements._action) &&
    !f.hasAttribute('data-fa-native') &&
    !(s && s.hasAttribute('data-fa-native')) &&
    ((s && s.formMethod) || f.method) === 'post' &&
    /^(_self)?$/i.test(s && s.hasAttribute('formtarget') ? s.formTarget : f.target);

  function fallback(f, s) {
    native.add(f); // requestSubmit dispatches "submit" synchronously
    try {
      f.requestSubmit(s && s.isConnected ? s : null);
    } finally {
      native.delete(f);
    }
  }

  async function submit(f, s) {
    if (pending.has(f)) return;
    const fd = new FormData(f, s);
    // Browsers that ignore FormData's submitter argument still send the button.
    if (s && s.name && !fd.has(s.name)) fd.append(s.name, s.value);
    if (!emit(f, 'before', { form: f, submitter: s, formData: fd }, 1)) return;
    const url = s && s.hasAttribute('formaction') ? s.formAction : f.action;
    const st = { f, s, focus: d.activeElement, snap: new Map(), items: [], hide: [] };
    for (const el of f.elements) if (CONTROL.test(el.nodeName)) st.snap.set(el, val(el));
    busy(st, 1);
    optimistic(st, fd);
    let res, r, error;
    try {
      res = await fetch(url, {
        method: 'POST',
        body: fd,
        credentials: 'same-origin',
        headers: { Accept: 'application/json', 'X-Flask-Actions': 'form' },
      });
      if (/json/.test(res.headers.get('Content-Type'))) r = await res.json();
    } catch (e) {
      error = e;
    }
    if (r && r.redirect && r.ok) {
      // Stay busy while the browser navigates away; see "pageshow" below.
      const detail = { form: f, submitter: s, result: r, response: res };
      if (emit(f, 'success', detail, 1)) location.assign(r.redirect);
      else busy(st, 0);
      emit(f, 'after', detail);
      return r;
    }
    busy(st, 0);
    if (!error && !r && res.status < 500) {
      // Not an action response (an error page, a proxy): let the browser show it.
      if (res.redirected) location.assign(res.url);
      else fallback(f, s);
      return;
    }
    if (r && r.code === 'unknown_action') return fallback(f, s); // e.g. the secret changed
    const ok = !!(r && r.ok);
    const detail = { form: f, submitter: s, result: r || null, response: res || null, error };
    if (emit(f, ok ? 'success' : 'failure', detail, 1)) {
      if (r && r.html) update(r.html, ok ? st.snap : undefined);
      else if (ok) {
        // The page did not change: show the form as a reload would.
        for (const [el, v] of st.snap) if (el.isConnected && val(el) === v) put(el, dflt(el));
      }
      const g = f.isConnected ? f : (f.id && d.getElementById(f.id)) || f;
      if (ok) {
        for (const el of g.querySelectorAll('[data-fa-message]')) if (said.has(el)) el.textContent = '';
      } else {
        const text = r ? r.message : error ? messages.network : messages.server;
        if (text && !d.body.textContent.includes(text)) say(g, text);
        if (r) focusInvalid(g, r.errors);
      }
    }
    emit(f, 'after', detail);
    return r;
  }

  d.addEventListener('submit', (e) => {
    const f = e.target;
    const s = e.submitter;
    if (native.has(f) || e.defaultPrevented || !enhanced(f, s)) return;
    e.preventDefault();
    submit(f, s);
  });

  // Coming back to this page from the history cache: nothing is in flight.
  addEventListener('pageshow', (e) => {
    if (e.persisted) for (const st of [...pending.values()]) busy(st, 0);
  });

  // --- Calls from event handlers -------------------------------------------------
  async function call(ref, data, opts = {}) {
    const form = data instanceof FormData;
    const headers = { Accept: 'application/json', 'X-Action': ref, 'X-Flask-Actions': 'call' };
    if (csrf()) headers['X-CSRFToken'] = csrf().content;
    if (!form) headers['Content-Type'] = 'application/json';
    let res, r;
    try {
      res = await fetch(location.href, {
        method: 'POST',
        headers,
        credentials: 'same-origin',
        signal: opts.signal,
        body: form ? data : JSON.stringify(data === undefined ? {} : data),
      });
      r = await res.json();
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      r = { ok: false, status: res ? res.status : 0, errors: {}, message: res ? messages.server : messages.network };
    }
    if (r.html) update(r.html);
    if (r.ok) {
      if (r.redirect && opts.navigate !== false) location.assign(r.redirect);
      return r;
    }
    throw Object.assign(new Error(r.message || 'Action failed with status ' + r.status), {
      status: r.status,
      errors: r.errors || {},
      result: r,
    });
  }

  window.FlaskActions = { call, submit, morph: update, messages };
})();
