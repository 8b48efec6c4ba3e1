/**
 * Web Worker isolation tier: one worker per instance, with explicit `deno.permissions` for every
 * kind so nothing is inherited from the engine. Cheap to start (≈10 ms) but it cannot stop a busy
 * loop nor cap memory (docs/architecture.md, "Platform facts", holes 2 and 3): use the process tier for hostile code.
 *
 * Messages arrive as small structured clones or, when larger, as bytes the guest serialized on its
 * own thread (see `../guest/clone_check.ts`); both go through a {@linkcode GuestInbox}, which
 * budgets them and checks the larger ones off the main thread before decoding.
 *
 * @module
 */
import {
  isNoGrants,
  noGrants,
  type ResolvedPermissions,
  toWorkerPermissions,
} from "../../manifest/permissions.ts";
import { isEncoded } from "../guest/clone_check.ts";
import { decodePayload } from "../wire/framing.ts";
import { MessageBatcher, unbatch } from "../wire/batcher.ts";
import { type ChannelLimits, resolveChannelLimits } from "./channel_limits.ts";
import { GuestInbox, withCap } from "./inbox.ts";
import type { Transport, TransportFactory } from "./instance.ts";
import type { WorkerReserve } from "./worker_reserve.ts";
import { GUEST_ENTRY, type GuestModule } from "./guest_module.ts";

/** What the worker tier needs to spawn a sandbox. */
export interface WorkerSpec {
  /** Worker name, shown in Deno's own error output. */
  name: string;
  /** Exact grants. */
  permissions: ResolvedPermissions;
  /** What the worker may make the engine decode. @default {DEFAULT_CHANNEL_LIMITS} */
  channel?: ChannelLimits;
  /**
   * Pre-spawned workers with no permissions, handed out when the grants are empty.
   * @default {none: every sandbox is spawned on demand}
   */
  reserve?: WorkerReserve;
  /** The runtime module to boot from. @default {the TypeScript entry} */
  guest?: GuestModule;
}

/**
 * Spawns a worker-tier sandbox (the guest runtime, waiting for `init`).
 *
 * @param name Worker name.
 * @param permissions Exact grants.
 * @param runtime The runtime module. @default {GUEST_ENTRY}
 * @returns The worker.
 */
export function spawnWorker(
  name: string,
  permissions: ResolvedPermissions,
  runtime: URL = GUEST_ENTRY,
): Worker {
  return new Worker(runtime, {
    type: "module",
    name,
    deno: { permissions: toWorkerPermissions(permissions) },
  });
}

/**
 * A spare for a {@linkcode WorkerReserve}: a worker with no permission of any kind.
 *
 * @param runtime The runtime module. @default {GUEST_ENTRY}
 * @returns The worker.
 */
export function spawnSpare(runtime: URL = GUEST_ENTRY): Worker {
  return spawnWorker("bundlehost-spare", noGrants(), runtime);
}

/** Whether a message from the guest holds an answer to a request (a reply or a response). */
function answersRequest(data: unknown): boolean {
  const answer = (m: unknown) => {
    const type = (m as { type?: unknown } | null)?.type;
    return type === "reply" || type === "response";
  };
  return Array.isArray(data) ? data.some(answer) : answer(data);
}

/**
 * Transport factory for the Web Worker tier.
 *
 * @param spec Name and grants.
 * @returns A factory the {@linkcode Instance} calls once.
 */
export function workerTransport(spec: WorkerSpec): TransportFactory {
  return (sink) => {
    // A spare holds no permission, so only a sandbox granted nothing may be one.
    const reserve = isNoGrants(spec.permissions) ? spec.reserve : undefined;
    const worker = reserve?.take() ??
      spawnWorker(spec.name, spec.permissions, spec.guest?.url ?? GUEST_ENTRY);
    let ended = false;
    let answered = reserve === undefined;
    const batcher = new MessageBatcher(
      (data, transfer) => worker.postMessage(data, transfer),
      sink.busy,
    );
    const limits = spec.channel ?? resolveChannelLimits();
    const inbox = new GuestInbox({
      limits,
      deliver: sink.receive,
      batches: true,
      ...(sink.solicited ? { solicited: sink.solicited } : {}),
      fail: (reason) => {
        if (!ended) sink.closed(reason);
      },
    });
    worker.addEventListener("message", (event) => {
      const data: unknown = event.data;
      if (!answered && answersRequest(data)) {
        answered = true;
        reserve?.refillSoon();
      }
      if (!isEncoded(data)) return unbatch(data, (message) => inbox.value(message));
      const bytes = data.payload.byteLength;
      if (!inbox.charge(1, bytes)) return;
      if (bytes > limits.inlineDecodeBytes) return inbox.large(data.payload);
      let value: unknown;
      try {
        value = decodePayload(data.payload);
      } catch {
        value = undefined; // A malformed message, counted by the instance.
      }
      unbatch(value, (message) => inbox.value(message));
    });
    worker.addEventListener("messageerror", () => sink.receive(undefined));
    worker.addEventListener("error", (event) => {
      // Without preventDefault an error in a worker terminates the engine.
      event.preventDefault();
      if (ended) return;
      sink.closed(`uncaught error in worker: ${event.message}`);
    });
    const transport: Transport = {
      send(message, transfer, onUndeliverable) {
        batcher.send(withCap(message, limits), transfer, onUndeliverable);
      },
      kill() {
        ended = true;
        batcher.close();
        worker.terminate();
      },
    };
    return transport;
  };
}
