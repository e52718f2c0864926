// The server's HTTP API as the page uses it. The key (an API key or a session token from
// password sign-in) is only ever sent in the `x-api-key` header, never in a URL.

export class HttpError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export class Api {
  constructor(key, base = `${location.origin}/api`) {
    this.key = key;
    this.base = base;
  }

  async fetch(path, init = {}) {
    let res;
    try {
      res = await fetch(`${this.base}${path}`, {
        ...init,
        headers: { 'x-api-key': this.key, ...(init.headers ?? {}) },
      });
    } catch (e) {
      if (e?.name === 'AbortError') throw e;
      // The browser's own words ("Failed to fetch") tell a person nothing.
      throw new Error('the server could not be reached; check the connection and try again', { cause: e });
    }
    if (!res.ok) throw new HttpError(res.status, await errorText(res));
    return res;
  }

  async json(path, init) {
    return (await this.fetch(path, init)).json();
  }

  me() { return this.json('/users/me'); }

  assets(limit, cursor) {
    const q = new URLSearchParams({ limit: String(limit) });
    if (cursor) q.set('cursor', cursor);
    return this.json(`/assets?${q}`);
  }

  thumbnail(id, init) { return this.fetch(`/assets/${encodeURIComponent(id)}/thumbnail`, init); }

  original(id, init) { return this.fetch(`/assets/${encodeURIComponent(id)}/original`, init); }
}

/** `POST /api/auth/login`; resolves to `{ token, user }`. */
export async function login(username, password, base = `${location.origin}/api`) {
  const res = await fetch(`${base}/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ username, password }),
  });
  if (!res.ok) throw new HttpError(res.status, await errorText(res));
  return res.json();
}

async function errorText(res) {
  try {
    const text = await res.text();
    try {
      const body = JSON.parse(text);
      return body.message ?? body.error ?? text;
    } catch {
      return text || `HTTP ${res.status}`;
    }
  } catch {
    return `HTTP ${res.status}`;
  }
}
