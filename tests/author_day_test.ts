/**
 * A bundle author's day, end to end, from the README: every command of the "Writing a bundle"
 * block runs as written in a copy of the repository (`npx -y deno@2.9.6` is the `deno` on PATH;
 * port 8000 is a free port; a `curl` line is sent with `fetch`, as the test may run only `deno`).
 * Between the commands the test plays the author: while a client calls the bundle in a loop, it
 * saves a change that breaks the module, one that fixes it with a new reply, one that adds a
 * service, and one that declares a service the module does not export. No call may fail, each
 * good save must serve, and each bad one must be reported by the engine in the author's terms.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT, waitFor } from "./_helpers.ts";

/** What the copy of the repository leaves out. */
const SKIP = new Set([".git", ".bundlehost", "node_modules"]);

async function copyProject(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    if (SKIP.has(entry.name)) continue;
    const source = `${from}/${entry.name}`;
    const target = `${to}/${entry.name}`;
    if (entry.isDirectory) await copyProject(source, target);
    else if (entry.isFile) await Deno.copyFile(source, target);
  }
}

/** The commands of the first `sh` block of README.md's "Writing a bundle" section. */
function readmeCommands(): string[] {
  const readme = Deno.readTextFileSync(`${ROOT}/README.md`);
  const start = readme.indexOf("\n## Writing a bundle\n");
  assert.ok(start >= 0, 'README.md has no "Writing a bundle" section');
  const block = /```sh\n([\s\S]*?)```/.exec(readme.slice(start));
  assert.ok(block, 'README.md\'s "Writing a bundle" has no sh block');
  return block[1]!.split("\n").map((line) => line.replace(/\s+#\s.*$/, "").trim()).filter(
    (line) => line !== "" && !line.startsWith("#"),
  );
}

/** Splits a command line into words, honouring single quotes (all the README block uses). */
function words(line: string): string[] {
  const out: string[] = [];
  for (const [, quoted, bare] of line.matchAll(/'([^']*)'|(\S+)/g)) out.push(quoted ?? bare!);
  return out;
}

const NPX_DENO = ["npx", "-y", "deno@2.9.6"];

/** A `deno` command of the README: its arguments after `npx -y deno@2.9.6`. */
function denoArgs(parts: string[]): string[] {
  assert.deepEqual(parts.slice(0, 3), NPX_DENO, `not a deno command: ${parts.join(" ")}`);
  return parts.slice(3);
}

interface Background {
  output(): string;
  stop(): Promise<void>;
}

function spawn(args: string[], cwd: string, env: Record<string, string>) {
  return new Deno.Command("deno", { args, cwd, env, stdout: "piped", stderr: "piped" }).spawn();
}

function background(args: string[], cwd: string, env: Record<string, string>): Background {
  const child = spawn(args, cwd, env);
  let text = "";
  const decoder = new TextDecoder();
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream) text += decoder.decode(chunk, { stream: true });
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  return {
    output: () => text,
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch {
        // Already gone.
      }
      await child.status;
      await pumps;
    },
  };
}

async function run(args: string[], cwd: string, env: Record<string, string>): Promise<string> {
  const out = await new Deno.Command("deno", { args, cwd, env, stdout: "piped", stderr: "piped" })
    .output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, `deno ${args.join(" ")} failed:\n${text}`);
  return text;
}

/** A client calling `ShopService.greet` in a loop, counting failures. */
function callInLoop(base: string) {
  let running = true;
  let calls = 0;
  const failures: string[] = [];
  const replies: string[] = [];
  const done = (async () => {
    while (running) {
      try {
        const response = await fetch(`${base}/rpc/ShopService/greet`, {
          method: "POST",
          body: JSON.stringify({ name: "Ada" }),
        });
        const body = await response.json();
        if (response.status !== 200) failures.push(`${response.status} ${JSON.stringify(body)}`);
        else replies.push(body.result.message);
      } catch (error) {
        failures.push((error as Error).message);
      }
      calls++;
    }
  })();
  return {
    failures,
    replies,
    get calls() {
      return calls;
    },
    async stop() {
      running = false;
      await done;
    },
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

Deno.test("An author's day from the README: init, dev with saves under load, test, release", async () => {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-author-" });
  const project = `${root}/project`;
  const port = freePort();
  const base = `http://127.0.0.1:${port}`;
  const env = { PORT: String(port), BUNDLEHOST_URL: base, NO_COLOR: "1" };
  let engine: Background | undefined;
  try {
    await copyProject(ROOT, project);
    for (const line of readmeCommands()) {
      const parts = words(line);
      if (parts[0] === "curl") {
        // curl -s -X POST localhost:8000/<path> -d '<json>'
        const method = parts[parts.indexOf("-X") + 1]!;
        const body = parts[parts.indexOf("-d") + 1]!;
        const url = parts.find((p) => p.startsWith("localhost:8000"))!;
        const response = await fetch(`${base}${url.slice("localhost:8000".length)}`, {
          method,
          body,
        });
        assert.equal(response.status, 200, await response.clone().text());
        assert.equal((await response.json()).result.message, "Hello, Ada!");
        await playTheAuthor(project, base, engine!);
      } else if (parts[0] === "(cd") {
        // (cd <folder> && npx -y deno@2.9.6 task test)
        const folder = parts[1]!;
        const rest = line.slice(line.indexOf("&&") + 2).replace(/\)\s*$/, "").trim();
        const text = await run(denoArgs(words(rest)), `${project}/${folder}`, env);
        assert.match(text, /ok \| [1-9][0-9]* passed/);
      } else if (parts.at(-1) === "&") {
        engine = background(denoArgs(parts.slice(0, -1)), project, env);
        await waitFor(() => /listening on http/.test(engine!.output()), 60_000, "the engine");
      } else {
        const text = await run(denoArgs(parts), project, env);
        if (parts.includes("release")) assert.match(text, /Released shop@0\.1\.0/);
      }
    }
    assert.ok(engine, "the README block starts the engine");
  } finally {
    await engine?.stop();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
});

/** The author's saves, with a client calling all along. */
async function playTheAuthor(project: string, base: string, engine: Background): Promise<void> {
  const folder = `${project}/shop`;
  const original = await Deno.readTextFile(`${folder}/mod.ts`);
  const manifest = JSON.parse(await Deno.readTextFile(`${folder}/bundle.json`));
  const client = callInLoop(base);
  try {
    // 1. A save that breaks the module: reported once, with the file in the author's folder.
    await Deno.writeTextFile(
      `${folder}/mod.ts`,
      original.replace("ctx.log.info(", "ctx.log.info(("),
    );
    await waitFor(() => /shop\/mod\.ts:\d+:\d+/.test(engine.output()), 30_000, "the error report");
    assert.ok(!engine.output().includes(".bundlehost/releases"), engine.output());

    // 2. The fix, with a new reply.
    const again = original.replace("`Hello, ${name}!`", "`Hello again, ${name}!`");
    assert.notEqual(again, original);
    await Deno.writeTextFile(`${folder}/mod.ts`, again);
    await waitFor(() => client.replies.includes("Hello again, Ada!"), 30_000, "the fixed reply");

    // 3. A new service (and the first reply back).
    const withStock = original.replace(
      "services: {",
      "services: {\n    StockService: { count: () => ({ count: 3 }) },",
    );
    await Deno.writeTextFile(
      `${folder}/bundle.json`,
      JSON.stringify({ ...manifest, services: { ...manifest.services, StockService: "1.0.0" } }),
    );
    await Deno.writeTextFile(`${folder}/mod.ts`, withStock);
    await waitFor(
      async () => {
        const response = await fetch(`${base}/rpc/StockService/count`, { method: "POST" });
        return response.status === 200 && (await response.json()).result.count === 3;
      },
      30_000,
      "the added service",
    );

    // 4. A service declared but not exported: refused with the field named; the last good serves.
    await Deno.writeTextFile(
      `${folder}/bundle.json`,
      JSON.stringify({
        ...manifest,
        services: { ...manifest.services, StockService: "1.0.0", GhostService: "1.0.0" },
      }),
    );
    await waitFor(
      () => /services\.GhostService/.test(engine.output()),
      30_000,
      "the contract refusal",
    );
    const seen = client.calls;
    await waitFor(() => client.calls > seen + 5, 10_000, "calls to go on");
    assert.equal(client.replies.at(-1), "Hello, Ada!");

    // Back to a bundle that releases, for the rest of the README block.
    await Deno.writeTextFile(`${folder}/bundle.json`, JSON.stringify(manifest, null, 2));
    await Deno.writeTextFile(`${folder}/mod.ts`, original);
    await waitFor(
      async () => {
        const response = await fetch(`${base}/rpc/StockService/count`, { method: "POST" });
        await response.body?.cancel();
        return response.status === 404;
      },
      30_000,
      "the original bundle to serve again",
    );
  } finally {
    await client.stop();
  }
  assert.deepEqual(
    client.failures,
    [],
    `${client.failures.length} of ${client.calls} calls failed`,
  );
}
