/**
 * HTTP to the Worker under test (127.0.0.1 only): JSON in, `{ status, json, text }` out.
 */
let BASE = "";

/** Where `api` sends requests: the served Worker's origin. */
export function setBase(base) {
  BASE = base;
}

export async function api(method, urlPath, { key, body, headers = {} } = {}) {
  const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(60_000) };
  if (key) init.headers.authorization = `Bearer ${key}`;
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(`${BASE}${urlPath}`, init);
  const text = await response.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {}
  return { status: response.status, json, text };
}

export async function expectStatus(what, promise, ...statuses) {
  const response = await promise;
  if (!statuses.includes(response.status)) throw new Error(`${what}: HTTP ${response.status} ${response.text.slice(0, 500)}`);
  return response;
}
