// The admin API client: the token lives in this tab's sessionStorage only and travels as a
// bearer token, never in a URL; it is never written to the page or the browser console.
const KEY = "bundlehost.adminToken";

/** The signed-in token, or null. */
export function token() {
  return sessionStorage.getItem(KEY);
}

/** Keeps the token for this tab. */
export function setToken(value) {
  sessionStorage.setItem(KEY, value);
}

/** Forgets the token. */
export function clearToken() {
  sessionStorage.removeItem(KEY);
}

/** A failed admin API request, with the status and the engine's own words. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

let unauthorized = () => {};

/** Sets what happens when the engine refuses the saved token. */
export function whenUnauthorized(fn) {
  unauthorized = fn;
}

function headersFor(body, options) {
  const headers = { authorization: `Bearer ${options.token ?? token() ?? ""}` };
  if (body === undefined) return [headers, undefined];
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    headers["content-type"] = options.type ?? "application/gzip";
    return [headers, body];
  }
  headers["content-type"] = "application/json";
  return [headers, JSON.stringify(body)];
}

/**
 * Calls the admin API. Options: method, body (JSON value, Blob or ArrayBuffer), type, signal,
 * token (to try one before keeping it), quiet (a 401 does not sign out).
 */
export async function api(path, options = {}) {
  const [headers, body] = headersFor(options.body, options);
  let response;
  try {
    response = await fetch(path, {
      method: options.method ?? "GET",
      headers,
      body,
      signal: options.signal,
      cache: "no-store",
      credentials: "omit",
      redirect: "error",
    });
  } catch (error) {
    if (error?.name === "AbortError") throw error;
    throw new ApiError(0, "NETWORK", "The engine did not answer: is it running?");
  }
  const text = await response.text();
  let json;
  try {
    json = text === "" ? null : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (response.ok) return json;
  const message = json?.error?.message ?? (text.slice(0, 300) || response.statusText);
  const error = new ApiError(response.status, json?.error?.code ?? "HTTP", message);
  if (response.status === 401 && !options.quiet) unauthorized(error);
  throw error;
}

/** An error in words for the operator: the status and the engine's message. */
export function describe(error) {
  if (error instanceof ApiError) {
    return error.status === 0 ? error.message : `${error.status}: ${error.message}`;
  }
  return String(error?.message ?? error);
}
