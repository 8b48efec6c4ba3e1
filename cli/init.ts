/**
 * `init <id> [folder]`: scaffolds a bundle folder that releases as it is: `bundle.json`, `mod.ts`,
 * `mod_test.ts` and `deno.json`.
 *
 * @module
 */
import { relative, resolve } from "node:path";
import type { Command } from "./command.ts";
import { CliError, EXIT } from "./context.ts";
import {
  denoJsonText,
  manifestText,
  moduleText,
  publishedSdk,
  serviceName,
  testText,
} from "./init_templates.ts";

/** Valid bundle ids, as the engine's manifest validator has them (a test keeps the two equal). */
export const BUNDLE_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

/**
 * Maps each SDK entry to a file of a local checkout, relative to the new folder.
 *
 * @param sdk The checkout's folder (holding the SDK's `deno.json`).
 * @param target The new bundle folder.
 * @returns Entry → import specifier.
 */
async function localSdk(sdk: string, target: string): Promise<(entry: string) => string> {
  let exports: Record<string, string>;
  try {
    const config = JSON.parse(await Deno.readTextFile(`${sdk}/deno.json`));
    if (config?.name !== "@bundlehost/sdk") throw new Error(`its name is not "@bundlehost/sdk"`);
    exports = config.exports;
  } catch (error) {
    throw new CliError(
      `--sdk ${sdk} is not a checkout of @bundlehost/sdk: ${(error as Error).message}`,
      EXIT.usage,
    );
  }
  for (const entry of ["bundle", "testing"]) {
    if (typeof exports?.[`./${entry}`] !== "string") {
      throw new CliError(`--sdk ${sdk}: its deno.json exports no "./${entry}"`, EXIT.usage);
    }
  }
  return (entry) => {
    const path = relative(resolve(target), resolve(sdk, exports[`./${entry}`]!));
    return path.startsWith(".") ? path : `./${path}`;
  };
}

async function isEmptyOrMissing(folder: string): Promise<boolean> {
  try {
    const info = await Deno.stat(folder);
    if (!info.isDirectory) {
      throw new CliError(`Cannot create ${folder}: a file of that name exists`, EXIT.usage);
    }
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return true;
    throw error;
  }
  for await (const _ of Deno.readDir(folder)) return false;
  return true;
}

/** The `init` command. */
export const init: Command = {
  name: "init",
  args: "<id> [folder]",
  summary: "scaffold a bundle folder (bundle.json, mod.ts, mod_test.ts, deno.json)",
  details: [
    "Creates [folder] (default: <id>) with a bundle that releases as it is. An existing non-empty",
    "folder is refused. deno.json maps @bundlehost/sdk/bundle and /testing to the published",
    "package, or with --sdk to a local checkout. Needs no engine.",
  ].join("\n"),
  flags: {
    sdk: {
      type: "string",
      value: "<folder>",
      description: "map the SDK imports to this local checkout instead of the published package",
    },
  },
  async run({ positionals, flags }) {
    const [id, folderArg] = positionals;
    if (id === undefined) throw new CliError("Missing a bundle id", EXIT.usage);
    if (!BUNDLE_ID.test(id)) {
      throw new CliError(
        `Invalid bundle id "${id}": use 1 to 63 lower-case letters, digits and dashes, starting with a letter or digit`,
        EXIT.usage,
      );
    }
    if (positionals.length > 2) {
      throw new CliError(
        `Unexpected argument "${positionals[2]}": init takes <id> [folder]`,
        EXIT.usage,
      );
    }
    const folder = folderArg ?? id;
    const sdk = typeof flags.sdk === "string" ? await localSdk(flags.sdk, folder) : publishedSdk;
    try {
      if (!await isEmptyOrMissing(folder)) {
        throw new CliError(`Refusing to overwrite ${folder}: the folder is not empty`, EXIT.usage);
      }
      await Deno.mkdir(folder, { recursive: true });
      const files: [string, string][] = [
        ["bundle.json", manifestText(id)],
        ["mod.ts", moduleText(id)],
        ["mod_test.ts", testText(id)],
        ["deno.json", denoJsonText(sdk)],
      ];
      // createNew: a file that appeared meanwhile is never overwritten.
      for (const [name, text] of files) {
        await Deno.writeTextFile(`${folder}/${name}`, text, { createNew: true });
      }
      return {
        data: { id, folder, files: files.map(([name]) => name), service: serviceName(id) },
        human: [
          `Created ${folder}/ with ${files.map(([name]) => name).join(", ")}`,
          "",
          `  deno task cli release ${folder}     release it to the engine`,
          `  cd ${folder} && deno task test      run its test in a real sandbox`,
        ].join("\n"),
      };
    } catch (error) {
      if (error instanceof CliError) throw error;
      if (
        error instanceof Deno.errors.NotCapable || error instanceof Deno.errors.PermissionDenied
      ) {
        throw new CliError(
          `Cannot write ${folder}: the CLI may write only under the current folder (${
            (error as Error).message
          })`,
          EXIT.usage,
        );
      }
      if (error instanceof Deno.errors.AlreadyExists) {
        throw new CliError(
          `Refusing to overwrite ${folder}: ${(error as Error).message}`,
          EXIT.usage,
        );
      }
      throw new CliError(`Cannot create ${folder}: ${(error as Error).message}`, EXIT.usage);
    }
  },
};
