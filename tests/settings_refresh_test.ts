/**
 * Config and secret changes reach running instances with no restart and no failed call (README,
 * "Config"): in both tiers, a client makes 1000 calls over HTTP while the operator changes the
 * config three times and rotates a secret; every call succeeds, every call that starts after a
 * change was acknowledged sees it, and every instance (serving and warm) ran `onRefresh` with it.
 *
 * @module
 */
import assert from "node:assert/strict";
import { manifest, writeBundle } from "./_helpers.ts";
import { admin, releasePath, rpc } from "./_http.ts";
import { testServer } from "./_server.ts";

const TIERS = ["worker", "process"] as const;
const CALLS = 1000;
const CLIENTS = 8;

const BUNDLE = `
let refreshedWith = null;
export default {
  services: {
    Live: {
      async read(_input, ctx) {
        return { phase: ctx.config.phase, token: await ctx.secrets.get("TOKEN"), refreshedWith, instance: ctx.bundle.instanceId };
      },
    },
  },
  hooks: {
    async onRefresh(ctx) { refreshedWith = [ctx.config.phase, await ctx.secrets.get("TOKEN")]; },
  },
};`;

interface Seen {
  phase: number;
  token: string | null;
  refreshedWith: [number, string | null] | null;
}

for (const tier of TIERS) {
  Deno.test(`Settings changes reach every ${tier}-tier instance during ${CALLS} calls, none failing`, async () => {
    await using srv = await testServer();
    const dir = await writeBundle(
      `${srv.root}/src`,
      manifest(`live-${tier}`, {
        isolation: tier,
        services: { Live: "1.0.0" },
        config: { phase: 0 },
        secrets: ["TOKEN"],
        scaling: { minWorkers: 2, maxWorkers: 3, warmWorkers: 1 },
      }),
      { "mod.ts": BUNDLE },
    );
    assert.equal((await releasePath(srv.url, dir)).status, 201);
    const path = `/admin/bundles/live-${tier}`;
    await admin(srv.url, "PUT", `${path}/secrets/TOKEN`, { value: "token-0" });

    // What the operator changes, at which call; `acknowledged` is the last change answered.
    const changes: [number, () => Promise<unknown>][] = [
      [150, () => admin(srv.url, "PUT", `${path}/config`, { phase: 1 })],
      [400, () => admin(srv.url, "PUT", `${path}/secrets/TOKEN`, { value: "token-1" })],
      [650, () => admin(srv.url, "PUT", `${path}/config`, { phase: 2 })],
    ];
    const expected = [
      { phase: 0, token: "token-0" },
      { phase: 1, token: "token-0" },
      { phase: 1, token: "token-1" },
      { phase: 2, token: "token-1" },
    ];
    let acknowledged = 0;
    let next = 0;
    const failures: string[] = [];
    const stale: string[] = [];
    let changing = Promise.resolve();
    const client = async () => {
      while (next < CALLS) {
        const n = next++;
        const change = changes.find(([at]) => at === n);
        if (change) {
          const index = changes.indexOf(change) + 1;
          changing = changing.then(async () => {
            const reply = await change[1]() as { status: number };
            assert.equal(reply.status, 200);
            acknowledged = index;
          });
        }
        const floor = acknowledged;
        const reply = await rpc(srv.url, "Live", "read", {});
        if (reply.status !== 200) {
          failures.push(`call ${n}: ${reply.status} ${JSON.stringify(reply.body)}`);
          continue;
        }
        const seen = reply.body.result as Seen;
        const at = expected.findIndex((e) => e.phase === seen.phase && e.token === seen.token);
        if (at < floor) stale.push(`call ${n} saw ${JSON.stringify(seen)} after change ${floor}`);
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, client));
    await changing;
    assert.deepEqual(failures, [], `${failures.length} calls failed`);
    assert.deepEqual(stale, []);
    assert.equal(acknowledged, changes.length);

    // Later calls see the last values, and each serving instance ran onRefresh with them.
    const instances = new Map<string, Seen>();
    for (let i = 0; i < 40 && instances.size < 2; i++) {
      const seen = (await rpc(srv.url, "Live", "read", {})).body.result as Seen & {
        instance: string;
      };
      assert.deepEqual([seen.phase, seen.token], [2, "token-1"]);
      instances.set(seen.instance, seen);
    }
    for (const seen of instances.values()) assert.deepEqual(seen.refreshedWith, [2, "token-1"]);
    const revision = srv.engine.bundle(`live-${tier}`).revisions[0]!;
    const states = revision.instances.map((i) => i.state);
    assert.ok(states.includes("warm") && states.length >= 3, `serving and warm: ${states}`);
    assert.equal(revision.restarts, 0);
  });
}
