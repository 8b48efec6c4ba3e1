/**
 * One delivery attempt: finds what the subscriber's current release says to run for it (its
 * subscription handler, its schedule handler, or its event map) and runs it through the engine's
 * `invoke`, so the broker routes it (to the subscriber by `ID` route; map steps by their own
 * routes), degrades it, breaks circuits and plugins trace it under the publisher's trace context.
 *
 * @module
 */
import { type BundleEntry, currentRevision, servingRevision } from "../broker/router.ts";
import { NotFoundError, UnavailableError } from "../base/errors.ts";
import type { Manifest } from "../manifest/manifest.ts";
import type { CallOutcome, CallRequest } from "../call/request.ts";
import type { EventEnvelope, RouteSpec } from "../sdk/types.ts";
import { runEventMap } from "./event_map.ts";
import { splitHandler } from "../manifest/events_schema.ts";
import { payloadJson } from "../base/topic.ts";
import type { DeliveryRecord, EventRecord, MapProgress } from "../store/event_records.ts";

/** A bundle as the bus sees it: its current version's manifest and whether that version serves. */
export interface BusBundle {
  /** Bundle id. */
  id: string;
  /** Current version. */
  version: string;
  /** That version's manifest. */
  manifest: Manifest;
  /** Whether it is ACTIVE (subscribers and schedules come from ACTIVE bundles only). */
  active: boolean;
}

/**
 * How the bus sees one of the engine's bundles: by its current version.
 *
 * @param entry The engine's entry for the bundle id.
 * @returns The view, or `undefined` when no version is current.
 */
export function busBundle(entry: BundleEntry): BusBundle | undefined {
  const revision = currentRevision(entry);
  if (!revision) return undefined;
  return {
    id: entry.id,
    version: revision.version,
    manifest: revision.manifest,
    active: servingRevision(entry) !== undefined,
  };
}

/** What a delivery attempt needs from the engine. */
export interface DeliveryHost {
  /** A bundle, when installed. */
  bundle(id: string): BusBundle | undefined;
  /** Makes a call through the engine's call path (plugins, broker). */
  invoke(call: CallRequest): Promise<CallOutcome>;
}

/** A delivery that cannot succeed as things stand (its subscription is gone): dead-lettered at once. */
export class PermanentDeliveryError extends NotFoundError {
  /** Error class name. */
  override get name(): string {
    return "PermanentDeliveryError";
  }
}

/** One attempt to run. */
export interface DeliveryAttempt {
  /** The delivery, already claimed (its `attempts` counts this attempt). */
  delivery: DeliveryRecord;
  /** Its event. */
  event: EventRecord;
  /** Saves an event map's progress durably. */
  checkpoint(progress: MapProgress): Promise<void>;
}

/** What a successful attempt reports. */
export interface AttemptResult {
  /** `id@version` that served (for a map: of its last step that served). */
  bundle?: string;
  /** Degradation reason, when a fallback served. */
  degraded?: string;
}

function entryOf<T>(record: Record<string, T>, key: string): T | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}

/**
 * Runs one attempt of a delivery.
 *
 * @param host The engine side.
 * @param attempt The claimed delivery, its event, and how to save a map's progress.
 * @returns Who served.
 * @throws {PermanentDeliveryError} When the subscriber's release no longer declares it.
 * @throws {UnavailableError} When the subscriber bundle is not installed.
 * @throws Whatever the call (or a `stop` step) failed with.
 */
export async function attemptDelivery(
  host: DeliveryHost,
  attempt: DeliveryAttempt,
): Promise<AttemptResult> {
  const { delivery, event, checkpoint } = attempt;
  const bundle = host.bundle(delivery.bundle);
  if (!bundle) throw new UnavailableError(`Bundle ${delivery.bundle} is not installed`);
  const call = (service: string, method: string, input: unknown, route?: RouteSpec) => {
    const c: CallRequest = {
      service,
      method,
      input,
      timeoutMs: delivery.timeoutMs,
      hops: event.hops,
    };
    if (route) c.route = route;
    if (event.traceparent !== undefined) {
      c.traceparent = event.traceparent;
      if (event.tracestate !== undefined) c.tracestate = event.tracestate;
    }
    return host.invoke(c);
  };
  const label = `${bundle.id}@${bundle.version}`;
  if (delivery.kind === "map") {
    const map = entryOf(bundle.manifest.eventMaps, delivery.key);
    if (!map) throw new PermanentDeliveryError(`${label} has no event map for "${delivery.key}"`);
    const progress = delivery.progress?.version === bundle.version ? delivery.progress : undefined;
    const run = await runEventMap(map.steps, event.payload, {
      invoke: call,
      ...(progress ? { start: { step: progress.step, input: progress.input } } : {}),
      async checkpoint(step, input) {
        try {
          payloadJson(input);
        } catch {
          return; // Too large (or not JSON) to keep: a retry resumes at the previous checkpoint.
        }
        await checkpoint({ version: bundle.version, step, input });
      },
    });
    const served = run.steps.findLast((s) => s.bundle !== undefined);
    const degraded = run.steps.find((s) => s.status !== "ok");
    const result: AttemptResult = {};
    if (served?.bundle) result.bundle = served.bundle;
    if (degraded) result.degraded = degraded.degraded ?? degraded.status;
    return result;
  }
  const entry = delivery.kind === "subscription"
    ? entryOf(bundle.manifest.subscribe, delivery.key)
    : entryOf(bundle.manifest.schedule, delivery.key);
  if (!entry) {
    throw new PermanentDeliveryError(
      delivery.kind === "subscription"
        ? `${label} no longer subscribes to "${delivery.key}"`
        : `${label} no longer has the schedule "${delivery.key}"`,
    );
  }
  const { service, method } = splitHandler(entry.handler);
  const envelope: EventEnvelope = {
    id: event.id,
    topic: event.topic,
    payload: event.payload,
    publishedAt: new Date(event.publishedAt).toISOString(),
    attempt: delivery.attempts,
  };
  const outcome = await call(service, method, envelope, { type: "ID", pattern: delivery.bundle });
  return outcome.degraded === undefined
    ? { bundle: outcome.bundle }
    : { bundle: outcome.bundle, degraded: outcome.degraded };
}
