/**
 * Helper process of `edge_emfile_test.ts`: serves with the edge, with a cap far above what the
 * process can hold, then takes every free descriptor but two, so accepting hits EMFILE. Prints
 * `listening <port>` and then its counters as JSON lines.
 *
 * Usage: `prlimit --nofile=N deno run --allow-read --allow-net=127.0.0.1 tests/_edge_emfile_server.ts <folder>`
 *
 * @module
 */
import { serveEdge } from "../engine/edge/serve.ts";

const folder = Deno.args[0]!;
const server = serveEdge(() => new Response("ok"), {
  port: 0,
  maxConnections: 100_000,
  fdReserve: 1,
  probePath: folder,
  onError: () => {},
});
const held: Deno.FsFile[] = [];
try {
  while (held.length < 100_000) held.push(Deno.openSync(folder));
} catch {
  // Out of descriptors, as intended.
}
for (let i = 0; i < 2; i++) held.pop()?.close();
console.log(`listening ${server.addr.port}`);
setInterval(() => console.log(JSON.stringify(server.counts())), 100);
