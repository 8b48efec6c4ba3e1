/**
 * Durability of message events in the real engine (`main.ts` in a child process, Deno KV on disk):
 * events are published over HTTP, the engine is killed with SIGKILL while deliveries are running
 * (their handlers held), a backlog is pending and more publishes are in flight, then restarted on
 * the same data folder; and killed again right after a burst of acknowledgements. Every event acknowledged with 202 must be delivered at
 * least once; the subscriber logs each delivery to its `$DATA` folder so they can be counted across
 * the crash.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, waitFor, writeBundle } from "./_helpers.ts";
import { admin } from "./_http.ts";
import { type EngineProcess, startEngineProcess } from "./_server.ts";
import { DATA_PERMISSIONS, fileRecorderModule, readSeen } from "./_events.ts";

const HANDLER_MS = 20;

/** Client side: which publishes were acknowledged. */
class Publisher {
  readonly acked = new Set<string>();
  #n = 0;

  /** Publishes one event; a 202 acknowledges it, a dropped connection leaves it unknown. */
  async one(url: string): Promise<void> {
    const n = this.#n++;
    try {
      const response = await fetch(`${url}/events/order.created`, {
        method: "POST",
        body: JSON.stringify({ n }),
      });
      const body = await response.json() as { id?: string; deliveries?: number };
      if (response.status === 202 && body.id) {
        assert.equal(body.deliveries, 1);
        this.acked.add(body.id);
      }
    } catch {
      // The engine died before it answered: not acknowledged.
    }
  }

  /** Publishes `count` events, `parallel` at a time. */
  async many(url: string, count: number, parallel = 8): Promise<void> {
    for (let i = 0; i < count; i += parallel) {
      await Promise.all(
        Array.from({ length: Math.min(parallel, count - i) }, () => this.one(url)),
      );
    }
  }
}

interface Stats {
  pending: number;
  inFlight: number;
  deadLetters: number;
}

Deno.test("EventBus delivers every acknowledged event after kill -9 with deliveries pending", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-events-durability-" });
  const dataDir = `${root}/.bundlehost`;
  await Deno.mkdir(`${dataDir}/no-bundles`, { recursive: true });
  let engine: EngineProcess | undefined;
  const start = async () => {
    await engine?.kill9();
    engine = await startEngineProcess(dataDir, ["--bundles", `${dataDir}/no-bundles`]);
    return engine;
  };
  try {
    let e = await start();
    // The engine may read only the project and its data folder: the bundle source sits in the latter.
    const dir = await writeBundle(
      `${dataDir}/src`,
      manifest("ledger", {
        services: { Orders: "1.0.0" },
        permissions: DATA_PERMISSIONS,
        subscribe: { "order.created": { handler: "Orders.handle", timeoutMs: 10_000 } },
      }),
      { "mod.ts": fileRecorderModule("Orders", HANDLER_MS) },
    );
    assert.equal((await admin(e.url, "POST", "/admin/releases", { path: dir })).status, 201);
    const publisher = new Publisher();
    const delivered = async () => new Set((await readSeen(dataDir, "ledger")).map((l) => l.id));
    const allAcknowledgedDelivered = (when: string) =>
      waitFor(
        async () => {
          const seen = await delivered();
          return [...publisher.acked].every((id) => seen.has(id));
        },
        60_000,
        `every acknowledged event to be delivered ${when}`,
      );

    // 1. Handlers held while deliveries are claimed (in flight), a backlog pending behind them,
    //    and more publishes racing the kill.
    await publisher.many(e.url, 8);
    await waitFor(async () => (await delivered()).size === 8, 20_000, "normal deliveries");
    const hold = `${dataDir}/data/ledger/hold`;
    await Deno.writeTextFile(hold, "");
    await publisher.many(e.url, 80);
    const racing = publisher.many(e.url, 40, 4);
    let midway: Stats | undefined;
    await waitFor(
      async () => {
        midway = (await admin<Stats>(e.url, "GET", "/admin/events/stats")).body;
        return midway.inFlight >= 8;
      },
      20_000,
      "deliveries in flight",
    );
    await e.kill9();
    await racing;
    assert.ok(
      midway!.pending > midway!.inFlight,
      `a backlog was pending: ${JSON.stringify(midway)}`,
    );
    // Counted while the hold is still there: a process-tier child of the killed engine may still
    // be waiting on it for a moment, and would write its line once the hold is gone.
    assert.equal((await delivered()).size, 8, "nothing held was delivered before the kill");
    await Deno.remove(hold);

    e = await start();
    await allAcknowledgedDelivered("after the restart");
    assert.match(e.output(), /retrying \d+ deliveries interrupted by a restart/);
    const retried = (await readSeen(dataDir, "ledger")).filter((l) => l.attempt >= 2);
    assert.ok(retried.length >= 8, "attempts cut short by the kill ran again");

    // 2. Killed right after the last acknowledgement, with nothing delivered yet.
    await Deno.writeTextFile(hold, "");
    await publisher.many(e.url, 24);
    await e.kill9();
    await Deno.remove(hold);
    e = await start();
    await allAcknowledgedDelivered("after the second restart");
    await waitFor(
      async () => {
        const stats = await admin<Stats>(e.url, "GET", "/admin/events/stats");
        return stats.body.pending === 0;
      },
      30_000,
      "nothing pending",
    );
    const stats = await admin<Stats>(e.url, "GET", "/admin/events/stats");
    assert.equal(stats.body.deadLetters, 0);
    const lines = await readSeen(dataDir, "ledger");
    const ids = new Set(lines.map((l) => l.id));
    assert.ok(publisher.acked.size >= 112, `acknowledged ${publisher.acked.size}`);
    for (const id of publisher.acked) assert.ok(ids.has(id), `${id} delivered`);
    // At least once: a duplicate is only a delivery the kill caught between its handler and its ack.
    assert.ok(lines.length - ids.size <= 64, `${lines.length - ids.size} duplicates`);
  } finally {
    await engine?.kill9();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});
