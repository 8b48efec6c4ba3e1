/**
 * A reference between the limit and Bundlehost's worker tier: the bare hello handler, except that
 * the answer comes from one Web Worker over `postMessage` (one round trip per request, no engine).
 * It is the floor of any design that crosses a worker boundary per request. Same bytes as
 * `bare_server.ts`.
 *
 * `deno run --allow-net=127.0.0.1 --allow-read=<this folder> worker_hop_server.ts [port]` prints
 * `listening on http://HOST:PORT` and stops on SIGTERM or SIGINT.
 *
 * @module
 */

const worker = new Worker(new URL("./worker_hop_echo.ts", import.meta.url), { type: "module" });
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
