/**
 * The edge survives EMFILE from `accept()` (with `Deno.serve` the process exits): a server that
 * has no descriptor left closes its longest-idle connection and goes on serving.
 *
 * @module
 */
import assert from "node:assert/strict";
import type { EdgeCounts } from "../engine/edge/serve.ts";

Deno.test("serveEdge survives accept() failing with EMFILE and serves again", async () => {
  const folder = await Deno.makeTempDir({ prefix: "bundlehost-emfile-" });
  const child = new Deno.Command("prlimit", {
    args: [
      "--nofile=96",
      "deno",
      "run",
      "--allow-read",
      "--allow-net=127.0.0.1",
      new URL("./_edge_emfile_server.ts", import.meta.url).pathname,
      folder,
    ],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let text = "";
  const pump = (async () => {
    for await (const chunk of child.stdout.pipeThrough(new TextDecoderStream())) text += chunk;
  })();
  const stderr = new Response(child.stderr).text();
  const idle: Deno.Conn[] = [];
  try {
    const deadline = performance.now() + 30_000;
    let port: number | undefined;
    while (port === undefined && performance.now() < deadline) {
      port = Number(/listening (\d+)/.exec(text)?.[1]) || undefined;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(port, `server did not start: ${text}`);
    // More idle connections than the server has descriptors left.
    for (let i = 0; i < 10; i++) idle.push(await Deno.connect({ hostname: "127.0.0.1", port }));
    const client = Deno.createHttpClient({ poolMaxIdlePerHost: 0 });
    const response = await fetch(`http://127.0.0.1:${port}/`, {
      client,
      signal: AbortSignal.timeout(20_000),
    });
    assert.equal(await response.text(), "ok");
    client.close();
    await new Promise((r) => setTimeout(r, 300));
    const last = text.trim().split("\n").at(-1)!;
    const counts = JSON.parse(last) as EdgeCounts;
    assert.ok(counts.acceptErrors > 0, `accept never failed: ${last}`);
  } finally {
    for (const conn of idle) conn.close();
    child.kill("SIGKILL");
    const status = await child.status;
    await pump;
    await stderr;
    await Deno.remove(folder, { recursive: true });
    // Killed by the test, not ended by EMFILE.
    assert.equal(status.signal, "SIGKILL", `server exited on its own: ${text}`);
  }
});
