/**
 * A reference between the limit and Bundlehost's worker tier: the bare hello handler, except that
 * the answer comes from one Web Worker over `postMessage` (one round trip per request, no engine).
 * It is the floor of any design that crosses a worker boundary per request. Same bytes as
 * `bare_server.ts`.
 *
 * It is also the floor of a worker's memory: with `workers` above 1 it starts that many workers
 * (each answers one message before the server listens; requests go to the first), so the growth of
 * its RSS per extra worker is what an idle Deno Web Worker costs; `node` loads Deno's Node layer in
 * each, as a worker-tier sandbox's hardening does (`worker_hop_echo_node.ts`).
 *
 * `deno run --allow-net=127.0.0.1 --allow-read=<this folder> worker_hop_server.ts [port] [workers]
 * [plain|node]` prints `listening on http://HOST:PORT` and stops on SIGTERM or SIGINT.
 *
 * @module
 */

const count = Math.max(1, Number(Deno.args[1] ?? "1"));
const echo = Deno.args[2] === "node" ? "./worker_hop_echo_node.ts" : "./worker_hop_echo.ts";
const workers = Array.from(
  { length: count },
  () => new Worker(new URL(echo, import.meta.url), { type: "module" }),
);
const worker = workers[0]!;
const waiting = new Map<number, (value: string) => void>();
let next = 0;
worker.onmessage = (event: MessageEvent<{ id: number; value: string }>) => {
  const { id, value } = event.data;
  waiting.get(id)?.(value);
  waiting.delete(id);
};

function ask(input: unknown): Promise<string> {
  const id = ++next;
  return new Promise((resolve) => {
    waiting.set(id, resolve);
    worker.postMessage({ id, input });
  });
}

// Every worker answers once, so each has loaded its module and run its handler.
await Promise.all(workers.map((w) =>
  new Promise<void>((resolve) => {
    w.addEventListener("message", () => resolve(), { once: true });
    w.postMessage({ id: 0, input: null });
  })
));

const server = Deno.serve({
  hostname: "127.0.0.1",
  port: Number(Deno.args[0] ?? "0"),
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}`),
}, async (request) => {
  if (request.method === "POST") {
    const result = await ask(JSON.parse(await request.text()));
    return new Response(JSON.stringify({ result }), {
      headers: { "content-type": "application/json" },
    });
  }
  return new Response(await ask(null));
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void server.shutdown().then(() => Deno.exit(0)));
}
