/**
 * What the guest runtime reads from a bundle's default export: the definition's shape is checked
 * before anything of it runs, and each service's methods are collected once, at load.
 *
 * @module
 */
import type { HookName } from "../wire/protocol.ts";
import type { BundleContext } from "../../sdk/types.ts";

/** The lifecycle hooks a definition may have, in the order the engine runs them. */
export const HOOK_NAMES: readonly HookName[] = ["onStart", "onStop", "onRefresh", "onRetire"];

/** A method name a call may name: an identifier of at most 128 characters. */
const METHOD_NAME = /^[A-Za-z_$][A-Za-z0-9_$]{0,127}$/;

/** A service method as the runtime calls it. */
export type Method = (this: unknown, input: unknown, ctx: BundleContext) => unknown;

/** One service of the loaded bundle: its object and the methods a call may name. */
export interface ServiceEntry {
  /** The service object (`this` of its methods). */
  target: object;
  /** Its methods by name. */
  methods: Map<string, Method>;
}

/**
 * Methods of a service object or class instance, own and inherited, never `Object.prototype`'s.
 *
 * @param target The service object.
 * @returns Its methods by name.
 */
export function collectMethods(target: object): Map<string, Method> {
  const methods = new Map<string, Method>();
  let proto: object | null = target;
  while (proto !== null && proto !== Object.prototype && proto !== Function.prototype) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === "constructor" || methods.has(key) || !METHOD_NAME.test(key)) continue;
      const descriptor = Object.getOwnPropertyDescriptor(proto, key);
      if (typeof descriptor?.value === "function") methods.set(key, descriptor.value as Method);
    }
    proto = Object.getPrototypeOf(proto);
  }
  return methods;
}

/**
 * What is wrong with a default export as a bundle definition.
 *
 * @param def The entry module's default export.
 * @returns The problem, or `undefined` when it is a definition.
 */
export function describeDefinitionError(def: unknown): string | undefined {
  if (typeof def !== "object" || def === null) {
    return "the entry module must default-export a bundle definition object";
  }
  const d = def as Record<string, unknown>;
  if (d.services !== undefined && (typeof d.services !== "object" || d.services === null)) {
    return '"services" must be an object';
  }
  for (const [name, impl] of Object.entries((d.services ?? {}) as object)) {
    if (typeof impl !== "object" || impl === null) return `service "${name}" must be an object`;
  }
  if (d.fetch !== undefined && typeof d.fetch !== "function") return '"fetch" must be a function';
  if (d.hooks !== undefined && (typeof d.hooks !== "object" || d.hooks === null)) {
    return '"hooks" must be an object';
  }
  for (const [name, hook] of Object.entries((d.hooks ?? {}) as object)) {
    if (!HOOK_NAMES.includes(name as HookName)) return `unknown hook "${name}"`;
    if (typeof hook !== "function") return `hook "${name}" must be a function`;
  }
  return undefined;
}
