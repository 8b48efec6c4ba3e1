/**
 * Cron expressions, read by `croner` (a well-kept, dependency-free npm library): five fields
 * (minute hour day-of-month month day-of-week), six with leading seconds, or a nickname such as
 * `@daily`. Slots are computed from times given by the caller, so a test clock drives them.
 *
 * @module
 */
import { Cron } from "croner";

const SHAPE = /^(@(yearly|annually|monthly|weekly|daily|hourly)|\S+( \S+){4,5})$/;

/**
 * Why a cron expression or time zone is refused.
 *
 * @param expression The expression.
 * @param timezone IANA time zone. @default {"UTC"}
 * @returns The reason, or `undefined` when it is usable.
 */
export function cronProblem(expression: string, timezone = "UTC"): string | undefined {
  if (expression.length > 128 || !SHAPE.test(expression)) {
    return "must be a cron expression of 5 or 6 space-separated fields, or @hourly, @daily, @weekly, @monthly, @yearly";
  }
  try {
    const cron = new Cron(expression, { paused: true, timezone });
    if (cron.nextRun() === null) return "never fires";
  } catch (error) {
    return `is not a valid cron expression (${(error as Error).message})`;
  }
  return undefined;
}

/**
 * Whether a string is an IANA time zone this runtime knows.
 *
 * @param timezone The name, e.g. `"Europe/Berlin"`.
 * @returns `true` when known.
 */
export function isTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat("en", { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/** The slots of one cron expression in one time zone. */
export class CronSlots {
  readonly #cron: Cron;

  /**
   * Parses the expression.
   *
   * @param expression Cron expression.
   * @param timezone IANA time zone. @default {"UTC"}
   * @throws {TypeError} For an expression croner refuses.
   */
  constructor(expression: string, timezone = "UTC") {
    try {
      this.#cron = new Cron(expression, { paused: true, timezone });
    } catch (error) {
      throw new TypeError(`Invalid cron expression "${expression}": ${(error as Error).message}`);
    }
  }

  /**
   * The first slot strictly after `time`.
   *
   * @param time Epoch ms.
   * @returns Epoch ms, or `undefined` when it never fires again.
   */
  next(time: number): number | undefined {
    return this.#cron.nextRun(new Date(time))?.getTime();
  }

  /**
   * The latest slot at or before `time`.
   *
   * @param time Epoch ms.
   * @returns Epoch ms, or `undefined` when there is none.
   */
  latest(time: number): number | undefined {
    return this.#cron.previousRuns(1, new Date(time + 1))[0]?.getTime();
  }
}
