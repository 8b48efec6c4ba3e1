/**
 * Hostile suite, archives (issue item 12): release uploads (`POST /admin/releases`, tar and
 * tar.gz) crafted to break the unpacker — an entry name too long for the file system, a 10 KB
 * name, deep nesting, a huge entry count, a huge declared size, a gzip bomb — each answered with a
 * 4xx that names the problem, within bounded memory, while the probe keeps the victim, `/healthz`
 * and the admin API measured.
 *
 * @module
 */
import assert from "node:assert/strict";
import { packTar, type TarEntry } from "modern-tar";
import { manifest } from "./_helpers.ts";
import { assertHeld, hostileEngine, probe, rssMiB } from "./_hostile.ts";
import { TEST_TOKEN } from "./_server.ts";

const BUNDLE_JSON = JSON.stringify(manifest("packed", { services: { Greeter: "1.0.0" } }));
const MOD = `export default { services: { Greeter: { say: () => "hi" } } };`;

function file(name: string, body: string | Uint8Array<ArrayBuffer> = ""): TarEntry {
  const size = typeof body === "string"
    ? new TextEncoder().encode(body).byteLength
    : body.byteLength;
  return { header: { name, size }, body };
}

/** A valid bundle plus `extra` entries. */
function bundle(...extra: TarEntry[]): Promise<Uint8Array<ArrayBuffer>> {
  return packTar([file("bundle.json", BUNDLE_JSON), file("mod.ts", MOD), ...extra]);
}

async function gzip(data: BodyInit): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Response(data).body!.pipeThrough(new CompressionStream("gzip"));
  return await new Response(stream).bytes();
}

/** Rewrites the size field of the tar header at `offset` (octal, 11 digits) and its checksum. */
function declareSize(tar: Uint8Array<ArrayBuffer>, offset: number, size: number): void {
  const header = tar.subarray(offset, offset + 512);
  header.set(new TextEncoder().encode(size.toString(8).padStart(11, "0") + "\0"), 124);
  header.fill(0x20, 148, 156);
  const sum = header.reduce((a, b) => a + b, 0);
  header.set(new TextEncoder().encode(sum.toString(8).padStart(6, "0") + "\0 "), 148);
}

/** A gzip stream of `bytes` zero bytes, made chunk by chunk. */
function zeros(bytes: number): ReadableStream<Uint8Array<ArrayBuffer>> {
  const chunk = new Uint8Array(1024 * 1024);
  let left = bytes;
  return new ReadableStream({
    pull(controller) {
      if (left <= 0) return controller.close();
      const n = Math.min(left, chunk.byteLength);
      controller.enqueue(chunk.slice(0, n));
      left -= n;
    },
  });
}

interface Case {
  name: string;
  archive: () => Promise<Uint8Array<ArrayBuffer>>;
  /** What the error message must say. */
  message: RegExp;
}

const CASES: Case[] = [
  {
    name: "an entry name longer than a file name may be",
    archive: () => bundle(file(`lib/${"n".repeat(300)}.ts`, "export {};")),
    message: /entry "lib\/n{20}.*" has a name segment longer than 255 bytes/,
  },
  {
    name: "a 10 KB entry name",
    archive: () => bundle(file(`${"d".repeat(99)}/`.repeat(100) + "f.ts", "")),
    message: /entry "d{20}.*" has a name longer than 1024 bytes/,
  },
  {
    name: "deep nesting",
    archive: () => bundle(file("a/".repeat(200) + "f.ts", "")),
    message: /entry "a\/a\/.*" is nested deeper than 32 folders/,
  },
  {
    name: "a huge entry count",
    archive: async () =>
      gzip(await packTar(Array.from({ length: 100_000 }, (_, i) => file(`f/${i}.txt`, "")))),
    message: /more than \d+ (files|entries)/,
  },
  {
    name: "a huge count of folders",
    archive: async () =>
      gzip(
        await packTar([
          file("bundle.json", BUNDLE_JSON),
          ...Array.from({ length: 100_000 }, (_, i) => ({
            header: { name: `d${i}/`, type: "directory" as const, size: 0 },
          })),
        ]),
      ),
    message: /archive has more than \d+ entries/,
  },
  {
    name: "a huge declared size",
    archive: async () => {
      const tar = await bundle(file("big.bin", "tiny"));
      // bundle.json, mod.ts, then big.bin: its header follows the first two entries.
      const offsets: number[] = [];
      for (let at = 0; at + 512 <= tar.byteLength;) {
        const size = parseInt(new TextDecoder().decode(tar.subarray(at + 124, at + 135)), 8);
        if (Number.isNaN(size) || tar[at] === 0) break;
        offsets.push(at);
        at += 512 + Math.ceil(size / 512) * 512;
      }
      declareSize(tar, offsets[2]!, 8 * 1024 ** 3);
      return tar;
    },
    message: /entry "big\.bin" declares \d+ bytes|not a valid tar|more than \d+ bytes/,
  },
  {
    name: "a gzip bomb",
    archive: () => gzip(zeros(512 * 1024 * 1024)),
    message: /inflates beyond|no bundle\.json|not a valid tar/,
  },
];

Deno.test("Engine answers hostile release archives with a 4xx naming the problem, in bounded memory", async () => {
  await using engine = await hostileEngine();
  const archives = await Promise.all(CASES.map(async (c) => ({ ...c, bytes: await c.archive() })));
  const before = rssMiB(engine.proc.pid);
  const running = probe(engine.url);
  const results: string[] = [];
  for (const c of archives) {
    const started = performance.now();
    const response = await fetch(`${engine.url}/admin/releases`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${TEST_TOKEN}`,
        "content-type": c.bytes[0] === 0x1f ? "application/gzip" : "application/x-tar",
      },
      body: c.bytes,
    });
    const body = await response.json() as { error?: { message: string } };
    results.push(
      `${c.name}: ${response.status} in ${(performance.now() - started).toFixed(0)} ms, ${
        body.error?.message.slice(0, 160)
      }`,
    );
    assert.ok(
      response.status >= 400 && response.status < 500,
      `${c.name}: ${response.status} ${JSON.stringify(body).slice(0, 300)}`,
    );
    assert.match(body.error?.message ?? "", c.message, results.join("\n"));
  }
  const report = await running.stop();
  assertHeld(report, engine);
  const after = rssMiB(engine.proc.pid);
  assert.ok(after - before < 200, `RSS grew from ${before.toFixed(0)} to ${after.toFixed(0)} MiB`);
});
