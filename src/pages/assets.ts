/**
 * The pages' only script and stylesheet, served from /assets so that the pages' CSP can forbid
 * inline code entirely (`script-src 'self'`, `style-src 'self'`). The script drives the WebAuthn
 * ceremonies: it asks the server for options, calls navigator.credentials, and posts the result.
 */
export const PAGE_SCRIPT = String.raw`'use strict';
(function () {
  var main = document.querySelector('main[data-page]');
  var status = document.querySelector('[data-status]');
  if (!main || !status) return;
  var kind = main.getAttribute('data-page');
  var base = window.location.pathname.replace(/\/+$/, '');
  var buttons = Array.prototype.slice.call(document.querySelectorAll('[data-action]'));

  function setStatus(text) { status.textContent = text; }
  function busy(on) { buttons.forEach(function (b) { b.disabled = on; }); }
  function fromB64u(s) {
    var b64 = s.replace(/-/g, '+').replace(/_/g, '/');
    while (b64.length % 4) b64 += '=';
    var bin = atob(b64);
    var out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64u(buf) {
    var bytes = new Uint8Array(buf);
    var bin = '';
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }
  function credentialJson(cred) {
    if (typeof cred.toJSON === 'function') return cred.toJSON();
    var r = cred.response;
    var response = { clientDataJSON: toB64u(r.clientDataJSON) };
    if (r.attestationObject) {
      response.attestationObject = toB64u(r.attestationObject);
      if (r.getTransports) response.transports = r.getTransports();
    } else {
      response.authenticatorData = toB64u(r.authenticatorData);
      response.signature = toB64u(r.signature);
      if (r.userHandle) response.userHandle = toB64u(r.userHandle);
    }
    return { id: cred.id, rawId: toB64u(cred.rawId), type: cred.type, response: response,
      clientExtensionResults: cred.getClientExtensionResults ? cred.getClientExtensionResults() : {},
      authenticatorAttachment: cred.authenticatorAttachment || undefined };
  }
  function post(path, body) {
    return fetch(base + path, { method: 'POST', credentials: 'same-origin', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
      .then(function (res) {
        return res.json().catch(function () { return {}; }).then(function (json) {
          if (!res.ok) {
            var error = new Error(json.error_description || json.error || ('HTTP ' + res.status));
            error.status = res.status;
            throw error;
          }
          return json;
        });
      });
  }
  function fail(err) {
    var message = err && err.name === 'NotAllowedError' ? 'the passkey prompt was cancelled or timed out' : (err && err.message) || String(err);
    setStatus('error: ' + message);
    // 404/409: the link or the request can no longer be used (used, decided, expired): no retry button.
    if (err && (err.status === 404 || err.status === 409)) buttons.forEach(function (b) { b.hidden = true; });
    else busy(false);
  }

  if (kind === 'enroll') {
    buttons.forEach(function (button) {
      button.addEventListener('click', function () {
        busy(true);
        setStatus('waiting for your passkey…');
        post('/options', {}).then(function (o) {
          o.challenge = fromB64u(o.challenge);
          o.user.id = fromB64u(o.user.id);
          o.excludeCredentials = (o.excludeCredentials || []).map(function (c) { return Object.assign({}, c, { id: fromB64u(c.id) }); });
          return navigator.credentials.create({ publicKey: o });
        }).then(function (cred) {
          return post('', { credential: credentialJson(cred) });
        }).then(function (result) {
          setStatus(result.status);
          buttons.forEach(function (b) { b.hidden = true; });
        }).catch(fail);
      });
    });
  }

  if (kind === 'approval') {
    var left = document.querySelector('[data-expires-at]');
    var expiresAt = left ? Number(left.getAttribute('data-expires-at')) : 0;
    var timer = null;
    function tick() {
      var seconds = Math.max(0, Math.round(expiresAt - Date.now() / 1000));
      if (left) left.textContent = seconds <= 0 ? 'expired' : (seconds >= 60 ? Math.floor(seconds / 60) + ' min ' : '') + (seconds % 60) + ' s';
      if (seconds <= 0) {
        clearInterval(timer);
        if (main.getAttribute('data-state') === 'pending') {
          main.setAttribute('data-state', 'expired');
          buttons.forEach(function (b) { b.hidden = true; });
          setStatus('expired');
        }
      }
    }
    if (main.getAttribute('data-state') === 'pending' && expiresAt) { timer = setInterval(tick, 1000); tick(); }
    buttons.forEach(function (button) {
      button.addEventListener('click', function () {
        var action = button.getAttribute('data-action');
        busy(true);
        setStatus('waiting for your passkey…');
        post('/options', { action: action }).then(function (o) {
          o.challenge = fromB64u(o.challenge);
          o.allowCredentials = (o.allowCredentials || []).map(function (c) { return Object.assign({}, c, { id: fromB64u(c.id) }); });
          return navigator.credentials.get({ publicKey: o });
        }).then(function (cred) {
          return post('/decision', { action: action, credential: credentialJson(cred) });
        }).then(function (result) {
          clearInterval(timer);
          main.setAttribute('data-state', result.status);
          buttons.forEach(function (b) { b.hidden = true; });
          setStatus(result.status);
        }).catch(fail);
      });
    });
  }
})();
`;

export const PAGE_STYLE = `:root { color-scheme: light; --ink: #1b1f24; --muted: #57606a; --line: #d0d7de; --accent: #0b6e4f; --danger: #b42318; }
* { box-sizing: border-box; }
body { margin: 0; font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink); background: #f6f8fa; }
main { max-width: 40rem; margin: 2rem auto; padding: 1.5rem 2rem; background: #fff; border: 1px solid var(--line); border-radius: 12px; }
h1 { font-size: 1.5rem; margin: 0 0 .5rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
h3 { font-size: 1rem; margin: .25rem 0; }
.lead, .muted { color: var(--muted); }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .35rem 1rem; margin: 0; }
dt { color: var(--muted); }
.task dt, .task h3 { text-transform: capitalize; }
dd { margin: 0; }
dl.nested { grid-template-columns: max-content 1fr; }
code { font: .9em ui-monospace, SFMono-Regular, Menlo, monospace; background: #f0f2f4; padding: 0 .3em; border-radius: 4px; }
.scope { margin-right: .25rem; }
.amount { font-size: 1.1em; }
.task { border: 1px solid var(--line); border-radius: 8px; padding: .5rem .75rem; margin: .5rem 0; }
.binding { padding: .5rem .75rem; background: #fff8c5; border: 1px solid #d4a72c; border-radius: 8px; }
.actions { display: flex; gap: .75rem; margin: 1.5rem 0 .5rem; }
button { font: inherit; padding: .6rem 1.2rem; border-radius: 8px; border: 1px solid var(--line); cursor: pointer; background: #fff; }
button.approve { background: var(--accent); color: #fff; border-color: var(--accent); }
button.deny { color: var(--danger); border-color: var(--danger); }
button:disabled { opacity: .5; cursor: wait; }
.status { margin-top: 1rem; color: var(--muted); }
[data-status] { font-weight: 600; color: var(--ink); }
`;
