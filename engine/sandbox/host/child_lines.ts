/**
 * A process-tier child's text output, line by line: the stray bytes a bundle writes to its stdout
 * outside frames, and its stderr, where the child's watchdog raises its RSS alarm and V8 and Deno
 * report a full heap or an uncaught error. Lines are bounded, so a child that writes without a
 * newline cannot make the engine hold an unbounded line.
 *
 * @module
 */
import { MAX_LOG_MESSAGE } from "../wire/protocol.ts";
import { RSS_ALARM } from "../wire/framing.ts";

/** V8 writes this to stderr before it aborts a process whose heap is full. */
const OOM_MARKER = /out of memory/i;

/**
 * Splits a byte stream into text lines of at most {@linkcode MAX_LOG_MESSAGE} characters.
 *
 * @param emit Gets each line, without its newline.
 * @returns The splitter: `push` bytes as they arrive, `flush` at the end.
 */
export function lineSplitter(
  emit: (line: string) => void,
): { push(bytes: Uint8Array): void; flush(): void } {
  const decoder = new TextDecoder();
  let pending = "";
  const drain = (final: boolean) => {
    let nl: number;
    while ((nl = pending.indexOf("\n")) !== -1) {
      emit(pending.slice(0, Math.min(nl, MAX_LOG_MESSAGE)));
      pending = pending.slice(nl + 1);
    }
    if (pending.length > MAX_LOG_MESSAGE || (final && pending.length > 0)) {
      emit(pending.slice(0, MAX_LOG_MESSAGE));
      pending = "";
    }
  };
  return {
    push(bytes: Uint8Array) {
      pending += decoder.decode(bytes, { stream: true });
      drain(false);
    },
    flush() {
      pending += decoder.decode();
      drain(true);
    },
  };
}

/**
 * A child's stderr, line by line: the watchdog's RSS alarm, V8's out-of-memory message and Deno's
 * report of an uncaught error are noted; every line is also a log record.
 */
export class ChildStderr {
  /** Whether V8 said the heap was full. */
  outOfMemory = false;
  /** Deno's own report of an uncaught error, e.g. "error: Uncaught TypeError: …". */
  lastError: string | undefined;
  readonly #lines: ReturnType<typeof lineSplitter>;

  /**
   * Reads a child's stderr.
   *
   * @param alarm The watchdog reported this resident set, bytes.
   * @param log Logs one line.
   */
  constructor(alarm: (rss: number) => void, log: (line: string) => void) {
    this.#lines = lineSplitter((line) => {
      if (line.startsWith(RSS_ALARM)) return alarm(Number(line.slice(RSS_ALARM.length)));
      if (OOM_MARKER.test(line)) this.outOfMemory = true;
      if (line.startsWith("error: ")) this.lastError ??= line.slice(0, 512);
      log(line);
    });
  }

  /**
   * Feeds bytes read from stderr.
   *
   * @param chunk The bytes.
   */
  push(chunk: Uint8Array): void {
    this.#lines.push(chunk);
  }

  /** Ends the last line. */
  flush(): void {
    this.#lines.flush();
  }
}
