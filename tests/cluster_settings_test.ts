/**
 * Bundle settings in cluster mode, with real processes on loopback (a 3-node `nats-server`
 * cluster and three engines sharing one secrets key): a config PUT through one engine and a
 * secret set through another reach the running instances on every engine, and the secret's
 * value is never stored in plain text on any NATS server or engine.
 */
import assert from "node:assert/strict";
import { packTar } from "modern-tar";
import { admin, rpc } from "./_http.ts";
import { natsAvailable } from "./_nats_cluster.ts";
import { releaseArchive, startClusterRig, untilAll } from "./_cluster_engines.ts";

const ID = "c-settings";
const SECRET = "s3cret-value-7f1c2e";
/** The bundle answers the secret's SHA-256, so its own source never holds the value. */
const SECRET_DIGEST = Array.from(
  new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(SECRET))),
  (b) => b.toString(16).padStart(2, "0"),
).join("");

async function settingsArchive(): Promise<Uint8Array<ArrayBuffer>> {
  const files: Record<string, string> = {
    "bundle.json": JSON.stringify({
      id: ID,
      version: "1.0.0",
      services: { Settings: "1.0.0" },
      config: { greeting: "hi" },
      secrets: ["TOKEN"],
    }),
    "mod.ts": `async function digest(text) {
      if (text === undefined) return "none";
      const bytes = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
      return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, "0")).join("");
    }
    export default { services: { Settings: {
      read: async (_input, ctx) => \`\${ctx.config.greeting}:\${await digest(await ctx.secrets.get("TOKEN"))}\`,
    } } };`,
  };
  return await packTar(
    Object.entries(files).map(([name, body]) => ({ header: { name, size: body.length }, body })),
  );
}

async function read(url: string): Promise<string> {
  try {
    const reply = await rpc(url, "Settings", "read", null);
    return reply.status === 200 ? String(reply.body.result) : `status ${reply.status}`;
  } catch (error) {
    return `unreachable (${(error as Error).message})`;
  }
}

async function holds(root: string, needle: string): Promise<string[]> {
  const found: string[] = [];
  const bytes = new TextEncoder().encode(needle);
  const walk = async (dir: string): Promise<void> => {
    for await (const entry of Deno.readDir(dir)) {
      const path = `${dir}/${entry.name}`;
      if (entry.isDirectory) await walk(path);
      else if (entry.isFile) {
        const data = await Deno.readFile(path);
        outer: for (let i = 0; i + bytes.length <= data.length; i++) {
          for (let j = 0; j < bytes.length; j++) if (data[i + j] !== bytes[j]) continue outer;
          found.push(path);
          break;
        }
      }
    }
  };
  await walk(root);
  return found;
}

Deno.test({
  name: "cluster: config and secrets set through any engine reach every engine's instances",
  ignore: !natsAvailable(),
}, async () => {
  const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))));
  await using rig = await startClusterRig(3, { BUNDLEHOST_SECRETS_KEY: key });
  const all = rig.engines.map((e) => e.url);
  const [a, b, c] = all as [string, string, string];

  assert.equal((await releaseArchive(a, await settingsArchive())).status, 201);
  await untilAll(all, (answer) => answer === "hi:none", "release through A", undefined, read);

  const config = await admin(b, "PUT", `/admin/bundles/${ID}/config`, { greeting: "hey" });
  assert.equal(config.status, 200, JSON.stringify(config.body));
  await untilAll(all, (answer) => answer === "hey:none", "config through B", undefined, read);

  const secret = await admin(c, "PUT", `/admin/bundles/${ID}/secrets/TOKEN`, { value: SECRET });
  assert.ok(secret.status >= 200 && secret.status < 300, JSON.stringify(secret.body));
  await untilAll(
    all,
    (answer) => answer === `hey:${SECRET_DIGEST}`,
    "secret through C",
    undefined,
    read,
  );

  for (const url of all) {
    const listed = await admin(url, "GET", `/admin/bundles/${ID}/secrets`);
    assert.equal(listed.status, 200);
    assert.ok(!JSON.stringify(listed.body).includes(SECRET), "names only");
  }
  const plain = [
    ...await holds(rig.dataDir(0).replace(/engine-0$/, "nats"), SECRET),
    ...(await Promise.all(all.map((_, i) => holds(rig.dataDir(i), SECRET)))).flat(),
  ];
  assert.deepEqual(plain, [], "the secret's value is sealed on every server and engine");
});
