/**
 * The event fields of `bundle.json` (`subscribe`, `schedule`, `eventMaps`): their types, and zod
 * schemas for `manifest.ts`. A string shorthand (`"topic": "Service.method"`, `"topic": [steps]`)
 * is expanded to the object form before validation, so every refusal names the exact field.
 *
 * @module
 */
import { z } from "zod";
import { cronProblem, isTimeZone } from "./cron.ts";
import { topicProblem } from "../base/topic.ts";

/** `Service.method`: a service name, a dot, a method name (the method is after the last dot). */
export const HANDLER_PATTERN: RegExp =
  /^[A-Za-z][A-Za-z0-9_.]{0,127}\.[A-Za-z_$][A-Za-z0-9_$]{0,127}$/;

/**
 * Splits `Service.method` at its last dot.
 *
 * @param handler A string matching {@linkcode HANDLER_PATTERN}.
 * @returns Service and method.
 */
export function splitHandler(handler: string): { service: string; method: string } {
  const dot = handler.lastIndexOf(".");
  return { service: handler.slice(0, dot), method: handler.slice(dot + 1) };
}

/** `subscribe` entry of `bundle.json`: `"topic": "Service.method"` or this object. */
export interface ManifestSubscription {
  /** `Service.method` of this bundle that receives the `EventEnvelope`. */
  handler: string;
  /** Attempts before dead-lettering. @default {the engine's `events.maxAttempts` (5)} */
  maxAttempts?: number;
  /** Time allowed per attempt, ms. @default {the engine's `events.timeoutMs` (30000)} */
  timeoutMs?: number;
}

/** What a schedule does about slots that passed while it was not armed. */
export type MissedRunPolicy = "once" | "skip";

/** `schedule` entry of `bundle.json`: `"<cron>": "Service.method"` or this object. */
export interface ManifestSchedule {
  /** `Service.method` of this bundle that receives the `EventEnvelope`. */
  handler: string;
  /** IANA time zone the expression is read in. @default {"UTC"} */
  timezone: string;
  /** `"once"`: fire the latest missed slot once; `"skip"`: never fire missed slots. @default {"once"} */
  missed: MissedRunPolicy;
  /** Attempts before dead-lettering. @default {the engine's `events.maxAttempts`} */
  maxAttempts?: number;
  /** Time allowed per attempt, ms. @default {the engine's `events.timeoutMs`} */
  timeoutMs?: number;
}

/** What an event map does when a step fails. */
export type StepErrorPolicy = "stop" | "skip" | "degrade";

/** One step of an event map. */
export interface EventMapStep {
  /** `Service.method` called with the previous step's output (the event payload for step 0). */
  call: string;
  /**
   * `stop`: the chain ends and the delivery fails (retried from this step, then dead-lettered);
   * `skip`: the next step gets this step's input; `degrade`: a mock serves if everything else
   * fails, then `fallback` is tried, and if nothing serves the next step gets this step's input.
   * @default {"stop"}
   */
  onError: StepErrorPolicy;
  /** `Service.method` tried with the same input when a `degrade` step fails. */
  fallback?: string;
}

/** `eventMaps` entry of `bundle.json`: a list of steps, or this object. */
export interface ManifestEventMap {
  /** Steps, run in order. */
  steps: EventMapStep[];
  /** Attempts before dead-lettering. @default {the engine's `events.maxAttempts`} */
  maxAttempts?: number;
  /** Time allowed per step, ms. @default {the engine's `events.timeoutMs`} */
  timeoutMs?: number;
}

const handler = z.string().max(257).regex(HANDLER_PATTERN, {
  message: 'must be "Service.method"',
});
const maxAttempts = z.number().int().min(1).max(100).optional();
const timeoutMs = z.number().int().min(1).max(600_000).optional();
const topicKey = z.string().refine((t) => topicProblem(t) === undefined, {
  message:
    'is not a valid topic (1-128 of a-z 0-9 . _ -, starting with a letter or digit, not "bundlehost.")',
});
const expand = (key: string) => (v: unknown) => typeof v === "string" ? { [key]: v } : v;

const shorthands = new Map<object, z.ZodType>();
function withShorthand<T extends z.ZodType>(schema: T, shorthand: z.ZodType): T {
  shorthands.set(schema, shorthand);
  return schema;
}

/**
 * Each entry schema that expands a shorthand before validation, with the shorthand it accepts
 * (`"Service.method"`, a list of steps): the generated JSON Schema offers both forms.
 */
export const SHORTHAND_FORMS: ReadonlyMap<object, z.ZodType> = shorthands;

/** `subscribe`: topic → `"Service.method"` or `{ handler, maxAttempts?, timeoutMs? }`. */
export const SUBSCRIBE_FIELD = z.record(
  topicKey,
  withShorthand(
    z.preprocess(expand("handler"), z.strictObject({ handler, maxAttempts, timeoutMs })),
    handler,
  ),
).refine((v) => Object.keys(v).length <= 64, { message: "declares more than 64 topics" })
  .default({});

/** `schedule`: cron expression → `"Service.method"` or `{ handler, timezone?, missed?, … }`. */
export const SCHEDULE_FIELD = z.record(
  z.string().superRefine((expression, ctx) => {
    const problem = cronProblem(expression);
    if (problem) ctx.addIssue({ code: "custom", message: problem });
  }),
  withShorthand(
    z.preprocess(
      expand("handler"),
      z.strictObject({
        handler,
        timezone: z.string().max(64).refine(isTimeZone, {
          message: "is not a known IANA time zone",
        }).default("UTC"),
        missed: z.enum(["once", "skip"]).default("once"),
        maxAttempts,
        timeoutMs,
      }),
    ),
    handler,
  ),
).refine((v) => Object.keys(v).length <= 32, { message: "declares more than 32 schedules" })
  .default({});

const step = z.strictObject({
  call: handler,
  onError: z.enum(["stop", "skip", "degrade"]).default("stop"),
  fallback: handler.optional(),
}).refine((s) => s.fallback === undefined || s.onError === "degrade", {
  message: 'is only used with "onError": "degrade"',
  path: ["fallback"],
});

const steps = z.array(step).min(1, { message: "must list at least one step" }).max(32);

/** `eventMaps`: topic → steps, or `{ steps, maxAttempts?, timeoutMs? }`. */
export const EVENT_MAPS_FIELD = z.record(
  topicKey,
  withShorthand(
    z.preprocess(
      (v) => Array.isArray(v) ? { steps: v } : v,
      z.strictObject({ steps, maxAttempts, timeoutMs }),
    ),
    steps,
  ),
).refine((v) => Object.keys(v).length <= 32, { message: "declares more than 32 event maps" })
  .default({});

/** One problem found by {@linkcode eventHandlerIssues}. */
export interface EventFieldIssue {
  /** Path of the field. */
  path: string[];
  /** Why. */
  message: string;
}

/**
 * Subscription and schedule handlers run in the bundle itself, so their service must be one it
 * declares (event map steps may call any bundle's service).
 *
 * @param manifest The parsed `services`, `subscribe` and `schedule` fields.
 * @returns One issue per handler naming an undeclared service.
 */
export function eventHandlerIssues(manifest: {
  services: Record<string, string>;
  subscribe: Record<string, { handler: string }>;
  schedule: Record<string, { handler: string }>;
}): EventFieldIssue[] {
  const issues: EventFieldIssue[] = [];
  for (const field of ["subscribe", "schedule"] as const) {
    for (const [key, entry] of Object.entries(manifest[field])) {
      const { service } = splitHandler(entry.handler);
      if (!Object.hasOwn(manifest.services, service)) {
        issues.push({
          path: [field, key, "handler"],
          message: `names service "${service}", which this bundle does not declare in "services"`,
        });
      }
    }
  }
  return issues;
}
