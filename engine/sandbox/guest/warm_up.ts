/**
 * Warm-up of a worker-tier sandbox while it waits for its `init`: the work every start pays for
 * the first time is done before a bundle is handed the worker, so a pre-spawned spare
 * (`../host/worker_reserve.ts`) starts its bundle with it already done. Measured per start of a
 * handed-out spare (engine sends `init` → engine receives `ready`, 2 cores, medians): the first
 * message into a worker took 2.2 ms against 0.6 for the next, its first message out 1.2–3.0 ms
 * against 0.4, and the hardening 1.2 ms (it loads Deno's lazily loaded web APIs in order to remove
 * them); the import of the bundle's module and the rest of `init` took 1.7 ms.
 *
 * It runs the sandbox's own hardening early (idempotent: `init` runs it again right before the
 * bundle's import, which still comes first for the bundle), sends one protocol-shaped message
 * through a private channel and back (Deno's serializer, deserializer and event dispatch, compiled
 * once per isolate), and walks one through the clone check. Nothing of it is left reachable: the
 * channel is closed, and no global is added. It grants nothing and reads nothing: a spare holds
 * no permission at all, and this runs in whatever the sandbox was granted.
 *
 * @module
 */
import { hardenSandbox } from "./harden.ts";
import { clonesCheaply } from "./clone_check.ts";

/** A message shaped like the protocol's (nested object, array, strings, numbers, boolean). */
const SAMPLE = {
  type: "ready",
  id: 1,
  services: { Warm: ["up"] },
  fetch: false,
  hooks: ["onStart"],
  value: { list: [1, "two", null], flag: true },
};

/**
 * Warms the sandbox up. Resolves once the private message has made its round trip; messages from
 * the engine that arrive meanwhile are handled as usual.
 *
 * @returns Resolves when done; never rejects (a failed warm-up only costs the first start time).
 */
export function warmUp(): Promise<void> {
  try {
    hardenSandbox();
    clonesCheaply(SAMPLE, 64);
    const { port1, port2 } = new MessageChannel();
    return new Promise<void>((resolve) => {
      port2.onmessage = (event: MessageEvent) => port2.postMessage(event.data);
      port1.onmessage = () => {
        port1.close();
        port2.close();
        resolve();
      };
      port1.postMessage(SAMPLE);
    });
  } catch {
    return Promise.resolve();
  }
}
