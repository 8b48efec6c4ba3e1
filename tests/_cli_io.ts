/**
 * A terminal for CLI tests: records what the CLI prints, answers its prompts from a script.
 *
 * @module
 */
import { systemClock } from "../engine/base/clock.ts";
import type { CliIo } from "../cli/context.ts";

/** A recording terminal. */
export interface TestIo extends CliIo {
  /** Lines written to stdout. */
  lines: string[];
  /** Lines written to stderr. */
  errors: string[];
  /** Questions asked. */
  questions: string[];
  /** stdout as one text. */
  readonly text: string;
}

/**
 * Creates a recording terminal.
 *
 * @param options `interactive` (default false) and the answers to give, in order.
 * @returns The terminal.
 */
export function testIo(
  options: Partial<Pick<CliIo, "interactive" | "clock">> & { answers?: string[] } = {},
): TestIo {
  const answers = [...(options.answers ?? [])];
  const io: TestIo = {
    lines: [],
    errors: [],
    questions: [],
    get text() {
      return io.lines.join("\n");
    },
    out: (line) => io.lines.push(line),
    err: (line) => io.errors.push(line),
    interactive: options.interactive ?? false,
    ask(question) {
      io.questions.push(question);
      return Promise.resolve(answers.shift() ?? null);
    },
    clock: options.clock ?? systemClock,
  };
  return io;
}
