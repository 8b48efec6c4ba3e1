/**
 * Domain errors of the engine. Each condition a caller may want to catch has its own class and a
 * stable machine-readable `code`; the service-release plugin maps codes to HTTP statuses.
 *
 * @module
 */

/**
 * Machine-readable codes carried by every {@linkcode BundlehostError}.
 *
 * @example Map a code to an HTTP status
 * ```ts
 * import { BundlehostError, type ErrorCode } from "@bundlehost/sdk";
 *
 * const status = (code: ErrorCode): number => code === "NOT_FOUND" ? 404 : code === "TIMEOUT" ? 504 : 500;
 * const error = new BundlehostError("TIMEOUT", "Call HelloService.greet timed out after 30000 ms");
 * console.log(status(error.code)); // 504
 * ```
 */
export type ErrorCode =
  | "BAD_INPUT"
  | "BAD_MANIFEST"
  | "RELEASE_REFUSED"
  | "NOT_FOUND"
  | "BAD_STATE"
  | "CONFLICT"
  | "UNAVAILABLE"
  | "TIMEOUT"
  | "BUNDLE_ERROR"
  | "BUNDLE_CRASHED"
  | "THROTTLED"
  | "CIRCUIT_OPEN"
  | "HOP_LIMIT"
  | "PLUGIN"
  | "TOO_LARGE"
  | "CANCELLED"
  | "BODY_TIMEOUT"
  | "STORE_FULL"
  | "FORBIDDEN"
  | "INTERNAL";

/**
 * Base class of every error the engine raises on purpose.
 *
 * @example Catch every engine error by its code
 * ```ts
 * import { BundlehostError, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * try {
 *   await engine.call("HelloService", "greet", { name: "Ada" });
 * } catch (error) {
 *   if (!(error instanceof BundlehostError)) throw error;
 *   console.log(error.code, error.bundle, error.message);
 * }
 * ```
 */
export class BundlehostError extends Error {
  /** Stable code, e.g. `"TIMEOUT"`. */
  readonly code: ErrorCode;
  /** `id@version` of the bundle the failure happened in, when the broker knows it. */
  bundle?: string;

  /**
   * Creates the error.
   *
   * @param code Stable code.
   * @param message Sentence-case message without a final period.
   * @param options Standard error options (`cause`).
   */
  constructor(code: ErrorCode, message: string, options?: ErrorOptions) {
    super(message, options);
    this.code = code;
  }

  /** Error class name, kept through minification. */
  override get name(): string {
    return "BundlehostError";
  }
}

/**
 * A `bundle.json` field is missing or invalid; `field` names it (dotted path).
 *
 * @example Name the bad field of a release
 * ```ts
 * import { createEngine, ManifestError } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.registry.release({ path: "./bundles/hello" }).catch((error) => {
 *   if (error instanceof ManifestError) console.log(`bundle.json ${error.field}: ${error.message}`);
 *   else throw error;
 * });
 * ```
 */
export class ManifestError extends BundlehostError {
  /** Dotted path of the offending field, e.g. `"permissions.read[0]"`. */
  readonly field: string;

  /**
   * Creates the error.
   *
   * @param field Dotted path of the offending field.
   * @param message Why it is refused.
   */
  constructor(field: string, message: string) {
    super("BAD_MANIFEST", message);
    this.field = field;
  }

  /** Error class name. */
  override get name(): string {
    return "ManifestError";
  }
}

/**
 * The operator policy (`--ceiling` file or the `ceiling` option) is invalid, or grants more than
 * the engine itself holds; `field` names the offending entry.
 *
 * @example Report an invalid operator policy
 * ```ts
 * import { createEngine, PolicyError } from "@bundlehost/sdk";
 *
 * try {
 *   await createEngine({ ceiling: { trusted: ["hello"], limits: { maxWorkers: -1 } } });
 * } catch (error) {
 *   if (error instanceof PolicyError) console.log(`policy ${error.field}: ${error.message}`);
 * }
 * ```
 */
export class PolicyError extends BundlehostError {
  /** Dotted path of the offending policy field, e.g. `"limits.maxWorkers"` or `"net[0]"`. */
  readonly field: string;

  /**
   * Creates the error.
   *
   * @param field Dotted path of the offending field.
   * @param message Why it is refused.
   */
  constructor(field: string, message: string) {
    super("BAD_INPUT", message);
    this.field = field;
  }

  /** Error class name. */
  override get name(): string {
    return "PolicyError";
  }
}

/**
 * A bundle declared a service or topic that another bundle owns, without a grant in the operator
 * policy: it would capture the owner's traffic.
 *
 * @example A bundle claims a service another owns
 * ```ts
 * import { createEngine, OwnershipError } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.registry.release({ path: "./bundles/hello-copy" }).catch((error) => {
 *   if (error instanceof OwnershipError) console.log("grant it in the policy:", error.message);
 *   else throw error;
 * });
 * ```
 */
export class OwnershipError extends BundlehostError {
  /**
   * Creates the error.
   *
   * @param message Which name, who owns it, and how to grant it.
   */
  constructor(message: string) {
    super("FORBIDDEN", message);
  }

  /** Error class name. */
  override get name(): string {
    return "OwnershipError";
  }
}

/**
 * A release was refused for a reason other than the manifest: module graph vetting, files, ceiling.
 *
 * @example A bundle that imports outside its folder
 * ```ts
 * import { createEngine, ReleaseRefusedError } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.registry.release({ path: "./bundles/escapes" }).catch((error) => {
 *   if (!(error instanceof ReleaseRefusedError)) throw error;
 *   console.log(error.code, error.message); // RELEASE_REFUSED …
 * });
 * ```
 */
export class ReleaseRefusedError extends BundlehostError {
  /**
   * Creates the error.
   *
   * @param message Why the release is refused.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super("RELEASE_REFUSED", message, options);
  }

  /** Error class name. */
  override get name(): string {
    return "ReleaseRefusedError";
  }
}

/**
 * No bundle, version or service matches the request.
 *
 * @example No bundle provides the service
 * ```ts
 * import { createEngine, NotFoundError } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const reply = await engine.call("NoSuchService", "run", {}).catch((error) => {
 *   if (error instanceof NotFoundError) return undefined;
 *   throw error;
 * });
 * ```
 */
export class NotFoundError extends BundlehostError {
  /**
   * Creates the error.
   *
   * @param message What was not found.
   */
  constructor(message: string) {
    super("NOT_FOUND", message);
  }

  /** Error class name. */
  override get name(): string {
    return "NotFoundError";
  }
}

/**
 * The operation does not fit the bundle's lifecycle state (e.g. starting an uninstalled bundle).
 *
 * @example The engine is closed
 * ```ts
 * import { BundleStateError, createEngine } from "@bundlehost/sdk";
 *
 * const engine = await createEngine();
 * await engine.close();
 * try {
 *   await engine.call("HelloService", "greet", {});
 * } catch (error) {
 *   console.log(error instanceof BundleStateError); // true
 * }
 * ```
 */
export class BundleStateError extends BundlehostError {
  /**
   * Creates the error.
   *
   * @param message What was attempted and in which state.
   */
  constructor(message: string) {
    super("BAD_STATE", message);
  }

  /** Error class name. */
  override get name(): string {
    return "BundleStateError";
  }
}

/**
 * A bundle has no instance that can take the call right now (stopped, stopping, crash loop).
 *
 * @example Retry later when no instance can serve
 * ```ts
 * import { createEngine, UnavailableError } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const reply = await engine.call("HelloService", "greet", {}).catch(async (error) => {
 *   if (!(error instanceof UnavailableError)) throw error;
 *   await new Promise((resolve) => setTimeout(resolve, 1_000));
 *   return engine.call("HelloService", "greet", {});
 * });
 * ```
 */
export class UnavailableError extends BundlehostError {
  /**
   * Creates the error.
   *
   * @param message Why no instance can serve.
   * @param options Standard error options.
   */
  constructor(message: string, options?: ErrorOptions) {
    super("UNAVAILABLE", message, options);
  }

  /** Error class name. */
  override get name(): string {
    return "UnavailableError";
  }
}

/**
 * A call passed its deadline.
 *
 * @example A call with a 100 ms budget
 * ```ts
 * import { CallTimeoutError, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.call("SlowService", "work", {}, { timeoutMs: 100 }).catch((error) => {
 *   if (error instanceof CallTimeoutError) console.log("gave up:", error.message);
 *   else throw error;
 * });
 * ```
 */
export class CallTimeoutError extends BundlehostError {
  /**
   * Creates the error.
   *
   * @param message Which call timed out, after how long.
   */
  constructor(message: string) {
    super("TIMEOUT", message);
  }

  /** Error class name. */
  override get name(): string {
    return "CallTimeoutError";
  }
}

/**
 * The caller cancelled the call (e.g. the HTTP client went away) before it finished.
 *
 * @example Cancel a call with an AbortSignal
 * ```ts
 * import { CallCancelledError, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * const signal = AbortSignal.timeout(50);
 * await engine.call("SlowService", "work", {}, { signal }).catch((error) => {
 *   if (!(error instanceof CallCancelledError)) throw error;
 * });
 * ```
 */
export class CallCancelledError extends BundlehostError {
  /**
   * Creates the error.
   *
   * @param message Which call was cancelled.
   */
  constructor(message: string) {
    super("CANCELLED", message);
  }

  /** Error class name. */
  override get name(): string {
    return "CallCancelledError";
  }
}

/**
 * What a bundle threw, as it crossed the sandbox boundary: name, message and optional code only.
 *
 * @example Read what the bundle threw
 * ```ts
 * import { BundleCallError, type RemoteError } from "@bundlehost/sdk";
 *
 * const remote: RemoteError = { name: "RangeError", message: "No product \"x\"", code: "NO_SUCH_SKU" };
 * const error = new BundleCallError("catalog@1.0.0", remote);
 * console.log(error.message); // Bundle catalog@1.0.0 failed: RangeError: No product "x"
 * ```
 */
export interface RemoteError {
  /** Error name inside the bundle (e.g. `"TypeError"`). */
  name: string;
  /** Error message, truncated to a bounded length. */
  message: string;
  /** Optional application code the bundle set on the error. */
  code?: string;
}

/**
 * The bundle's own code threw or rejected; `remote` holds what it threw.
 *
 * @example Branch on the bundle's own error code
 * ```ts
 * import { BundleCallError, createEngine } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.call("CatalogService", "get", { sku: "x" }).catch((error) => {
 *   if (error instanceof BundleCallError && error.remote.code === "NO_SUCH_SKU") return null;
 *   throw error;
 * });
 * ```
 */
export class BundleCallError extends BundlehostError {
  /** The error as the bundle raised it. */
  readonly remote: RemoteError;
  /**
   * Where in the bundle it was raised, e.g. `mod.ts:3:9` (relative to the bundle folder for a
   * call's error), when its stack said so.
   */
  readonly at?: string;

  /**
   * Creates the error.
   *
   * @param bundle `id@version` of the bundle that threw.
   * @param remote The error it raised.
   * @param where `at`: where in the bundle it was raised; `inMessage`: name it in the message too
   * (a load failure, read by the author; a call's error keeps file names out of its message).
   */
  constructor(bundle: string, remote: RemoteError, where?: { at: string; inMessage?: boolean }) {
    const suffix = where?.inMessage ? ` (at ${where.at})` : "";
    super("BUNDLE_ERROR", `Bundle ${bundle} failed: ${remote.name}: ${remote.message}${suffix}`);
    this.remote = remote;
    if (where !== undefined) this.at = where.at;
  }

  /** Error class name. */
  override get name(): string {
    return "BundleCallError";
  }
}

/**
 * The instance serving a call died or stopped answering before it replied.
 *
 * @example The instance crashed mid-call
 * ```ts
 * import { createEngine, InstanceLostError } from "@bundlehost/sdk";
 *
 * await using engine = await createEngine();
 * await engine.call("FlakyService", "run", {}).catch((error) => {
 *   if (error instanceof InstanceLostError) console.log("crashed:", error.message);
 *   else throw error;
 * });
 * ```
 */
export class InstanceLostError extends BundlehostError {
  /**
   * Creates the error.
   *
   * @param message Which instance was lost and why.
   */
  constructor(message: string) {
    super("BUNDLE_CRASHED", message);
  }

  /** Error class name. */
  override get name(): string {
    return "InstanceLostError";
  }
}

/**
 * Wraps a non-Bundlehost failure with a code, so every error leaving the engine has one.
 *
 * @param error Anything thrown.
 * @returns The error itself when it is a {@linkcode BundlehostError}, or a wrapped one.
 */
export function asBundlehostError(error: unknown): BundlehostError {
  if (error instanceof BundlehostError) return error;
  if (error instanceof TypeError || error instanceof RangeError || error instanceof SyntaxError) {
    return new BundlehostError("BAD_INPUT", error.message, { cause: error });
  }
  const message = error instanceof Error ? error.message : String(error);
  return new BundlehostError("INTERNAL", message, { cause: error });
}
