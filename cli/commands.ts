/**
 * Every command of the CLI, in the order `help` lists them.
 *
 * @module
 */
import type { Command } from "./command.ts";
import { init } from "./init.ts";
import { release } from "./release.ts";
import { list } from "./list.ts";
import { status } from "./status.ts";
import { logs } from "./logs.ts";
import { start } from "./start.ts";
import { stop } from "./stop.ts";
import { remove } from "./delete.ts";
import { rollback } from "./rollback.ts";
import { traffic } from "./traffic.ts";
import { canary } from "./canary.ts";
import { events } from "./events.ts";
import { types } from "./types.ts";
import { config } from "./config.ts";
import { secrets } from "./secrets.ts";

/** The commands. */
export const COMMANDS: readonly Command[] = [
  init,
  release,
  list,
  status,
  logs,
  start,
  stop,
  remove,
  rollback,
  traffic,
  canary,
  events,
  types,
  config,
  secrets,
];
