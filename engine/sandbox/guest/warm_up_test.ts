import assert from "node:assert/strict";

const WARM_UP = new URL("./warm_up.ts", import.meta.url).href;

/** Runs `body` in a worker with no permission at all (what a spare holds) and returns its report. */
async function inSpare(body: string): Promise<unknown> {
  const source = `import { warmUp } from ${JSON.stringify(WARM_UP)};\n${body}`;
  const worker = new Worker(`data:text/javascript,${encodeURIComponent(source)}`, {
    type: "module",
    deno: { permissions: "none" },
  });
  try {
    return await new Promise((resolve, reject) => {
      worker.onmessage = (event) => resolve(event.data);
      worker.onerror = (event) => {
        event.preventDefault();
        reject(new Error(event.message));
      };
    });
  } finally {
    worker.terminate();
  }
}

Deno.test("warmUp finishes in a worker granted nothing and leaves the realm hardened", async () => {
  const report = await inSpare(`
const before = Object.getOwnPropertyNames(globalThis).filter((n) => !["caches", "CacheStorage", "Cache", "BroadcastChannel", "LockManager", "localStorage", "sessionStorage", "Storage"].includes(n));
const result = await warmUp();
const after = Object.getOwnPropertyNames(globalThis);
let chdir;
try {
  Deno.chdir("/");
  chdir = "allowed";
} catch (error) {
  chdir = error.name;
}
self.postMessage({
  result: result === undefined,
  hardened: globalThis.__bundlehostHardened === true,
  gone: [typeof caches, typeof BroadcastChannel, typeof localStorage, typeof navigator.locks],
  chdir,
  added: after.filter((n) => !before.includes(n) && n !== "__bundlehostHardened"),
});
`);
  assert.deepEqual(report, {
    result: true,
    hardened: true,
    gone: ["undefined", "undefined", "undefined", "undefined"],
    chdir: "NotCapable",
    added: [],
  });
});

Deno.test("warmUp leaves the host's messages to the sandbox, also those sent while it runs", async () => {
  const source = `import { warmUp } from ${JSON.stringify(WARM_UP)};
const warm = warmUp();
self.addEventListener("message", async (event) => {
  await warm;
  self.postMessage({ echo: event.data, hardened: globalThis.__bundlehostHardened === true });
});`;
  const worker = new Worker(`data:text/javascript,${encodeURIComponent(source)}`, {
    type: "module",
    deno: { permissions: "none" },
  });
  try {
    const replies: unknown[] = [];
    const done = new Promise<void>((resolve) => {
      worker.onmessage = (event) => {
        replies.push(event.data);
        if (replies.length === 2) resolve();
      };
    });
    // Sent at once: they wait in the worker's queue while it loads and warms up.
    worker.postMessage({ type: "init", n: 1 });
    worker.postMessage({ type: "call", n: 2 });
    await done;
    assert.deepEqual(replies, [
      { echo: { type: "init", n: 1 }, hardened: true },
      { echo: { type: "call", n: 2 }, hardened: true },
    ]);
  } finally {
    worker.terminate();
  }
});
