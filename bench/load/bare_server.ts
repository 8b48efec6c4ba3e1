/**
 * The physical limit: a bare `Deno.serve` hello handler, the same bytes the hello bundle and the
 * workerd worker answer. POST (the `/rpc` shape): parse the JSON body, answer `{"result":"hello"}`;
 * anything else (the `/b/:id/` shape): the text `hello`.
 *
 * `deno run --allow-net=127.0.0.1 bare_server.ts [port]` prints `listening on http://HOST:PORT`
 * and stops on SIGTERM or SIGINT.
 *
 * @module
 */

const port = Number(Deno.args[0] ?? "0");
const server = Deno.serve({
  hostname: "127.0.0.1",
  port,
  onListen: ({ hostname, port }) => console.log(`listening on http://${hostname}:${port}`),
}, async (request) => {
  if (request.method === "POST") {
    JSON.parse(await request.text());
    return new Response(JSON.stringify({ result: "hello" }), {
      headers: { "content-type": "application/json" },
    });
  }
  return new Response("hello");
});
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  Deno.addSignalListener(signal, () => void server.shutdown().then(() => Deno.exit(0)));
}
