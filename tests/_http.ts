/**
 * HTTP helpers for the black-box tests: admin calls and `/rpc` calls against a base URL (an
 * in-process test server or the real engine in a child process), with typed JSON replies.
 *
 * @module
 */
import type { RevisionStatus } from "../mod.ts";
import type { ReleaseRecord } from "../engine/store/store.ts";
import { TEST_TOKEN } from "./_server.ts";

/** The JSON error body every route answers with on failure. */
export interface ErrorReply {
  /** Stable code. */
  code: string;
  /** Message for people. */
  message: string;
  /** Offending manifest field. */
  field?: string;
  /** What the bundle threw. */
  bundle?: { name: string; code?: string };
}

/** A reply: status, headers and parsed JSON body (`undefined` when the body is not JSON). */
export interface Reply<T = Record<string, unknown>> {
  /** HTTP status. */
  status: number;
  /** Response headers. */
  headers: Headers;
  /** Parsed body. */
  body: T & { error?: ErrorReply; result?: unknown };
}

/** `GET /admin/bundles/:id` as the admin API shows it. */
export interface BundleView {
  id: string;
  state: string;
  active: string;
  desired: "started" | "stopped";
  weights?: Record<string, number>;
  history: string[];
  releases: ReleaseRecord[];
  revisions: RevisionStatus[];
}

/** `POST /admin/releases` success body. */
export interface ReleaseReply {
  id: string;
  version: string;
  hash: string;
  created: boolean;
  state: string;
}

async function reply<T>(response: Response): Promise<Reply<T>> {
  const text = await response.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = { text };
  }
  return { status: response.status, headers: response.headers, body: body as Reply<T>["body"] };
}

/**
 * Calls the admin API with the test token.
 *
 * @param base Base URL.
 * @param method HTTP method.
 * @param path Path under the base URL.
 * @param body JSON body (serialized) or raw bytes, if any.
 * @param headers Extra headers (e.g. a content type for bytes).
 * @returns The reply.
 */
export async function admin<T = Record<string, unknown>>(
  base: string,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<Reply<T>> {
  const init: RequestInit = {
    method,
    headers: { authorization: `Bearer ${TEST_TOKEN}`, ...headers },
  };
  if (body instanceof Uint8Array || body instanceof ReadableStream) {
    init.body = body as BodyInit;
  } else if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { "content-type": "application/json", ...init.headers };
  }
  return await reply<T>(await fetch(`${base}${path}`, init));
}

/**
 * Releases a bundle folder through `POST /admin/releases`.
 *
 * @param base Base URL.
 * @param path Bundle folder.
 * @returns The reply.
 */
export function releasePath(base: string, path: string): Promise<Reply<ReleaseReply>> {
  return admin<ReleaseReply>(base, "POST", "/admin/releases", { path });
}

/**
 * Calls `POST /rpc/:service/:method`.
 *
 * @param base Base URL.
 * @param service Service name.
 * @param method Method name.
 * @param input Input, sent as JSON.
 * @param headers Route and other headers.
 * @returns The reply; `headers.get("x-bundle")` says who served.
 */
export async function rpc(
  base: string,
  service: string,
  method: string,
  input: unknown = null,
  headers: Record<string, string> = {},
): Promise<Reply> {
  const response = await fetch(`${base}/rpc/${service}/${method}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(input),
  });
  return await reply(response);
}
