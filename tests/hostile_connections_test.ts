/**
 * Hostile suite, attack class 1 (connections): thousands of idle connections, thousands of
 * half-sent request heads (slowloris) and a flood past the process's descriptor limit, each
 * against the real engine while the probe measures `/healthz`, a victim call and the admin API.
 *
 * @module
 */
import assert from "node:assert/strict";
import {
  alive,
  assertHeld,
  type HostileEngine,
  hostileEngine,
  openFds,
  probe,
} from "./_hostile.ts";
import type { AttackPlan, AttackReport } from "./_conn_attacker.ts";

const HEAD_TIMEOUT_MS = 3_000;
/** Sweep period plus a loaded machine: a slow connection must be closed by timeout + this. */
const CLOSE_SLACK_MS = 4_000;

/**
 * Runs the attacker (tests/_conn_attacker.ts) in its own process against the engine, while the
 * probe, in this process, keeps measuring.
 */
async function attack(engine: HostileEngine, plan: Omit<AttackPlan, "url">): Promise<AttackReport> {
  const output = await new Deno.Command("deno", {
    args: [
      "run",
      "--allow-net=127.0.0.1",
      new URL("./_conn_attacker.ts", import.meta.url).pathname,
      JSON.stringify({ url: engine.url, ...plan }),
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  assert.ok(output.success, `attacker failed: ${new TextDecoder().decode(output.stderr)}`);
  return JSON.parse(text) as AttackReport;
}

/** Waits (bounded) until the engine's descriptors are back near where they started. */
async function assertFdsReturn(engine: HostileEngine, baseline: number): Promise<void> {
  const deadline = performance.now() + 10_000;
  let fds = openFds(engine.proc.pid);
  while (fds > baseline + 30 && performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    fds = openFds(engine.proc.pid);
  }
  assert.ok(fds <= baseline + 30, `engine holds ${fds} descriptors, ${baseline} before the attack`);
}

/** Asserts every connection was closed by the engine, not before the head timeout, not long after. */
function assertClosedByTimeout(report: AttackReport): void {
  const open = report.lifetimes.filter((ms) => ms < 0).length;
  assert.equal(open, 0, `${open} of ${report.opened} slow connections were never closed`);
  const shortest = Math.min(...report.lifetimes);
  const longest = Math.max(...report.lifetimes);
  assert.ok(shortest >= HEAD_TIMEOUT_MS - 200, `a connection was closed after ${shortest} ms`);
  assert.ok(
    longest <= HEAD_TIMEOUT_MS + CLOSE_SLACK_MS,
    `a connection stayed open ${longest.toFixed(0)} ms`,
  );
}

Deno.test("Engine holds 2000 idle connections and closes each after the head timeout", async () => {
  await using engine = await hostileEngine({
    args: ["--head-timeout-ms", String(HEAD_TIMEOUT_MS)],
  });
  const baseline = openFds(engine.proc.pid);
  const running = probe(engine.url);
  const report = await attack(engine, { count: 2000, slowloris: false, holdMs: 20_000 });
  const held = await running.stop();
  assertHeld(held, engine);
  assert.ok(report.opened >= 2000, `only ${report.opened} connections opened`);
  assertClosedByTimeout(report);
  await assertFdsReturn(engine, baseline);
});

Deno.test("Engine holds 2000 slowloris connections (a header byte a second) and closes them after the head timeout", async () => {
  await using engine = await hostileEngine({
    args: ["--head-timeout-ms", String(HEAD_TIMEOUT_MS)],
  });
  const baseline = openFds(engine.proc.pid);
  const running = probe(engine.url);
  const report = await attack(engine, { count: 2000, slowloris: true, holdMs: 20_000 });
  const held = await running.stop();
  assertHeld(held, engine);
  assert.ok(report.opened >= 2000, `only ${report.opened} connections opened`);
  assertClosedByTimeout(report);
  await assertFdsReturn(engine, baseline);
});

Deno.test("Engine holds a connection flood past its descriptor limit (nofile 512)", async () => {
  await using engine = await hostileEngine({ nofile: 512 });
  const cap = Number(/Connections: at most (\d+)/.exec(engine.proc.output())?.[1]);
  assert.ok(cap > 0 && cap < 512, `connection cap ${cap} is not below the descriptor limit`);
  const baseline = openFds(engine.proc.pid);
  const running = probe(engine.url);
  // Three times the descriptor limit, held open 3 s: without a cap, accept() hits EMFILE and
  // Deno.serve ends the process.
  const report = await attack(engine, { count: 1536, slowloris: false, holdMs: 3_000 });
  const held = await running.stop();
  assert.ok(alive(engine.proc.pid), `the engine died:\n${engine.proc.output().slice(-4000)}`);
  assertHeld(held, engine);
  // Everything beyond the cap was closed by the engine (evicted), not left waiting.
  const closed = report.lifetimes.filter((ms) => ms >= 0).length;
  assert.ok(closed >= report.opened - cap, `${closed} of ${report.opened} closed, cap ${cap}`);
  await assertFdsReturn(engine, baseline);
});
