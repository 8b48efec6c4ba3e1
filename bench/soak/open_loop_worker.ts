/**
 * Worker entry of the soak benchmark's fixed-rate generator: receives an
 * {@linkcode OpenLoopConfig}, posts `{ kind: "second", due, answered, failed }` about once a
 * second and finally `{ kind: "done", result }` (its arrays transferred, not copied).
 *
 * @module
 */
import { type OpenLoopConfig, runOpenLoop } from "./open_loop.ts";

const scope = self as unknown as {
  onmessage: ((event: MessageEvent<OpenLoopConfig>) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
};

scope.onmessage = async (event) => {
  scope.onmessage = null;
  const result = await runOpenLoop(event.data, (due, answered, failed) => {
    scope.postMessage({ kind: "second", due, answered, failed });
  });
  const buffers = [result.dueMs, result.latencyMs, result.lagMs, result.status, result.target]
    .map((a) => a.buffer as ArrayBuffer);
  scope.postMessage({ kind: "done", result }, buffers);
};
