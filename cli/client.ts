/**
 * The CLI's only way into the engine: the admin API over HTTP, with the bearer token.
 *
 * @module
 */
import { CliError, env, EXIT } from "./context.ts";

/** Where the engine is and how to authenticate. */
export interface AdminClientOptions {
  /** `--url`; falls back to `BUNDLEHOST_URL`, then `http://127.0.0.1:8000`. */
  url?: string;
  /** `--token`; falls back to `BUNDLEHOST_ADMIN_TOKEN`, then `.bundlehost/admin_token`. */
  token?: string;
}

/** A client of the engine's admin API. */
export interface AdminClient {
  /** Base URL without a trailing slash. */
  readonly base: string;
  /**
   * Sends one request and parses the JSON reply.
   *
   * @throws {CliError} exit 1 when the engine refuses (4xx/5xx), 3 when it cannot be reached.
   */
  call(method: string, path: string, body?: BodyInit, type?: string): Promise<unknown>;
  /**
   * Opens a streaming GET (server-sent events); the response is returned unread when it is 2xx.
   *
   * @throws {CliError} as {@linkcode AdminClient.call}.
   */
  open(path: string, signal?: AbortSignal): Promise<Response>;
  /**
   * Sends a GET for a text (not JSON) answer; the response is returned unread when it is 2xx, so
   * its headers can be read too.
   *
   * @throws {CliError} as {@linkcode AdminClient.call}.
   */
  get(path: string): Promise<Response>;
}

async function readToken(explicit: string | undefined): Promise<string> {
  const token = explicit ?? env("BUNDLEHOST_ADMIN_TOKEN");
  if (token !== undefined) return token;
  try {
    return (await Deno.readTextFile(".bundlehost/admin_token")).trim();
  } catch {
    throw new CliError(
      "No admin token: pass --token, set BUNDLEHOST_ADMIN_TOKEN, or run from the engine's folder",
      EXIT.unreachable,
    );
  }
}

async function refusal(response: Response): Promise<CliError> {
  const text = await response.text();
  let err: { code?: string; message?: string } | undefined;
  try {
    err = (JSON.parse(text) as { error?: { code?: string; message?: string } })?.error;
  } catch {
    err = undefined;
  }
  return new CliError(
    `${response.status} ${err?.code ?? ""}: ${err?.message ?? text}`.trim(),
    EXIT.refused,
  );
}

/**
 * Creates an admin client; the token is read on the first request.
 *
 * @param options URL and token.
 * @returns The client.
 */
export function adminClient(options: AdminClientOptions): AdminClient {
  const base = (options.url ?? env("BUNDLEHOST_URL") ?? "http://127.0.0.1:8000").replace(/\/$/, "");
  let token: Promise<string> | undefined;
  const send = async (method: string, path: string, init: RequestInit) => {
    const bearer = await (token ??= readToken(options.token));
    try {
      return await fetch(`${base}${path}`, {
        method,
        ...init,
        headers: { authorization: `Bearer ${bearer}`, ...init.headers },
      });
    } catch (error) {
      if (init.signal?.aborted) throw error;
      throw new CliError(
        `Cannot reach the engine at ${base}: ${(error as Error).message}`,
        EXIT.unreachable,
      );
    }
  };
  return {
    base,
    async call(method, path, body, type = "application/json") {
      const response = await send(
        method,
        path,
        body === undefined ? {} : { body, headers: { "content-type": type } },
      );
      if (!response.ok) throw await refusal(response);
      const text = await response.text();
      try {
        return JSON.parse(text);
      } catch {
        return text;
      }
    },
    async open(path, signal) {
      const response = await send("GET", path, {
        headers: { accept: "text/event-stream" },
        ...(signal ? { signal } : {}),
      });
      if (!response.ok) throw await refusal(response);
      return response;
    },
    async get(path) {
      const response = await send("GET", path, {});
      if (!response.ok) throw await refusal(response);
      return response;
    },
  };
}
