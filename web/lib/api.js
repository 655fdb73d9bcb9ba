// Calls to the public API (API.md) with the signed-in person's ID token. Errors are the API's
// problem+json, kept whole: its stable ``code`` picks the message, ``errors[]`` go next to fields.
import { config } from "./config.js";
import { forget, idToken, refresh } from "./auth.js";

export class ApiError extends Error {
  constructor(status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`);
    this.status = status;
    this.problem = problem;
    this.code = problem.code || (status === 0 ? "network" : "unknown");
  }
}

/** A fresh idempotency key: one per user action, kept for its retries (API.md "Idempotency-Key"). */
export function newKey() {
  return crypto.randomUUID();
}

async function send(method, path, body, key, token) {
  const headers = {};
  if (token) {
    headers.Authorization = `Bearer ${token}`;
  }
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
  }
  if (key) {
    headers["Idempotency-Key"] = key;
  }
  try {
    return await fetch(config().api.replace(/\/$/, "") + path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new ApiError(0, { code: "network", detail: String(error) });
  }
}

/**
 * One API call: the parsed answer of a 2xx (null for 204), or an ApiError. ``auth: false`` for the
 * public routes. A 401 refreshes the tokens once and retries with the same idempotency key.
 */
export async function api(method, path, { body, key, auth = true } = {}) {
  let token = auth ? await idToken() : null;
  if (auth && !token) {
    throw new ApiError(401, { code: "unauthorized" });
  }
  let answer = await send(method, path, body, key, token);
  if (answer.status === 401 && auth) {
    const renewed = await refresh();
    if (renewed) {
      token = renewed.idToken;
      answer = await send(method, path, body, key, token);
    }
  }
  if (answer.status === 401 && auth) {
    forget();
    window.dispatchEvent(new CustomEvent("portal:signed-out"));
  }
  const text = await answer.text();
  let parsed = null;
  if (text) {
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      parsed = { detail: text };
    }
  }
  if (!answer.ok) {
    throw new ApiError(answer.status, parsed || {});
  }
  return parsed;
}

/** The signed-in account's path: /accounts/{id}{tail}. */
export function accountPath(accountId, tail = "") {
  return `/accounts/${encodeURIComponent(accountId)}${tail}`;
}
