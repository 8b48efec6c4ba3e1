/**
 * What every CLI command shares: exit codes, the usage/engine error, and the terminal the CLI
 * talks to ({@linkcode CliIo}), injectable so tests drive prompts, output and time.
 *
 * @module
 */
import { type Clock, systemClock } from "../engine/base/clock.ts";

/** Exit codes scripts can rely on. */
export const EXIT = { ok: 0, refused: 1, usage: 2, unreachable: 3 } as const;

/** One of {@linkcode EXIT}'s codes. */
export type ExitCode = typeof EXIT[keyof typeof EXIT];

/** A failure the CLI reports as one message and an exit code (never a stack trace). */
export class CliError extends Error {
  /**
   * @param message What went wrong, for the user.
   * @param exitCode The exit code to end with.
   */
  constructor(message: string, readonly exitCode: ExitCode) {
    super(message);
    this.name = "CliError";
  }
}

/** The terminal: output, the user's answers, and time (for `--watch`, `--follow`). */
export interface CliIo {
  /** Writes one line of normal output. */
  out(line: string): void;
  /** Writes one line of diagnostics. */
  err(line: string): void;
  /** True when a person can answer a prompt (stdin is a terminal). */
  interactive: boolean;
  /** Asks a question; resolves to the answer, or `null` when input ended. */
  ask(question: string): Promise<string | null>;
  /** Reads all of standard input (bounded), for values that must not be arguments (a secret). */
  readInput?(maxBytes: number): Promise<string>;
  /** Clock for polling. */
  clock: Clock;
}

/** The real terminal: stdout, stderr, stdin, the system clock. */
export const systemIo: CliIo = {
  out: (line) => console.log(line),
  err: (line) => console.error(line),
  get interactive() {
    return Deno.stdin.isTerminal();
  },
  ask: (question) => Promise.resolve(prompt(question)),
  async readInput(maxBytes) {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of Deno.stdin.readable) {
      size += chunk.byteLength;
      if (size > maxBytes) throw new CliError(`Input is larger than ${maxBytes} bytes`, EXIT.usage);
      chunks.push(chunk);
    }
    const all = new Uint8Array(size);
    let at = 0;
    for (const chunk of chunks) all.set(chunk, (at += chunk.byteLength) - chunk.byteLength);
    return new TextDecoder().decode(all);
  },
  clock: systemClock,
};

/**
 * An environment variable, or `undefined` when unset or not permitted.
 *
 * @param name Variable name.
 * @returns Its value.
 */
export function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}
