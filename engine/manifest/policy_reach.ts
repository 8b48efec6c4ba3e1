/**
 * A ceiling can only promise what the engine itself holds: a worker cannot be granted more than
 * its parent, and a process-tier child would get it from flags the engine writes. So every ceiling
 * entry is checked against the engine's own `--allow-*` flags at start, and a ceiling that grants
 * more is refused naming the entry — never a failure at release time.
 *
 * @module
 */
import { PolicyError } from "../base/errors.ts";
import { PERMISSION_KINDS, type PermissionCeiling, type PermissionKind } from "./permissions.ts";

function descriptor(
  kind: PermissionKind,
  entry: string,
  dataDir: string,
): Deno.PermissionDescriptor {
  switch (kind) {
    case "read":
    case "write":
    case "ffi":
      return {
        name: kind,
        path: entry.replaceAll("{bundle}", `${dataDir}/releases`).replaceAll(
          "{data}",
          `${dataDir}/data`,
        ),
      };
    case "net":
    case "import":
      return entry === "*" ? { name: kind } : { name: kind, host: entry };
    case "env":
      return entry === "*" ? { name: "env" } : { name: "env", variable: entry };
    case "sys":
      return entry === "*"
        ? { name: "sys" }
        : { name: "sys", kind: entry as Deno.SysPermissionDescriptor["kind"] };
    case "run":
      return { name: "run", command: entry };
  }
}

/**
 * Refuses a ceiling that grants more than the engine's own permissions. `{bundle}` and `{data}`
 * stand for the release and data folders under `dataDir`.
 *
 * @param ceiling The ceiling (the operator policy's permission kinds).
 * @param dataDir The engine's data folder (absolute).
 * @throws {PolicyError} Naming the first entry the engine does not hold, e.g. `net[0]`.
 *
 * @example An engine without --allow-net cannot grant net access
 * ```ts ignore
 * assertCeilingWithinEngine({ ...DEFAULT_CEILING, net: ["example.com"] }, "/srv/.bundlehost");
 * // PolicyError: The permission ceiling grants net "example.com" (field "net[0]"), which the engine itself does not hold: …
 * ```
 */
export function assertCeilingWithinEngine(ceiling: PermissionCeiling, dataDir: string): void {
  for (const kind of PERMISSION_KINDS) {
    ceiling[kind].forEach((entry, i) => {
      let state: Deno.PermissionState;
      try {
        state = Deno.permissions.querySync(descriptor(kind, entry, dataDir)).state;
      } catch (error) {
        throw new PolicyError(
          `${kind}[${i}]`,
          `The permission ceiling entry ${kind} "${entry}" (field "${kind}[${i}]") is invalid: ${
            (error as Error).message
          }`,
        );
      }
      if (state !== "granted") {
        throw new PolicyError(
          `${kind}[${i}]`,
          `The permission ceiling grants ${kind} "${entry}" (field "${kind}[${i}]"), which the engine itself does not hold: start the engine with --allow-${kind} covering it, or remove it from the ceiling`,
        );
      }
    });
  }
}
