/**
 * Hostile-input suite, issue 12 item 6: the channel a sandbox answers the engine on. A hostile
 * bundle attacks the real engine (`main.ts` in a child process) through that channel while the
 * probe times `/healthz`, a victim call and the admin API: the probe must hold, the engine must
 * live, and the offender must be killed (or its call fail) with a reason naming the limit.
 *
 * In the process tier, bundle code writes crafted frames to fd 1 behind the runtime's back
 * (`Object.getPrototypeOf(Deno.stdout)` is the real stdout under the runtime's wrapper). In the
 * worker tier the raw `postMessage` is out of reach, so the attacks go through what the runtime
 * sends: a huge reply, a flood of log records.
 *
 * @module
 */
import assert from "node:assert/strict";
import { TEST_TOKEN } from "./_server.ts";
import {
  assertHeld,
  type BundleSpec,
  type HostileEngine,
  hostileEngine,
  probe,
  rssMiB,
} from "./_hostile.ts";

/** Raw frame writers shared by the process-tier attacks (see engine/sandbox/wire/framing.ts). */
const RAW_FRAMES = `import { serialize } from "node:v8";
const raw = Object.getPrototypeOf(Deno.stdout);
const write = (bytes) => { let n = 0; while (n < bytes.byteLength) n += raw.writeSync(bytes.subarray(n)); };
const KIND = { control: 1, log: 2, data: 3 };
function header(kind, length) {
  const bytes = new Uint8Array(8);
  bytes.set([0xff, 0x42, 0x48, kind]);
  new DataView(bytes.buffer).setUint32(4, length, true);
  return bytes;
}
function frame(kind, payload) {
  const bytes = new Uint8Array(8 + payload.byteLength);
  bytes.set(header(kind, payload.byteLength));
  bytes.set(payload, 8);
  return bytes;
}
function repeat(bytes, times) {
  const out = new Uint8Array(bytes.byteLength * times);
  for (let i = 0; i < times; i++) out.set(bytes, i * bytes.byteLength);
  return out;
}
function varint(n) {
  const out = [];
  do { let b = n % 128; n = Math.floor(n / 128); if (n > 0) b |= 128; out.push(b); } while (n > 0);
  return out;
}
/** A v8 serialization of a dense array of n distinct empty objects, built without allocating them. */
function tinyObjects(n) {
  const head = [...serialize(0).subarray(0, 2), 0x41, ...varint(n)]; // version header, 'A' length
  const tail = [0x24, 0, ...varint(n)]; // '$' properties 0, length
  const bytes = new Uint8Array(head.length + 3 * n + tail.length);
  bytes.set(head);
  bytes.set([0x6f, 0x7b, 0], head.length); // 'o' '{' 0: an empty object, then doubled
  for (let done = 1; done < n; done *= 2) {
    bytes.copyWithin(head.length + 3 * done, head.length, head.length + 3 * Math.min(done, n - done));
  }
  bytes.set(tail, head.length + 3 * n);
  return bytes;
}
/** A JSON frame payload (json_frame.ts): u32 text length (top bit: placeholders), text, bytes. */
function jsonPayload(text, bytes = new Uint8Array()) {
  const body = new TextEncoder().encode(text);
  const out = new Uint8Array(4 + body.byteLength + bytes.byteLength);
  new DataView(out.buffer).setUint32(0, body.byteLength + (bytes.byteLength ? 0x80000000 : 0), true);
  out.set(body, 4);
  out.set(bytes, 4 + body.byteLength);
  return out;
}
function flood(one) {
  const batch = repeat(one, 4096);
  const end = Date.now() + 10_000;
  while (Date.now() < end) write(batch);
  return "not stopped";
}
`;

const PROCESS_ATTACKS = `${RAW_FRAMES}
export default { services: { Hostile: { attack(kind) {
  switch (kind) {
    case "header": // 4 GiB announced, 200 times
      for (let i = 0; i < 200; i++) write(header(KIND.data, 0xffffffff));
      return "sent";
    case "garbage": // frames that do not deserialize, and random bytes between them
      for (let i = 0; i < 200; i++) {
        write(frame(KIND.data, crypto.getRandomValues(new Uint8Array(64))));
        write(crypto.getRandomValues(new Uint8Array(64)).map((b) => b === 0xff ? 0 : b));
      }
      return "sent";
    case "logs":
      return flood(frame(KIND.log, serialize({ type: "log", level: "info", message: "x" })));
    case "frames":
      return flood(frame(KIND.data, serialize({ type: "reply", id: 1e9, ok: true, value: 0 })));
    case "tiny-objects": // 7M empty objects: 21 MB
      write(frame(KIND.data, tinyObjects(7_000_000)));
      return "sent";
    case "json": // JSON frames (kind byte | 0x80): not JSON, bad placeholders, over the JSON cap
      for (let i = 0; i < 70; i++) {
        write(frame(0x80 | KIND.data, jsonPayload("{not json")));
        write(frame(0x80 | KIND.data, jsonPayload('{"b":{"\\u0000bytes":[0,4096]}}', new Uint8Array(8))));
        write(frame(0x80 | KIND.data, jsonPayload(JSON.stringify({ pad: "x".repeat(1 << 20) }))));
      }
      return "sent";
  }
} } } };
`;

const WORKER_ATTACKS = `export default { services: { Hostile: { attack(kind) {
  switch (kind) {
    case "post":
      try { self.postMessage({ type: "reply", id: 1, ok: true, value: "forged" }); return "posted"; }
      catch (e) { return e.name + ": " + e.message; }
    case "logs":
      for (let i = 0; i < 300_000; i++) console.log("x");
      return "sent";
    case "tiny-objects": { // 7M references to one object: 21 MB once serialized
      const o = {};
      return new Array(7_000_000).fill(o);
    }
  }
} } } };
`;

function hostile(isolation: "process" | "worker"): BundleSpec {
  return {
    manifest: {
      id: "hostile",
      version: "1.0.0",
      entry: "./mod.ts",
      isolation,
      services: { Hostile: "1.0.0" },
    },
    files: { "mod.ts": isolation === "process" ? PROCESS_ATTACKS : WORKER_ATTACKS },
  };
}

async function attack(engine: HostileEngine, kind: string): Promise<Response> {
  return await fetch(`${engine.url}/rpc/Hostile/attack`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-route-id": "hostile" },
    body: JSON.stringify(kind),
    signal: AbortSignal.timeout(60_000),
  });
}

/** The hostile bundle's status as the admin API reports it. */
async function hostileStatus(engine: HostileEngine): Promise<string> {
  const response = await fetch(`${engine.url}/admin/bundles/hostile`, {
    headers: { authorization: `Bearer ${TEST_TOKEN}` },
  });
  return await response.text();
}

/**
 * Runs one attack under the probe and checks that the engine held and that the offender was
 * stopped with `reason` in the call's answer or in its status.
 */
async function held(
  isolation: "process" | "worker",
  kind: string,
  reason: RegExp,
): Promise<void> {
  await using engine = await hostileEngine({ bundles: [hostile(isolation)] });
  const running = probe(engine.url);
  await new Promise((r) => setTimeout(r, 200));
  const response = await attack(engine, kind);
  const body = await response.text();
  // Let the probe see the engine after the offender is gone too.
  await new Promise((r) => setTimeout(r, 500));
  const report = await running.stop();
  assertHeld(report, engine);
  const status = await hostileStatus(engine);
  assert.ok(
    reason.test(body) || reason.test(status),
    `expected ${reason} in the call's answer (${response.status} ${
      body.slice(0, 300)
    }) or the status (${status.slice(0, 600)})`,
  );
  assert.notEqual(response.status, 500, body);
  const rss = readableRss(engine.proc.pid);
  console.log(
    `${isolation}/${kind}: answer ${response.status}, probe max ${JSON.stringify(report.maxMs)}, ` +
      `engine RSS ${rss === undefined ? "not readable here" : `${rss.toFixed(0)} MiB`}`,
  );
  if (rss !== undefined) assert.ok(rss < 1024, `engine RSS ${rss} MiB after the attack`);
}

/** The engine's RSS, or undefined where `/proc` may not be read (`deno task test`'s flags). */
function readableRss(pid: number): number | undefined {
  try {
    return rssMiB(pid);
  } catch (error) {
    if (error instanceof Deno.errors.NotCapable) return undefined;
    throw error;
  }
}

const MALFORMED = /sent 100 malformed messages/;
const FLOOD = /flooded the engine channel: \d+ messages within 100 ms/;
const TOO_MANY_VALUES = /holds more than 100000 values/;

Deno.test("Hostile channel (process tier): 200 frame headers announcing 4 GiB", async () => {
  await held("process", "header", MALFORMED);
});

Deno.test("Hostile channel (process tier): garbage frames and stray bytes", async () => {
  await held("process", "garbage", MALFORMED);
});

Deno.test("Hostile channel (process tier): malformed and oversize JSON frames", async () => {
  await held("process", "json", MALFORMED);
});

Deno.test("Hostile channel (process tier): a flood of tiny log frames", async () => {
  await held("process", "logs", FLOOD);
});

Deno.test("Hostile channel (process tier): a flood of data frames", async () => {
  await held("process", "frames", FLOOD);
});

Deno.test("Hostile channel (process tier): a 21 MB frame of 7M tiny objects", async () => {
  await held("process", "tiny-objects", TOO_MANY_VALUES);
});

Deno.test("Hostile channel (worker tier): a 21 MB reply of 7M tiny objects", async () => {
  await held("worker", "tiny-objects", TOO_MANY_VALUES);
});

Deno.test("Hostile channel (worker tier): 300k log records in one tick", async () => {
  // Dropped in the sandbox itself beyond 500 per 100 ms (log_gate.ts): nobody is killed.
  await held("worker", "logs", /"sent"/);
});

Deno.test("Hostile channel (worker tier): the raw postMessage is out of the bundle's reach", async () => {
  await using engine = await hostileEngine({ bundles: [hostile("worker")] });
  const response = await attack(engine, "post");
  assert.equal(response.status, 200);
  assert.match(await response.text(), /TypeError: self\.postMessage is not a function/);
});
