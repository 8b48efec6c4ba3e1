/**
 * Entry module of the Web Worker tier. It is loaded with the engine's permissions (hole 1), so it
 * imports only engine code; the bundle itself is loaded later by a non-literal `import()` under
 * the worker's own permissions.
 *
 * @module
 */
import type { HostMessage } from "../protocol.ts";
import { MessageBatcher, unbatch } from "../isolation/batcher.ts";
import { startRuntime } from "./runtime.ts";

interface WorkerScope {
  postMessage(message: unknown, transfer: Transferable[]): void;
  close(): void;
  addEventListener(type: "message", listener: (event: MessageEvent<HostMessage>) => void): void;
}
const scope = globalThis as unknown as WorkerScope;
const post = scope.postMessage.bind(scope);
const close = scope.close.bind(scope);
const batcher = new MessageBatcher(post);

// A bundle calling self.close() would end the worker silently: report it first.
Object.defineProperty(scope, "close", {
  value: () => {
    try {
      batcher.flush();
      post({ type: "fatal", reason: "self.close() called by the bundle" }, []);
    } finally {
      close();
    }
  },
});

startRuntime({
  post: (message, transfer, onUndeliverable) => batcher.send(message, transfer, onUndeliverable),
  listen: (handler) =>
    scope.addEventListener(
      "message",
      (event) => unbatch(event.data, handler as (m: unknown) => void),
    ),
  exit: () => {
    // The fatal report is queued: it must leave before the worker does.
    batcher.flush();
    close();
  },
});
