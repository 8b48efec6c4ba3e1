/**
 * The attacker of `hostile_connections_test.ts`, run as its own process so that its thousands of
 * sockets load neither the engine's nor the probe's event loop (as with a real attacker). It opens
 * `count` connections (100 at a time, a batch every 25 ms), optionally sends a request head a byte a second
 * (slowloris), and reports as JSON on stdout, for each connection, how long it stayed open before
 * the engine closed it (-1: still open when the attacker stopped).
 *
 * Usage: `deno run --allow-net=127.0.0.1 tests/_conn_attacker.ts '<AttackPlan JSON>'`
 *
 * @module
 */

/** What the attacker does. */
export interface AttackPlan {
  /** Engine base URL. */
  url: string;
  /** Connections to open. */
  count: number;
  /** Send a request head a byte a second instead of nothing. */
  slowloris: boolean;
  /** Stop after this long, or as soon as the engine has closed every connection, ms. */
  holdMs: number;
}

/** What the attacker saw. */
export interface AttackReport {
  /** Connections opened. */
  opened: number;
  /** Connections that could not be opened within 3 s. */
  failed: number;
  /** Per connection, ms from connect to the engine closing it; -1 when it never did. */
  lifetimes: number[];
}

async function connect(hostname: string, port: number): Promise<Deno.Conn | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const pending = Deno.connect({ hostname, port });
  const late = new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 3_000)));
  const conn = await Promise.race([pending.catch(() => undefined), late]);
  clearTimeout(timer);
  if (!conn) pending.then((c) => c.close(), () => {});
  return conn;
}

async function main(plan: AttackPlan): Promise<AttackReport> {
  const { hostname, port } = new URL(plan.url);
  const open: { conn: Deno.Conn; at: number; closedAt?: number }[] = [];
  let failed = 0;
  let closed = 0;
  let allClosed: () => void = () => {};
  const done = new Promise<void>((r) => (allClosed = r));
  for (let i = 0; i < plan.count; i += 100) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(100, plan.count - i) }, () => connect(hostname, Number(port))),
    );
    for (const conn of batch) {
      if (!conn) {
        failed++;
        continue;
      }
      const entry: (typeof open)[number] = { conn, at: performance.now() };
      open.push(entry);
      (async () => {
        const buffer = new Uint8Array(4096);
        try {
          while ((await conn.read(buffer)) !== null) { /* a response to a head, if any */ }
        } catch {
          // A reset is a close too.
        }
        entry.closedAt ??= performance.now();
        if (++closed === plan.count - failed) allClosed();
      })();
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const encoder = new TextEncoder();
  const writeAll = (bytes: Uint8Array) => {
    for (const entry of open) {
      if (entry.closedAt === undefined) entry.conn.write(bytes).catch(() => {});
    }
  };
  if (plan.slowloris) writeAll(encoder.encode("GET / HTTP/1.1\r\n"));
  const stopAt = performance.now() + plan.holdMs;
  while (performance.now() < stopAt && closed < open.length) {
    const tick = new Promise((r) => setTimeout(r, 1_000));
    await Promise.race([tick, done]);
    if (plan.slowloris) writeAll(encoder.encode("X"));
  }
  const lifetimes = open.map((e) => (e.closedAt === undefined ? -1 : e.closedAt - e.at));
  for (const [i, entry] of open.entries()) {
    try {
      entry.conn.close();
    } catch {
      // Closed by the engine already.
    }
    if (i % 100 === 99) await new Promise((r) => setTimeout(r, 10));
  }
  return { opened: open.length, failed, lifetimes };
}

if (import.meta.main) {
  const report = await main(JSON.parse(Deno.args[0]!) as AttackPlan);
  console.log(JSON.stringify(report));
  Deno.exit(0);
}
