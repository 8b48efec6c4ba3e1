/**
 * The engine edge's book of open HTTP connections: which are busy (a request in flight) and which
 * are idle (waiting for a request head, first or next), in the order they became idle, and which
 * are closing (told to close, descriptor not yet freed: they still count). It decides
 * what the server closes: idle connections past the head timeout, and, when a newcomer arrives at
 * the cap, the connection idle the longest, so a flood of idle or half-sent connections (slowloris)
 * can never lock out new clients. Pure bookkeeping: time comes from the caller.
 *
 * @module
 */

/** One open connection as the table sees it. */
export interface ConnectionEntry {
  /** Requests whose handler has not yet returned. */
  inFlight: number;
  /** Requests seen on this connection. */
  served: number;
  /** When the connection was accepted or last became idle, epoch ms. */
  idleSince: number;
  /** Closes the connection (gracefully: a request in flight still gets its response). */
  close(): void;
}

/** Counters of what the table closed or refused. */
export interface ConnectionCounts {
  /** Connections open now (closing ones included: their descriptors are not yet freed). */
  open: number;
  /** Connections open now with a request in flight. */
  busy: number;
  /** Closed because no request head arrived within the head timeout. */
  timedOut: number;
  /** Closed to make room for a newcomer at the cap. */
  evicted: number;
  /** Newcomers refused because every connection at the cap was busy. */
  refused: number;
}

/**
 * Open connections, their states and the closing policy.
 *
 * @example Evict the longest-idle connection at the cap
 * ```ts
 * import { ConnectionTable } from "./connection_table.ts";
 * const table = new ConnectionTable(1, 5_000);
 * const closed: string[] = [];
 * const first = table.admit(0, () => closed.push("first"))!;
 * console.log(table.makeRoom()); // "wait": the first connection is closing
 * console.log(closed); // ["first"]
 * table.remove(first); // its descriptor is freed
 * console.log(table.makeRoom()); // "room"
 * ```
 */
export class ConnectionTable {
  readonly #max: number;
  readonly #headTimeoutMs: number;
  /** Idle connections, oldest idle first (Map iteration is insertion order). */
  readonly #idle = new Map<ConnectionEntry, true>();
  readonly #busy = new Set<ConnectionEntry>();
  readonly #closing = new Set<ConnectionEntry>();
  #freed: (() => void) | undefined;
  #timedOut = 0;
  #evicted = 0;
  #refused = 0;

  /**
   * Creates the table.
   *
   * @param maxConnections Most connections open at once.
   * @param headTimeoutMs How long an idle connection may wait for a complete request head, ms.
   */
  constructor(maxConnections: number, headTimeoutMs: number) {
    if (!Number.isInteger(maxConnections) || maxConnections < 1) {
      throw new RangeError(`Cannot cap connections at ${maxConnections}: need a positive integer`);
    }
    this.#max = maxConnections;
    this.#headTimeoutMs = headTimeoutMs;
  }

  /** Most connections open at once. */
  get maxConnections(): number {
    return this.#max;
  }

  get #open(): number {
    return this.#idle.size + this.#busy.size + this.#closing.size;
  }

  /**
   * Makes room for one more connection before it is accepted: below the cap there is room; at
   * the cap, the connections idle the longest (a sixteenth of the cap, 1 to 64) are closed,
   * unless some are closing already, and the caller waits for {@linkcode ConnectionTable.freed}.
   *
   * @returns `room`, `wait` (a connection is closing), or `busy` (every connection is busy).
   */
  makeRoom(): "room" | "wait" | "busy" {
    if (this.#open < this.#max) return "room";
    if (this.#closing.size > 0) return "wait";
    // A batch, so a flood queued in the accept backlog drains at the speed of accept, not of one
    // close after another (a real client may be queued behind it).
    const batch = Math.max(1, Math.min(64, Math.floor(this.#max / 16)));
    let evicted = 0;
    while (evicted < batch && this.evictOldestIdle()) evicted++;
    this.#evicted += evicted;
    return evicted > 0 ? "wait" : "busy";
  }

  /**
   * Settles when a connection's descriptor is freed ({@linkcode ConnectionTable.remove}).
   *
   * @returns A promise of the next removal.
   */
  freed(): Promise<void> {
    return new Promise((resolve) => {
      const previous = this.#freed;
      this.#freed = () => {
        previous?.();
        resolve();
      };
    });
  }

  /**
   * Takes a new connection in; at the cap ({@linkcode ConnectionTable.makeRoom} found none), it is
   * refused and the caller closes it.
   *
   * @param now Current time, epoch ms.
   * @param close Closes the new connection.
   * @returns The entry, or `undefined` when refused.
   */
  admit(now: number, close: () => void): ConnectionEntry | undefined {
    if (this.#open >= this.#max) {
      this.#refused++;
      return undefined;
    }
    const entry: ConnectionEntry = { inFlight: 0, served: 0, idleSince: now, close };
    this.#idle.set(entry, true);
    return entry;
  }

  /**
   * Closes the connection idle the longest, e.g. when the process runs out of descriptors.
   *
   * @returns Whether there was one to close.
   */
  evictOldestIdle(): boolean {
    const oldest = this.#idle.keys().next();
    if (oldest.done) return false;
    this.#drop(oldest.value);
    return true;
  }

  /**
   * Marks a request head as received on a connection.
   *
   * @param entry The connection.
   */
  begin(entry: ConnectionEntry): void {
    entry.inFlight++;
    entry.served++;
    if (this.#idle.delete(entry)) this.#busy.add(entry);
  }

  /**
   * Marks a request's handler as returned; the connection is idle again when none is left.
   *
   * @param entry The connection.
   * @param now Current time, epoch ms.
   */
  end(entry: ConnectionEntry, now: number): void {
    entry.inFlight = Math.max(0, entry.inFlight - 1);
    if (entry.inFlight === 0 && this.#busy.delete(entry)) {
      entry.idleSince = now;
      this.#idle.set(entry, true);
    }
  }

  /**
   * Forgets a connection whose descriptor has been freed.
   *
   * @param entry The connection.
   */
  remove(entry: ConnectionEntry): void {
    this.#idle.delete(entry);
    this.#busy.delete(entry);
    this.#closing.delete(entry);
    const freed = this.#freed;
    this.#freed = undefined;
    freed?.();
  }

  /**
   * Closes every idle connection whose head timeout has passed.
   *
   * @param now Current time, epoch ms.
   * @returns How many were closed.
   */
  sweep(now: number): number {
    let closed = 0;
    for (const entry of this.#idle.keys()) {
      if (now - entry.idleSince < this.#headTimeoutMs) break;
      this.#drop(entry);
      closed++;
    }
    this.#timedOut += closed;
    return closed;
  }

  /**
   * Closes every connection (idle ones at once, busy ones after their response).
   */
  closeAll(): void {
    for (const entry of [...this.#idle.keys(), ...this.#busy]) this.#drop(entry);
  }

  /** Connections told to close whose descriptors are not freed yet. */
  get closing(): number {
    return this.#closing.size;
  }

  /** What is open, and what was closed or refused so far. */
  counts(): ConnectionCounts {
    return {
      open: this.#open,
      busy: this.#busy.size,
      timedOut: this.#timedOut,
      evicted: this.#evicted,
      refused: this.#refused,
    };
  }

  #drop(entry: ConnectionEntry): void {
    this.#idle.delete(entry);
    this.#busy.delete(entry);
    this.#closing.add(entry);
    try {
      entry.close();
    } catch {
      // Already closed by the peer: nothing left to free.
    }
  }
}
