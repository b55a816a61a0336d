// api.js — the console's calls to the tower: the session cookie goes along by
// itself, mutating calls add the session's CSRF token, errors carry the API's text.

let csrf = null;

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, body) {
    const error = body && typeof body === 'object' ? body.error : String(body || '');
    const detail = body && typeof body === 'object' ? body.detail : null;
    super(`${error || 'request failed'}${detail ? ': ' + detail : ''} (HTTP ${status})`);
    this.status = status;
    this.body = body;
  }
}

// Called on a 401: the session is gone (logged out elsewhere, expired).
let onUnauthorized = () => {};
export function whenUnauthorized(fn) {
  onUnauthorized = fn;
}

export async function api(method, path, body) {
  const headers = {Accept: 'application/json'};
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && csrf) headers['X-CSRF-Token'] = csrf;
  const r = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
    cache: 'no-store',
  });
  const text = await r.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // a text answer (a task's log): kept as it is
  }
  if (!r.ok) {
    if (r.status === 401 && path !== '/v1/session') onUnauthorized();
    throw new ApiError(r.status, data);
  }
  return data;
}

// An EventSource that closes itself on the stream's "end" (else the browser
// would reconnect and replay it forever). handlers: {eventName: fn(data)}.
export function stream(path, handlers) {
  const es = new EventSource(path);
  for (const [name, fn] of Object.entries(handlers)) {
    if (name === 'onclose') continue;
    es.addEventListener(name, (ev) => {
      let data = null;
      try {
        data = JSON.parse(ev.data);
      } catch {
        return;
      }
      fn(data);
    });
  }
  es.addEventListener('end', () => es.close());
  // A dropped stream is not retried blindly: the page that opened it decides.
  es.onerror = () => {
    if (es.readyState !== EventSource.CLOSED) es.close();
    if (handlers.onclose) handlers.onclose();
  };
  return es;
}
