/**
 * Streaming throughput through `/b/:id/*` against bare `Deno.serve`, in one run: a download of
 * `SIZE_MIB` MiB (under the 32 MiB response limit) produced by a `ReadableStream` in 64 KiB chunks, and an upload of the same size
 * read by the handler, from
 *
 * - **bare**: `Deno.serve` whose handler streams the body in its own isolate;
 * - **worker**: the engine (service-release plugin, served by `Deno.serve`) forwarding to a bundle
 *   in a Web Worker sandbox, body credited across the boundary (README, "Streaming and
 *   WebSockets");
 * - **process**: the same bundle in a child process (frames on stdin/stdout).
 *
 * Every server runs in this process, and the client too (one `fetch` at a time), so the figures
 * compare the paths on equal terms rather than measure the machine. Rounds alternate between the
 * targets; a figure is the median MB/s (10^6 bytes per second) over `ROUNDS` rounds after one
 * warm-up round. The result goes to `bench/results/streaming-latest.json` and to BENCHMARKS.md
 * (its own section, kept by the load harness). Run by `deno task bench` (as a script).
 *
 * @module
 */
import { createEngine } from "../mod.ts";
import { serviceRelease } from "../plugins/service_release/mod.ts";

const SIZE_MIB = 24;
const CHUNK = 64 * 1024;
const ROUNDS = 5;
const ROOT = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
const TOKEN = "bench-token-0123456789abcdef";

/** Streams `SIZE_MIB` MiB, or counts an upload, in the caller's isolate. */
const HANDLER_SOURCE = `
const SIZE = ${SIZE_MIB} * 1024 * 1024;
const CHUNK = ${CHUNK};
async function handle(request) {
  if (request.method === "POST") {
    let bytes = 0;
    for await (const chunk of request.body) bytes += chunk.byteLength;
    return new Response(String(bytes));
  }
  let sent = 0;
  const body = new ReadableStream({
    pull(controller) {
      const size = Math.min(CHUNK, SIZE - sent);
      sent += size;
      controller.enqueue(new Uint8Array(size));
      if (sent >= SIZE) controller.close();
    },
  }, { highWaterMark: 0 });
  return new Response(body, { headers: { "content-type": "application/octet-stream" } });
}`;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

async function download(url: string): Promise<number> {
  const started = performance.now();
  const response = await fetch(url);
  let bytes = 0;
  for await (const chunk of response.body!) bytes += chunk.byteLength;
  if (bytes !== SIZE_MIB * 1024 * 1024) throw new Error(`${url}: got ${bytes} bytes`);
  return bytes / 1e6 / ((performance.now() - started) / 1000);
}

async function upload(url: string): Promise<number> {
  const size = SIZE_MIB * 1024 * 1024;
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const n = Math.min(CHUNK, size - sent);
      sent += n;
      controller.enqueue(new Uint8Array(n));
      if (sent >= size) controller.close();
    },
  }, { highWaterMark: 0 });
  const started = performance.now();
  const response = await fetch(url, { method: "POST", body });
  const counted = Number(await response.text());
  if (counted !== size) throw new Error(`${url}: the handler read ${counted} bytes`);
  return size / 1e6 / ((performance.now() - started) / 1000);
}

async function main(): Promise<void> {
  const root = await Deno.makeTempDir({ prefix: "bundlehost-stream-bench-" });
  // deno-lint-ignore no-explicit-any
  const handle = new Function(`${HANDLER_SOURCE}; return handle;`)() as any;
  const bare = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, handle);
  const engine = await createEngine({
    dataDir: `${root}/.bundlehost`,
    ceiling: { trusted: ["*"] },
    maxBodyBytes: 2 * SIZE_MIB * 1024 * 1024,
    plugins: [serviceRelease({ adminToken: TOKEN })],
  });
  for (const tier of ["worker", "process"]) {
    const dir = `${root}/stream-${tier}`;
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(
      `${dir}/bundle.json`,
      JSON.stringify({
        id: `stream-${tier}`,
        version: "1.0.0",
        entry: "./mod.ts",
        isolation: tier,
      }),
    );
    await Deno.writeTextFile(
      `${dir}/mod.ts`,
      `${HANDLER_SOURCE}\nexport default { fetch: handle };\n`,
    );
    await engine.release({ path: dir });
  }
  const served = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, engine.fetch);
  const targets: [string, string][] = [
    ["bare Deno.serve", `http://127.0.0.1:${bare.addr.port}/`],
    ["Bundlehost /b/, worker tier", `http://127.0.0.1:${served.addr.port}/b/stream-worker/`],
    ["Bundlehost /b/, process tier", `http://127.0.0.1:${served.addr.port}/b/stream-process/`],
  ];
  const figures = new Map(
    targets.map(([name]) => [name, { down: [] as number[], up: [] as number[] }]),
  );
  try {
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [name, url] of targets) {
        const down = await download(url);
        const up = await upload(url);
        if (round === 0) continue; // Warm-up.
        figures.get(name)!.down.push(down);
        figures.get(name)!.up.push(up);
      }
    }
  } finally {
    await bare.shutdown();
    engine.endStreams();
    await served.shutdown();
    await engine.close();
    await Deno.remove(root, { recursive: true }).catch(() => {});
  }
  await report(targets.map(([name]) => name), figures);
}

async function report(
  names: string[],
  figures: Map<string, { down: number[]; up: number[] }>,
): Promise<void> {
  const base = figures.get(names[0]!)!;
  const rows = names.map((name) => {
    const f = figures.get(name)!;
    return {
      name,
      downloadMBps: median(f.down),
      uploadMBps: median(f.up),
      downloadRatio: median(f.down) / median(base.down),
      uploadRatio: median(f.up) / median(base.up),
      downRange: [Math.min(...f.down), Math.max(...f.down)],
    };
  });
  const commit = new TextDecoder().decode(
    (await new Deno.Command("git", {
      args: ["rev-parse", "--short", "HEAD"],
      cwd: ROOT,
      stdout: "piped",
      stderr: "null",
    }).output().catch(() => ({ stdout: new Uint8Array() }))).stdout,
  ).trim() || "unknown";
  const at = new Date().toISOString();
  const record = { at, commit, sizeMiB: SIZE_MIB, chunkBytes: CHUNK, rounds: ROUNDS, rows };
  await Deno.mkdir(`${ROOT}/bench/results`, { recursive: true });
  await Deno.writeTextFile(
    `${ROOT}/bench/results/streaming-latest.json`,
    `${JSON.stringify(record, null, 2)}\n`,
  );
  const fixed = (n: number) => n.toFixed(n >= 100 ? 0 : 1);
  const table = [
    "| target | download MB/s | download range | ÷ bare | upload MB/s | ÷ bare |",
    "| --- | ---: | ---: | ---: | ---: | ---: |",
    ...rows.map((r) =>
      `| ${r.name} | ${fixed(r.downloadMBps)} | ${fixed(r.downRange[0]!)}–${
        fixed(r.downRange[1]!)
      } | ${r.downloadRatio.toFixed(2)}× | ${fixed(r.uploadMBps)} | ${r.uploadRatio.toFixed(2)}× |`
    ),
  ].join("\n");
  console.log(table);
  const section = [
    "<!-- streaming:begin (written by bench/streaming_bench.ts; edits are lost) -->",
    "",
    "## Streaming throughput through /b/",
    "",
    `Run ${at}, commit \`${commit}\`: part of \`deno task bench\` (\`bench/streaming_bench.ts\`).`,
    "Record: `bench/results/streaming-latest.json`.",
    "",
    `A ${SIZE_MIB} MiB download produced by a \`ReadableStream\` in ${
      CHUNK / 1024
    } KiB chunks, and an upload of the same size read by the handler, one request at a time from a`,
    "client in the same process as every server; bare `Deno.serve` runs the handler in its own",
    "isolate, Bundlehost forwards through `/b/` to the same handler in a sandbox, the body credited",
    `across the boundary (256 KiB window). Median of ${ROUNDS} alternating rounds after a warm-up;`,
    "MB = 10^6 bytes.",
    "",
    table,
    "",
    "<!-- streaming:end -->",
  ].join("\n");
  const path = `${ROOT}/BENCHMARKS.md`;
  const text = await Deno.readTextFile(path).catch(() => "# Benchmarks\n");
  const existing = /<!-- streaming:begin[^>]*-->[\s\S]*?<!-- streaming:end -->/;
  await Deno.writeTextFile(
    path,
    existing.test(text) ? text.replace(existing, section) : `${text.trimEnd()}\n\n${section}\n`,
  );
}

if (import.meta.main) await main();
