/**
 * `deno task cli <command>`: the operator's and the bundle author's CLI. It talks to the engine
 * only over the admin API (HTTP); `init` scaffolds a bundle folder and needs no engine.
 * `deno task cli help` lists the commands, `deno task cli <command> --help` explains one; the
 * README's "CLI" section documents all of them.
 *
 * Exit codes: 0 success, 1 the engine refused the request (4xx/5xx) or a watched canary rolled
 * back, 2 usage error, 3 no token or the engine could not be reached.
 *
 * @module
 */
export { main } from "./cli/main.ts";
export { EXIT } from "./cli/context.ts";
import { main } from "./cli/main.ts";

if (import.meta.main) Deno.exit(await main(Deno.args));
