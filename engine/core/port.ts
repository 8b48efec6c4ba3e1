/**
 * The narrow port through which the durable layers (the release registry, traffic control,
 * canaries) drive the bundle runtime. They depend on this interface only, never on the runtime or
 * the engine, so the composition root can build them in any order and no import runs back up.
 *
 * @module
 */
import type { LifecycleState } from "../sdk/types.ts";
import type { OutcomeStats } from "./outcomes.ts";
import type { Exposed, RevisionStatus } from "./revision_status.ts";

/**
 * How one bundle is routed now: which version serves, the split, and each version's state.
 *
 * @example Which versions of a bundle are ACTIVE
 * ```ts
 * import { createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const routing = engine.runtime.routing("hello");
 * const active = routing?.versions.filter((v) => v.state === "ACTIVE").map((v) => v.version);
 * console.log(routing?.current, routing?.weights, active);
 * ```
 */
export interface BundleRouting {
  /** Version that serves when no weights are set. */
  current?: string;
  /** Traffic weights per version, when set. */
  weights?: Record<string, number>;
  /** Every installed version and its state. */
  versions: { version: string; state: LifecycleState }[];
}

/**
 * Options of {@linkcode RuntimePort.install}.
 *
 * @example Install a folder and show its content hash in status
 * ```ts
 * import { createEngine, type InstallOptions } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const options: InstallOptions = { hash: "sha256-…" };
 * const status = await engine.runtime.install("./bundles/hello", options);
 * console.log(status.state); // "RESOLVED"
 * ```
 */
export interface InstallOptions {
  /** Content hash of the release, shown in status. */
  hash?: string;
  /** What the version exposed when it last started (a restore), shown until an instance starts. */
  exposes?: Exposed;
  /** The author's folder it was released from. */
  source?: string;
  /**
   * The folder's files exactly as a release has just written them (regular files only): the
   * manifest, the vetting key and the prepared module come from these bytes instead of reading
   * the folder back. @default {the folder is read}
   */
  written?: readonly WrittenFile[];
}

/**
 * A file of a folder the engine has just written.
 *
 * @example The manifest of a folder, as a release wrote it
 * ```ts
 * import type { WrittenFile } from "@bundlehost/sdk";
 *
 * const manifest: WrittenFile = {
 *   path: "bundle.json",
 *   data: new TextEncoder().encode('{"id":"hello","version":"1.0.0"}'),
 * };
 * console.log(manifest.path, manifest.data.byteLength);
 * ```
 */
export interface WrittenFile {
  /** Path relative to the folder, `/`-separated. */
  path: string;
  /** Content. */
  data: Uint8Array<ArrayBuffer>;
}

/**
 * What the durable layers may ask of the runtime, and what a host reaches as `engine.runtime`.
 * Every verb here is immediate and not durable; the registry makes it durable by recording its
 * intent in the store first.
 *
 * @example Install and start a version without recording a release (a test, an embedding)
 * ```ts
 * import { createEngine, type RuntimePort } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const runtime: RuntimePort = engine.runtime;
 * await runtime.install("./bundles/hello");
 * await runtime.start("hello");
 * console.log(runtime.stateOf("hello", "1.0.0")); // "ACTIVE"
 * ```
 */
export interface RuntimePort {
  /** Absolute path of the engine's data folder. */
  readonly dataDir: string;
  /** Lifecycle events (canary progress goes out here). */
  readonly events: EventTarget;
  /**
   * Installs a version from a folder; it ends RESOLVED. `exposes`: what it exposed when it last
   * started (a restore), shown until an instance starts.
   */
  install(dir: string, options?: InstallOptions): Promise<RevisionStatus>;
  /**
   * Starts a version (the current one by default) and waits until ACTIVE; `atZero` starts it
   * scaled to zero when its scaling allows (restore).
   */
  start(id: string, version?: string, options?: { atZero?: boolean }): Promise<RevisionStatus>;
  /**
   * Loads a version that is not started once, in a sandbox of its own, and checks that its module
   * exports every service and method its manifest declares or names (the release contract check).
   */
  vet(id: string, version: string): Promise<void>;
  /** Stops a version (the current one by default), draining calls in flight. */
  stop(id: string, version?: string): Promise<RevisionStatus>;
  /** Uninstalls one version, or all. */
  uninstall(id: string, version?: string): Promise<void>;
  /** Releases every service and topic a bundle owns. */
  disown(id: string): Promise<void>;
  /** Makes a version the one that serves; clears weights. */
  activate(id: string, version: string, options?: { requireActive?: boolean }): void;
  /** Splits traffic by weight, or returns to the current version only (`undefined`). */
  setWeights(id: string, weights: Record<string, number> | undefined): void;
  /** Holds an ACTIVE version warm at one instance without traffic, or resumes its scaling. */
  standby(id: string, version: string, on: boolean): void;
  /** The state of one installed version, if installed. */
  stateOf(id: string, version: string): LifecycleState | undefined;
  /** How a bundle is routed now, if installed. */
  routing(id: string): BundleRouting | undefined;
  /** Call outcomes of one version. */
  outcomes(id: string, version: string): OutcomeStats;
}
