/**
 * Example bundle: a greeting service and an HTTP handler. It imports nothing and asks for no
 * permissions; a plain object default export is a valid bundle.
 *
 * @module
 */

interface Context {
  bundle: { id: string; version: string; instanceId: string };
  log: { info(...args: unknown[]): void };
}

let greeted = 0;

export default {
  services: {
    HelloService: {
      greet(input: { name?: unknown }, ctx: Context) {
        const name = typeof input?.name === "string" && input.name !== "" ? input.name : "world";
        greeted++;
        return {
          message: `Hello, ${name}!`,
          bundle: `${ctx.bundle.id}@${ctx.bundle.version}`,
          instance: ctx.bundle.instanceId,
          greeted,
        };
      },
    },
  },

  fetch(request: Request, ctx: Context): Response {
    const url = new URL(request.url);
    return Response.json({
      hello: url.searchParams.get("name") ?? "world",
      path: url.pathname,
      bundle: `${ctx.bundle.id}@${ctx.bundle.version}`,
    });
  },

  hooks: {
    onStart(ctx: Context) {
      ctx.log.info(`hello instance ${ctx.bundle.instanceId} started`);
    },
  },
};
