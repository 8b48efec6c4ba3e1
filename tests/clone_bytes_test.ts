/**
 * The worker tier's clone check counts bytes, not only values (`engine/sandbox/guest/clone_check.ts`):
 * a reply whose value is one byte viewed over a 300 MiB buffer would be copied whole into the
 * engine's main thread by structured clone, uncounted. It is serialized on the sandbox's thread
 * instead, and the engine charges its bytes against the sandbox's budget (256 MiB per second)
 * before decoding it, so the sandbox is ended and the engine stays up. The process tier always
 * serializes, so it is not concerned.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, testEngine } from "./_helpers.ts";

Deno.test("A worker-tier reply viewing a huge buffer is charged by its bytes, not cloned in uncounted", async () => {
  await using t = await testEngine({ isolation: "worker" });
  await t.deploy(manifest("bytes", { services: { Bytes: "1.0.0" } }), {
    "mod.ts": `export default { services: { Bytes: {
      view: () => new Uint8Array(new ArrayBuffer(300 * 1024 * 1024), 0, 1),
      small: () => new Uint8Array(new ArrayBuffer(64 * 1024), 0, 1).length,
    } } };`,
  });
  assert.equal(await t.engine.call("Bytes", "small", null), 1, "a small buffer still crosses");
  await assert.rejects(
    () => t.engine.call("Bytes", "view", null, { timeoutMs: 60_000 }),
    (error: Error) => /bytes/i.test(error.message),
  );
  // The engine is up and the bundle serves again from a new sandbox.
  assert.equal(await t.engine.call("Bytes", "small", null, { timeoutMs: 60_000 }), 1);
});
