/**
 * An engine in a fresh temporary data folder, for the testing helpers: real sandboxes, real
 * Deno KV, removed with the folder on dispose.
 *
 * @module
 */
import { createEngine, type Engine, type EngineOptions } from "../engine.ts";
import type { IsolationTier } from "../sdk/types.ts";

/** A running engine and the temporary folder that holds its data. */
export interface TempEngine {
  /** The engine. */
  engine: Engine;
  /** The temporary folder; the engine's data folder is inside it. */
  root: string;
  /** Closes the engine (stopping every sandbox) and removes the folder; a second call does nothing. */
  close(): Promise<void>;
}

/**
 * Starts an engine whose data folder is a new temporary folder.
 *
 * @param options Engine options; `dataDir` is always replaced.
 * @param tier Forces this isolation tier for every bundle.
 * @returns The engine and its folder.
 */
export async function startTempEngine(
  options: EngineOptions,
  tier: IsolationTier,
): Promise<TempEngine> {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-testing-" });
  let engine: Engine;
  try {
    engine = await createEngine({ ...options, isolation: tier, dataDir: `${root}/data` });
  } catch (error) {
    await Deno.remove(root, { recursive: true }).catch(() => {});
    throw error;
  }
  let closing: Promise<void> | undefined;
  return {
    engine,
    root,
    close() {
      closing ??= engine.close().finally(() =>
        Deno.remove(root, { recursive: true }).catch(() => {})
      );
      return closing;
    },
  };
}

/**
 * A request for a bundle or plugin from a path (or a whole request), on a loopback origin.
 *
 * @param input Path such as `/hello?name=Ada`, a full URL, or a request.
 * @param init Request options when `input` is not a request.
 * @returns The request.
 */
export function toRequest(input: string | Request, init?: RequestInit): Request {
  if (input instanceof Request) return input;
  return new Request(new URL(input, "http://127.0.0.1/"), init);
}
