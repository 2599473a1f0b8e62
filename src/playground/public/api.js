/** The service's API as the page calls it: the key of this browser tab, and refusals in words. */

const KEY_STORAGE = 'playground.apiKey';

export const apiKey = {
  get: () => sessionStorage.getItem(KEY_STORAGE) ?? '',
  set: (key) => (key ? sessionStorage.setItem(KEY_STORAGE, key) : sessionStorage.removeItem(KEY_STORAGE)),
};

/** A refusal of the service (or no answer at all: `status` 0), with a sentence a person can act on. */
export class ApiError extends Error {
  constructor(status, body, headers) {
    super(wordsFor(status, body, headers));
    this.status = status;
    this.code = body?.code;
    this.details = body?.details;
  }
}

function wordsFor(status, body, headers) {
  const said = typeof body?.message === 'string' ? body.message : '';
  switch (status) {
    case 0:
      return 'The service cannot be reached: is it running?';
    case 401:
      return 'The service needs a valid API key: enter it in the key field above.';
    case 429:
      return `Too many requests for this key: ${said || `try again in ${headers?.get('Retry-After') ?? 60} s`}.`;
    default:
      return said || `The service answered ${status}.`;
  }
}

/** Subscribers told of every 401 (the page then asks for a key). */
const unauthorizedListeners = new Set();
export function onUnauthorized(listener) {
  unauthorizedListeners.add(listener);
}

function headers(extra = {}) {
  const key = apiKey.get();
  return { ...(key ? { Authorization: `Bearer ${key}` } : {}), ...extra };
}

/** A request whose refusal (any status ≥ 400, or no connection) throws an `ApiError`. */
export async function send(method, path, { body, accept = 'application/json', signal, lastEventId } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers({
        Accept: accept,
        ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}),
        ...(lastEventId ? { 'Last-Event-ID': lastEventId } : {}),
      }),
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0);
  }
  if (response.ok) return response;
  const text = await response.text().catch(() => '');
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  const error = new ApiError(response.status, parsed, response.headers);
  if (response.status === 401) for (const listener of unauthorizedListeners) listener(error);
  throw error;
}

/** A JSON request; resolves to the parsed body (undefined for 204). */
export async function call(method, path, body) {
  const response = await send(method, path, { body });
  return response.status === 204 ? undefined : response.json();
}

/**
 * Starts a turn; resolves to its event stream once the service took it. The turn runs on when the
 * page goes (`onDisconnect: continue`), so a reload can join it again.
 */
export function postTurn(path, body, signal) {
  return send('POST', path, { body: { ...body, onDisconnect: 'continue' }, accept: 'text/event-stream', signal });
}
