/**
 * The service-release plugin: publishes bundles as HTTP and RPC services (`/rpc`, `/b/:id/*`,
 * `/healthz`) and gives operators the admin API (`/admin/*`), following the paper's three release
 * phases: the engine restores bundles from the registry, loads and starts them, and then this
 * plugin starts answering.
 *
 * @example Serve an engine with the plugin
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 * import { serviceRelease } from "@bundlehost/sdk/service-release";
 *
 * const engine = await createEngine({ plugins: [serviceRelease()] });
 * Deno.serve({ hostname: "127.0.0.1", port: 8000 }, engine.fetch);
 * ```
 *
 * @module
 */
import { pathOf } from "../../engine/edge/http.ts";
import { Hono } from "hono";
import type { Engine } from "../../engine/engine.ts";
import { LogEvent } from "../../engine/core/lifecycle.ts";
import { definePlugin, type Plugin } from "../../engine/plugin/plugin.ts";
import { adminApi } from "./admin.ts";
import { errorReply } from "./errors.ts";
import { eventsAdminApi } from "./events_admin.ts";
import { servicePlane } from "./service_plane.ts";
import { type RpcHandler, rpcHandler, rpcTarget } from "./rpc.ts";
import { type BundlePageHandler, bundlePageHandler, bundlePageTarget } from "./bundle_page.ts";
import { loadAdminToken } from "./token.ts";

/**
 * Options for {@linkcode serviceRelease}.
 *
 * @example No admin API, a publish token for POST /events
 * ```ts
 * import { serviceRelease, type ServiceReleaseOptions } from "@bundlehost/sdk/service-release";
 *
 * const options: ServiceReleaseOptions = {
 *   admin: false,
 *   publishToken: "publish-token-0123456789",
 *   maxRpcBodyBytes: 256 * 1024,
 * };
 * const plugin = serviceRelease(options);
 * ```
 */
export interface ServiceReleaseOptions {
  /** Admin token; by default `BUNDLEHOST_ADMIN_TOKEN`, else generated into `<dataDir>/admin_token`. */
  adminToken?: string;
  /** Serve the admin API. @default {true} */
  admin?: boolean;
  /** Largest `/rpc` request body, bytes. @default {1048576} */
  maxRpcBodyBytes?: number;
  /** Largest admin JSON body, bytes. @default {65536} */
  maxJsonBytes?: number;
  /** Largest release archive upload, bytes. @default {52428800} */
  maxArchiveBytes?: number;
  /**
   * Token that may publish with `POST /events` (besides the admin token); at least 16
   * characters. Setting it makes a token required. @default {`BUNDLEHOST_PUBLISH_TOKEN`, else none}
   */
  publishToken?: string;
  /**
   * Whether `POST /events` requires a bearer token (the publish token or the admin token); when
   * false, anyone may publish. @default {true when a publish token is set, else false}
   */
  requirePublishToken?: boolean;
}

const OWN_PREFIXES = ["/rpc/", "/events/", "/b/", "/admin/", "/healthz"];

function envToken(name = "BUNDLEHOST_ADMIN_TOKEN"): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // No env permission: fall back to the token file.
  }
}

/** The publish token from the options or the environment, checked. */
function publishTokenOf(options: ServiceReleaseOptions): string | undefined {
  const token = options.publishToken ?? envToken("BUNDLEHOST_PUBLISH_TOKEN");
  if (token !== undefined && token.length < 16) {
    throw new RangeError(
      "The publish token (BUNDLEHOST_PUBLISH_TOKEN) must be at least 16 characters",
    );
  }
  return token;
}

/**
 * Creates the service-release plugin.
 *
 * @param options Token and limits.
 * @returns The plugin.
 *
 * @example Call a bundle over /rpc in-process
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 * import { serviceRelease } from "@bundlehost/sdk/service-release";
 *
 * await using engine = await createEngine({ plugins: [serviceRelease({ adminToken: "a".repeat(32) })] });
 * const health = await engine.fetch(new Request("http://127.0.0.1/healthz"));
 * console.log(health.status);
 * ```
 */
export function serviceRelease(options: ServiceReleaseOptions = {}): Plugin<Engine> {
  let token: string | undefined;
  let app: Hono | undefined;
  let rpc: RpcHandler | undefined;
  let bundlePage: BundlePageHandler | undefined;
  let failed: ((error: unknown) => Response) | undefined;
  return definePlugin<Engine>({
    name: "service-release",
    version: "0.1.0",
    engine: "^0.1.0",
    async setup(engine) {
      const onInternal = (error: unknown) =>
        engine.events.dispatchEvent(
          new LogEvent({
            level: "error",
            message: `service-release: ${(error as Error)?.stack ?? error}`,
          }),
        );
      app = new Hono();
      // Every route's failure becomes the same JSON error reply (status from the error's code).
      failed = (error) => {
        const { status, body } = errorReply(error, onInternal);
        return Response.json(body, { status });
      };
      app.onError(failed);
      rpc = rpcHandler(engine, options.maxRpcBodyBytes ?? 1024 * 1024);
      const publishToken = publishTokenOf(options);
      const requirePublish = options.requirePublishToken ?? publishToken !== undefined;
      if (requirePublish && publishToken === undefined && options.admin === false) {
        throw new RangeError(
          "Cannot require a token on POST /events: no publish token is set and the admin API is off",
        );
      }
      bundlePage = bundlePageHandler(engine);
      servicePlane(app, engine, {
        rpc,
        bundlePage,
        publishTokens: () =>
          requirePublish ? [publishToken, token].filter((t) => t !== undefined) : [],
      });
      if (options.admin ?? true) {
        token = options.adminToken ??
          await loadAdminToken(`${engine.dataDir}/admin_token`, envToken());
        adminApi(app, engine, {
          token: () => token!,
          maxJsonBytes: options.maxJsonBytes ?? 64 * 1024,
          maxArchiveBytes: options.maxArchiveBytes ?? 50 * 1024 * 1024,
        });
        // After adminApi, so its bearer-token middleware guards these routes too.
        eventsAdminApi(app, engine);
      }
    },
    fetch(request) {
      if (!app) return undefined;
      const path = pathOf(request.url);
      // The hottest route skips the router: same handler, same error replies.
      const target = rpc && rpcTarget(request.method, path);
      if (target) return rpc!(request, target.service, target.method).catch(failed!);
      const bundleId = bundlePage && bundlePageTarget(request.method, path);
      if (bundleId) return bundlePage!(request, bundleId).catch(failed!);
      if (!OWN_PREFIXES.some((p) => path === p || path.startsWith(p) || `${path}/` === p)) {
        return undefined;
      }
      return app.fetch(request);
    },
  });
}
