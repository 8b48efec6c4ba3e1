/**
 * WebSockets through `/b/:id/*`: the engine upgrades the client's connection once the bundle has
 * accepted the upgrade in its sandbox, and its instance relays messages both ways
 * (`../sandbox/host/stream_table.ts`). Connections are bounded per bundle, across its versions
 * and instances: past the bound an upgrade is refused with 503 before the bundle is called.
 *
 * @module
 */
import { BundlehostError, UnavailableError } from "../base/errors.ts";
import type { HostResponse } from "../sandbox/host/stream_table.ts";

/** A client that sends nothing (not even a pong) for this long is closed, seconds. */
export const SOCKET_IDLE_TIMEOUT_S = 60;

/** Open WebSocket connections per bundle, bounded. */
export class SocketGate {
  readonly #max: number;
  readonly #open = new Map<string, number>();

  /**
   * Creates the gate.
   *
   * @param maxPerBundle Most connections open at once to one bundle.
   */
  constructor(maxPerBundle: number) {
    this.#max = maxPerBundle;
  }

  /**
   * Connections open to a bundle.
   *
   * @param id Bundle id.
   * @returns How many.
   */
  count(id: string): number {
    return this.#open.get(id) ?? 0;
  }

  /**
   * Takes a connection slot of a bundle.
   *
   * @param id Bundle id.
   * @returns Gives the slot back (idempotent).
   * @throws {UnavailableError} When the bundle has all its connections open.
   */
  admit(id: string): () => void {
    const open = this.count(id);
    if (open >= this.#max) {
      throw new UnavailableError(
        `Bundle ${id} has ${open} WebSocket connections open, the most allowed (engine option maxSocketsPerBundle)`,
      );
    }
    this.#open.set(id, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = this.count(id) - 1;
      if (left > 0) this.#open.set(id, left);
      else this.#open.delete(id);
    };
  }
}

/**
 * Upgrades the client's request once the bundle accepted it, and binds the socket to the
 * bundle's.
 *
 * @param request The client's upgrade request.
 * @param accepted The bundle's answer (an upgrade).
 * @param release Gives the connection slot back when the socket closes.
 * @returns The `101 Switching Protocols` response.
 * @throws {BundlehostError} `BAD_INPUT` when this request cannot be upgraded (e.g. made in-process).
 */
export function acceptSocket(
  request: Request,
  accepted: HostResponse,
  release: () => void,
): Response {
  let upgraded: { socket: WebSocket; response: Response };
  try {
    upgraded = Deno.upgradeWebSocket(request, { idleTimeout: SOCKET_IDLE_TIMEOUT_S });
  } catch (error) {
    release();
    accepted.attachSocket?.(undefined);
    throw new BundlehostError(
      "BAD_INPUT",
      `The request cannot be upgraded to a WebSocket: ${(error as Error).message}`,
    );
  }
  upgraded.socket.addEventListener("close", release, { once: true });
  accepted.attachSocket?.(upgraded.socket);
  return upgraded.response;
}
