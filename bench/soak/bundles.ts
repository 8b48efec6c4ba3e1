/**
 * The soak benchmark's bundles, written into a folder the engine may read: two well-behaved
 * bundles (each its own id and service, one per isolation tier) in as many versions as the
 * release driver asks for, and the hostile bundle (`hostile_bundle/`).
 *
 * @module
 */

/** The hostile bundle's folder (process tier, see its `mod.ts`). */
export const HOSTILE_BUNDLE: string = new URL("./hostile_bundle", import.meta.url).pathname;
/** The hostile bundle's id and service. */
export const HOSTILE = { id: "soak-hostile", service: "SoakHostile" } as const;

/** A well-behaved bundle of the soak. */
export interface GoodBundle {
  /** Bundle id. */
  id: string;
  /** The one service it provides (its method `echo` answers at once). */
  service: string;
  /** Isolation tier. */
  isolation: "worker" | "process";
}

/** The two well-behaved bundles: one per tier, so both tiers' neighbours are measured. */
export const GOOD_BUNDLES: readonly GoodBundle[] = [
  { id: "soak-a", service: "SoakA", isolation: "worker" },
  { id: "soak-b", service: "SoakB", isolation: "process" },
];

/**
 * Writes one version of a well-behaved bundle: `echo` returns its input's `n` and the version
 * that served it (so a release or rollback shows in the replies).
 *
 * @param dir Parent folder (readable by the engine).
 * @param bundle Which bundle.
 * @param version Its version.
 * @returns The bundle folder.
 */
export async function writeGoodBundle(
  dir: string,
  bundle: GoodBundle,
  version: string,
): Promise<string> {
  const folder = `${dir}/${bundle.id}-${version}`;
  await Deno.mkdir(folder, { recursive: true });
  const manifest = {
    id: bundle.id,
    version,
    entry: "./mod.ts",
    services: { [bundle.service]: "1.0.0" },
    isolation: bundle.isolation,
  };
  await Deno.writeTextFile(`${folder}/bundle.json`, JSON.stringify(manifest, null, 2));
  await Deno.writeTextFile(
    `${folder}/mod.ts`,
    `export default {
  services: {
    ${bundle.service}: {
      echo: (input) => ({ n: input?.n ?? 0, v: ${JSON.stringify(version)} }),
    },
  },
};
`,
  );
  return folder;
}

/**
 * Copies the hostile bundle into `dir` (the engine may read only the project and the soak's
 * own folder; the copy keeps the release independent of later edits to the fixture).
 *
 * @param dir Parent folder.
 * @returns The bundle folder.
 */
export async function writeHostileBundle(dir: string): Promise<string> {
  const folder = `${dir}/${HOSTILE.id}`;
  await Deno.mkdir(folder, { recursive: true });
  for (const name of ["bundle.json", "mod.ts"]) {
    await Deno.copyFile(`${HOSTILE_BUNDLE}/${name}`, `${folder}/${name}`);
  }
  return folder;
}
