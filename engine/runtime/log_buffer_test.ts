import assert from "node:assert/strict";
import { ManualClock } from "../base/clock.ts";
import { LogEvent } from "../core/lifecycle.ts";
import { LogBuffer, resolveLogBufferOptions } from "./log_buffer.ts";

function log(bundle: string | undefined, message: string): LogEvent {
  return new LogEvent({
    ...(bundle === undefined ? {} : { bundle }),
    version: "1.0.0",
    instanceId: "i-1",
    level: "info",
    message,
  });
}

Deno.test("LogBuffer keeps each bundle's newest records within its byte cap", () => {
  const buffer = new LogBuffer({ records: 100, bytes: 1_000 }, new ManualClock(0));
  for (let i = 0; i < 20; i++) buffer.append(log("a", `${i}:${"x".repeat(200)}`));
  buffer.append(log("b", "other"));
  buffer.append(log(undefined, "the engine's own record"));
  const kept = buffer.recent("a", { limit: 100 });
  const bytes = kept.reduce((n, s) => n + s.json.length, 0);
  assert.ok(bytes <= 1_000, `${bytes} bytes kept`);
  assert.ok(kept.length >= 3, `${kept.length} records kept`);
  assert.equal(kept.at(-1)!.record.message.split(":")[0], "19");
  assert.equal(kept.at(-1)!.record.seq, 20);
  assert.deepEqual(buffer.recent("b").map((s) => s.record.message), ["other"]);
  // A record larger than the cap is still kept, alone: the newest always is.
  buffer.append(log("a", "y".repeat(2_000)));
  assert.deepEqual(buffer.recent("a").map((s) => s.record.seq), [21]);
  buffer.drop("a");
  assert.deepEqual(buffer.recent("a"), []);
});

Deno.test("LogBuffer ends a deleted bundle's followers after what they hold", async () => {
  const buffer = new LogBuffer({ followerQueue: 2 }, new ManualClock(0));
  const follower = buffer.follow("a");
  buffer.append(log("a", "one"));
  buffer.drop("a");
  buffer.append(log("a", "after"));
  assert.equal(buffer.followers, 1);
  const first = await follower.next();
  assert.equal(first?.kind === "record" && first.stored.record.message, "one");
  assert.deepEqual(await follower.next(), { kind: "end", reason: 'bundle "a" was deleted' });
  assert.equal(await follower.next(), undefined);
  assert.equal(buffer.followers, 0);
});

Deno.test("resolveLogBufferOptions refuses a bound that is not a positive integer", () => {
  assert.throws(() => resolveLogBufferOptions({ records: 0 }), /logs\.records to 0/);
  assert.throws(() => resolveLogBufferOptions({ heartbeatMs: 1.5 }), /logs\.heartbeatMs/);
  assert.equal(resolveLogBufferOptions().followers, 64);
});
