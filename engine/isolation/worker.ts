/**
 * Web Worker isolation tier: one worker per instance, with explicit `deno.permissions` for every
 * kind so nothing is inherited from the engine. Cheap to start (≈10 ms) but it cannot stop a busy
 * loop nor cap memory (docs/architecture.md, "Platform facts", holes 2 and 3): use the process tier for hostile code.
 *
 * @module
 */
import { type ResolvedPermissions, toWorkerPermissions } from "../permissions.ts";
import { MessageBatcher, unbatch } from "./batcher.ts";
import type { Transport, TransportFactory } from "./instance.ts";

const RUNTIME_URL = new URL("../runtime/worker_main.ts", import.meta.url);

/** What the worker tier needs to spawn a sandbox. */
export interface WorkerSpec {
  /** Worker name, shown in Deno's own error output. */
  name: string;
  /** Exact grants. */
  permissions: ResolvedPermissions;
}

/**
 * Transport factory for the Web Worker tier.
 *
 * @param spec Name and grants.
 * @returns A factory the {@linkcode Instance} calls once.
 */
export function workerTransport(spec: WorkerSpec): TransportFactory {
  return (sink) => {
    const worker = new Worker(RUNTIME_URL, {
      type: "module",
      name: spec.name,
      deno: { permissions: toWorkerPermissions(spec.permissions) },
    });
    let ended = false;
    const batcher = new MessageBatcher((data, transfer) => worker.postMessage(data, transfer));
    worker.addEventListener("message", (event) => unbatch(event.data, sink.receive));
    worker.addEventListener("messageerror", () => sink.receive(undefined));
    worker.addEventListener("error", (event) => {
      // Without preventDefault an error in a worker terminates the engine.
      event.preventDefault();
      if (ended) return;
      sink.closed(`uncaught error in worker: ${event.message}`);
    });
    const transport: Transport = {
      send(message, transfer, onUndeliverable) {
        batcher.send(message, transfer, onUndeliverable);
      },
      kill() {
        ended = true;
        batcher.close();
        worker.terminate();
      },
    };
    return transport;
  };
}
