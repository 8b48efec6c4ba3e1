/**
 * Fault reporting, installed before any bundle code runs: an uncaught exception, an unhandled
 * rejection or the bundle's own `Deno.exit` is reported to the engine as a `fatal` message, once,
 * and ends the sandbox.
 *
 * @module
 */
import type { GuestMessage } from "../wire/protocol.ts";
import { toWireError } from "../wire/wire_error.ts";

/**
 * Installs the handlers.
 *
 * @param post Sends a message to the engine.
 * @param exit Ends the sandbox once the report is on its way.
 */
export function installFaultReport(
  post: (message: GuestMessage) => void,
  exit: (code: number) => void,
): void {
  let dying = false;
  function fatal(reason: string, error?: unknown): void {
    if (dying) return;
    dying = true;
    try {
      post(
        error === undefined ? { type: "fatal", reason } : {
          type: "fatal",
          reason,
          error: toWireError(error),
        },
      );
    } finally {
      exit(70);
    }
  }
  globalThis.addEventListener("error", (event) => {
    event.preventDefault();
    fatal("uncaught exception", (event as ErrorEvent).error ?? (event as ErrorEvent).message);
  });
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    fatal("unhandled promise rejection", (event as PromiseRejectionEvent).reason);
  });
  const realExit = Deno.exit;
  Object.defineProperty(Deno, "exit", {
    value: (code?: number): never => {
      fatal(`Deno.exit(${code ?? 0}) called by the bundle`);
      return realExit(code);
    },
  });
}
