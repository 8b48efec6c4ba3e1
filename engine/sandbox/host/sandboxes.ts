/**
 * Creates sandboxes in either tier and keeps track of child processes, so the engine can reap
 * every one of them when it closes.
 *
 * @module
 */
import type { ResolvedPermissions } from "../../manifest/permissions.ts";
import type { IsolationTier } from "../../sdk/types.ts";
import { type ChannelLimits, resolveChannelLimits } from "./channel_limits.ts";
import type { TransportFactory } from "./instance.ts";
import { type ProcessTransport, processTransport } from "./process.ts";
import { spawnSpare, workerTransport } from "./worker.ts";
import { WorkerReserve } from "./worker_reserve.ts";
import { GuestModule } from "./guest_module.ts";

/** What a sandbox is made from. */
export interface SandboxSpec {
  /** Tier. */
  tier: IsolationTier;
  /** Instance name, for messages. */
  name: string;
  /** Exact grants. */
  grants: ResolvedPermissions;
  /** V8 heap cap for the process tier, MiB. */
  memoryMb: number;
}

/** Transport factories for both tiers, with the live child processes counted. */
export class Sandboxes {
  readonly #denoCommand: string;
  readonly #channel: ChannelLimits;
  readonly #children = new Set<ProcessTransport>();
  // Two spares: a burst of first calls to scaled-to-zero bundles finds one already loaded while the
  // other is spawned (with one, each found the spare spawned right after the call before it, still
  // loading its runtime).
  readonly #reserve = new WorkerReserve(() => spawnSpare(this.#guest.url), 2);
  readonly #guest = new GuestModule();

  /**
   * Creates the factory.
   *
   * @param denoCommand Deno executable for child processes (a name the engine may run).
   * @param channel What one sandbox may make the engine decode. @default {DEFAULT_CHANNEL_LIMITS}
   */
  constructor(denoCommand: string, channel: ChannelLimits = resolveChannelLimits()) {
    this.#denoCommand = denoCommand;
    this.#channel = channel;
  }

  /**
   * Builds the worker tier's runtime as one module (`guest_module.ts`); until it is done, and if
   * it fails, workers boot from the TypeScript entry.
   *
   * @param dir A folder only the engine writes.
   * @returns Why the build failed, or `undefined`.
   */
  prepareGuest(dir: string): Promise<string | undefined> {
    return this.#guest.prepare(dir, this.#denoCommand);
  }

  /** Child processes not yet reaped. */
  get children(): number {
    return this.#children.size;
  }

  /**
   * A transport factory for one instance.
   *
   * @param spec Tier, name, grants, heap cap.
   * @returns The factory the instance calls once.
   */
  transport(spec: SandboxSpec): TransportFactory {
    if (spec.tier === "worker") {
      return workerTransport({
        name: spec.name,
        permissions: spec.grants,
        channel: this.#channel,
        reserve: this.#reserve,
        guest: this.#guest,
      });
    }
    const factory = processTransport({
      name: spec.name,
      permissions: spec.grants,
      memoryMb: spec.memoryMb,
      denoCommand: this.#denoCommand,
      channel: this.#channel,
    });
    return (sink) => {
      const child = factory(sink);
      this.#children.add(child);
      void child.ended.then(() => this.#children.delete(child));
      return child;
    };
  }

  /**
   * Kills any child process still running and waits until every one is reaped; terminates the
   * pre-spawned workers.
   */
  async reapAll(): Promise<void> {
    this.#reserve.close();
    for (const child of this.#children) child.kill();
    await Promise.all([...this.#children].map((child) => child.ended));
  }
}
