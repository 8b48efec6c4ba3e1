/**
 * Example bundle: streaming through `/b/live/` and `/rpc`. It imports nothing and asks for no
 * permissions.
 *
 * - `GET /b/live/clock?n=5` is a server-sent event stream: one event a second, each sent as it is
 *   produced; the stream stops when the client leaves (its `cancel` runs).
 * - `GET /b/live/echo` with a WebSocket upgrade echoes text and binary messages.
 * - `POST /rpc/LiveFeed/count` with `{"to": 3}` streams `{"n": 1}`, `{"n": 2}`, `{"n": 3}` as NDJSON.
 *
 * @module
 */

interface Context {
  bundle: { id: string; version: string };
}

function clock(events: number): Response {
  const encoder = new TextEncoder();
  let timer: ReturnType<typeof setInterval> | undefined;
  let sent = 0;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      const tick = () => {
        controller.enqueue(encoder.encode(`data: ${new Date().toISOString()}\n\n`));
        if (++sent >= events) {
          clearInterval(timer);
          controller.close();
        }
      };
      tick();
      timer = setInterval(tick, 1_000);
    },
    cancel() {
      clearInterval(timer);
    },
  });
  return new Response(body, {
    headers: { "content-type": "text/event-stream", "cache-control": "no-store" },
  });
}

function echo(request: Request, ctx: Context): Response {
  const { socket, response } = Deno.upgradeWebSocket(request);
  socket.onopen = () => socket.send(`connected to ${ctx.bundle.id}@${ctx.bundle.version}`);
  socket.onmessage = (event) => socket.send(event.data);
  return response;
}

export default {
  services: {
    LiveFeed: {
      count(input: { to?: unknown }): ReadableStream<{ n: number }> {
        const to = Number.isInteger(input?.to) ? Math.min(input.to as number, 100) : 3;
        let n = 0;
        return new ReadableStream({
          pull(controller) {
            controller.enqueue({ n: ++n });
            if (n >= to) controller.close();
          },
        });
      },
    },
  },

  fetch(request: Request, ctx: Context): Response {
    const url = new URL(request.url);
    if (url.pathname === "/clock") return clock(Number(url.searchParams.get("n") ?? 5) || 5);
    if (url.pathname === "/echo" && request.headers.get("upgrade") === "websocket") {
      return echo(request, ctx);
    }
    return new Response("Try /clock (server-sent events) or /echo (WebSocket)\n");
  },
};
