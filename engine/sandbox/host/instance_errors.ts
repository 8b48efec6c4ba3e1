/**
 * The errors an instance fails its callers with, shaped in one place: a bundle's own error put in
 * the author's terms (base/author_terms.ts), the runtime's "no such method" with the methods the
 * service has, and the timeout and cancellation of a call. Only failure paths come here.
 *
 * @module
 */
import {
  BundleCallError,
  CallCancelledError,
  CallTimeoutError,
  NotFoundError,
} from "../../base/errors.ts";
import {
  type Audience,
  type BundleFolder,
  explainFault,
  listNames,
} from "../../base/author_terms.ts";
import type { WireBundleInfo, WireError } from "../wire/protocol.ts";
import type { ReadyInfo } from "./types.ts";

/**
 * The one place a bundle's error is put in the author's terms.
 *
 * @param wire The error as the guest sent it.
 * @param audience Who reads it: the author (status, load failures) or a caller.
 * @param bundle The instance's bundle.
 * @param folder The bundle's folders, when known.
 * @returns The error, naming `id@version`.
 */
export function bundleError(
  wire: WireError,
  audience: Audience,
  bundle: WireBundleInfo,
  folder: BundleFolder | undefined,
): BundleCallError {
  const explained = folder
    ? explainFault(wire, folder, audience, workingFolder())
    : { message: wire.message };
  return new BundleCallError(
    `${bundle.id}@${bundle.version}`,
    {
      name: wire.name,
      message: explained.message,
      ...(wire.code === undefined ? {} : { code: wire.code }),
    },
    explained.at === undefined ? undefined : { at: explained.at, inMessage: audience === "author" },
  );
}

/**
 * A failed answer to a call or hook: the runtime's "no such method" (with the methods the service
 * has, when the instance is ready), else the bundle's error.
 *
 * @param wire The error as the guest sent it.
 * @param audience Who reads it.
 * @param bundle The instance's bundle.
 * @param folder The bundle's folders, when known.
 * @param ready What the instance exposes, once ready.
 * @returns The error to reject with.
 */
export function remoteError(
  wire: WireError,
  audience: Audience,
  bundle: WireBundleInfo,
  folder: BundleFolder | undefined,
  ready: ReadyInfo | undefined,
): Error {
  if (wire.source === "runtime" && wire.code === "NOT_FOUND") {
    const service = /^Service (\S+) has no method "/.exec(wire.message)?.[1];
    const methods = service === undefined ? undefined : ready?.services[service];
    return new NotFoundError(
      methods ? `${wire.message} (methods: ${listNames(methods)})` : wire.message,
    );
  }
  return bundleError(wire, audience, bundle, folder);
}

/**
 * A call the caller gave up on.
 *
 * @param label The call, e.g. `Hello.greet` or `fetch GET`.
 * @param bundle The instance's bundle.
 * @returns The error.
 */
export function callCancelled(label: string, bundle: WireBundleInfo): CallCancelledError {
  return new CallCancelledError(
    `Call ${label} to ${bundle.id}@${bundle.version} was cancelled by the caller`,
  );
}

/**
 * A call whose deadline passed.
 *
 * @param label The call, e.g. `Hello.greet` or `fetch GET`.
 * @param bundle The instance's bundle.
 * @returns The error.
 */
export function callTimedOut(label: string, bundle: WireBundleInfo): CallTimeoutError {
  return new CallTimeoutError(`Call ${label} to ${bundle.id}@${bundle.version} timed out`);
}

/**
 * `Name: message (at mod.ts:3:9)` of a bundle's error.
 *
 * @param error The bundle's error.
 * @returns One line for a kill reason.
 */
export function describeBundleError(error: BundleCallError): string {
  const at = error.at === undefined ? "" : ` (at ${error.at})`;
  return `${error.remote.name}: ${error.remote.message}${at}`;
}

/** The sandboxes' working folder (the engine's), where relative paths resolve. */
function workingFolder(): string | undefined {
  try {
    return Deno.cwd();
  } catch {
    return undefined;
  }
}
