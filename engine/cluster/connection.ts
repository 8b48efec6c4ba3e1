/**
 * The engine's connection to a NATS server cluster with JetStream (cluster mode): the server list
 * it is given (`BUNDLEHOST_CLUSTER` or `--cluster`), parsed and checked, and one client connection
 * that reconnects for as long as the engine runs. The registry, release archives, events and
 * schedule leases all go through it (docs/architecture.md, "Cluster mode").
 *
 * @module
 */
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/transport-node";
import { BundlehostError } from "../base/errors.ts";

/** Most servers a cluster list may name. */
export const MAX_CLUSTER_SERVERS = 16;

/**
 * Parses a cluster server list: `nats://host:port` entries separated by commas.
 *
 * @example Three servers
 * ```ts
 * import { parseClusterServers } from "./connection.ts";
 *
 * const servers = parseClusterServers("nats://10.0.0.1:4222,nats://10.0.0.2:4222");
 * console.log(servers); // ["10.0.0.1:4222", "10.0.0.2:4222"]
 * ```
 *
 * @param list The list as the operator wrote it.
 * @returns `host:port` per server, in order.
 * @throws {BundlehostError} `BAD_INPUT` naming the entry that is not a NATS URL.
 */
export function parseClusterServers(list: string): string[] {
  const entries = list.split(",").map((entry) => entry.trim()).filter((entry) => entry !== "");
  if (entries.length === 0) {
    throw new BundlehostError("BAD_INPUT", "cluster: no NATS server given (nats://host:port)");
  }
  if (entries.length > MAX_CLUSTER_SERVERS) {
    throw new BundlehostError(
      "BAD_INPUT",
      `cluster: ${entries.length} servers given, at most ${MAX_CLUSTER_SERVERS}`,
    );
  }
  return entries.map((entry) => {
    let url: URL;
    try {
      url = new URL(entry);
    } catch {
      throw new BundlehostError("BAD_INPUT", `cluster: "${entry}" is not a URL (nats://host:port)`);
    }
    if (
      url.protocol !== "nats:" || url.hostname === "" || url.pathname.replace(/^\/$/, "") !== ""
    ) {
      throw new BundlehostError(
        "BAD_INPUT",
        `cluster: "${entry}" is not a NATS server URL (nats://host:port)`,
      );
    }
    if (url.username !== "" || url.password !== "") {
      throw new BundlehostError(
        "BAD_INPUT",
        `cluster: "${entry}" carries credentials; cluster credentials are not supported yet`,
      );
    }
    return `${url.hostname}:${url.port === "" ? "4222" : url.port}`;
  });
}

/**
 * Opens the engine's NATS connection: reconnects without limit (an engine keeps serving what it
 * runs while NATS is away, and converges again when it returns).
 *
 * @param servers `host:port` entries from {@linkcode parseClusterServers}.
 * @param name Connection name shown by the servers' monitoring (the engine's id).
 * @throws {BundlehostError} `UNAVAILABLE` when no server answers at start.
 */
export async function connectCluster(servers: string[], name: string): Promise<NatsConnection> {
  try {
    return await connect({
      servers,
      name,
      maxReconnectAttempts: -1,
      reconnectTimeWait: 250,
      timeout: 5_000,
    });
  } catch (error) {
    throw new BundlehostError(
      "UNAVAILABLE",
      `cluster: no NATS server answered at ${servers.join(", ")}: ${
        error instanceof Error ? error.message : String(error)
      }`,
    );
  }
}
