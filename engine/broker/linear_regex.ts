/**
 * Route patterns (`REG`) compiled for V8's linear-time regular expression engine, so a pattern from
 * outside (an HTTP header, a bundle's broker call, a rules document) can never make the engine's
 * main thread backtrack. V8's default engine backtracks on the calling thread: `(a+)+$` against a
 * few dozen characters takes seconds. With `--v8-flags=--enable-experimental-regexp-engine` the
 * `l` flag compiles a pattern to an automaton whose run time is linear in the input; a pattern it
 * cannot run that way (backreferences, lookaheads, large nested counted repetitions) is refused.
 * Without the V8 flag nothing falls back to backtracking: every `REG` pattern is refused, and
 * `main.ts` refuses to start.
 *
 * @module
 */

/** The V8 flag that enables linear-time regular expressions (the `l` flag). */
export const LINEAR_REGEXP_V8_FLAG = "--enable-experimental-regexp-engine";

/** Longest `REG` route pattern accepted, characters. */
export const MAX_ROUTE_PATTERN = 256;

/** The flag of linear-time expressions (a variable: linters reject the literal as unknown). */
const LINEAR = "l";

/** Compiled patterns, bounded so hostile headers cannot grow it (oldest out first). */
const cache = new Map<string, RegExp>();
const CACHE_SIZE = 256;

/**
 * Whether this process can compile linear-time regular expressions (the V8 flag is on).
 *
 * @returns `true` when `new RegExp(source, "l")` is supported.
 */
export function linearRegExpAvailable(): boolean {
  try {
    new RegExp("", LINEAR);
    return true;
  } catch {
    return false;
  }
}

/**
 * Compiles a route pattern for the linear-time engine.
 *
 * @param source The pattern as given.
 * @returns The compiled expression (cached).
 * @throws {TypeError} Saying why the pattern cannot run safely: too long, invalid, not linear
 *   (backreferences, lookaheads), or linear-time expressions unavailable in this process.
 */
export function compileLinearRegExp(source: string): RegExp {
  const cached = cache.get(source);
  if (cached) return cached;
  if (source.length > MAX_ROUTE_PATTERN) {
    throw new TypeError(`Route pattern is longer than ${MAX_ROUTE_PATTERN} characters`);
  }
  if (!linearRegExpAvailable()) {
    throw new TypeError(
      `Route patterns are disabled: the engine runs without --v8-flags=${LINEAR_REGEXP_V8_FLAG}`,
    );
  }
  let regex: RegExp;
  try {
    regex = new RegExp(source, LINEAR);
  } catch (error) {
    const message = (error as Error).message;
    throw new TypeError(
      message.includes("linear time")
        ? `Route pattern cannot run in linear time (backreferences, lookaheads and large nested ` +
          `repetitions are refused): /${source}/`
        : `Route pattern is not a valid regular expression: ${message}`,
    );
  }
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(source, regex);
  return regex;
}

/** Match results per compiled pattern and bundle id (ids are few: only installed bundles). */
const results = new WeakMap<RegExp, Map<string, boolean>>();
const RESULTS_PER_PATTERN = 4096;

/**
 * Whether a bundle id matches a compiled route pattern, remembered per pattern: the linear-time
 * engine interprets its automaton (a 256-character pattern costs up to ~0.8 ms per id here), so a
 * pattern used again, as a rules route is on every call, costs a map lookup.
 *
 * @param regex A pattern from {@linkcode compileLinearRegExp}.
 * @param id Bundle id.
 * @returns `true` when the id matches.
 */
export function matchesId(regex: RegExp, id: string): boolean {
  let memo = results.get(regex);
  if (!memo) results.set(regex, memo = new Map());
  let matched = memo.get(id);
  if (matched === undefined) {
    matched = regex.test(id);
    if (memo.size < RESULTS_PER_PATTERN) memo.set(id, matched);
  }
  return matched;
}
