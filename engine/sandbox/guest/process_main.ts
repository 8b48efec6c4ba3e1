/**
 * Entry module of the process isolation tier: the child `deno run` that hosts one instance. The
 * engine starts it with exactly the bundle's permissions; Deno loads a main module and its static
 * imports without a permission check, so this file and the runtime load even though the child
 * cannot read any engine file. The bundle is loaded later by the runtime's non-literal `import()`,
 * which the child's own `--allow-read` bounds, static imports of the bundle included.
 *
 * Channel: frames (see `framing.ts`) on stdin (engine → child) and stdout (child → engine).
 * Alternatives were weighed and measured on Deno 2.9: a Unix socket needs `--allow-net=unix:<path>`
 * in both the engine and the child, and a loopback TCP port needs a net grant the bundle did not
 * ask for; both widen permissions, stdio widens none. To keep bundle output out of the channel,
 * this module takes the real streams before any bundle code runs and turns `Deno.stdout` and
 * `process.stdout` writes into log records. A bundle that still writes to fd 1 directly (e.g.
 * `node:fs` `writeSync(1, …)`) only adds stray bytes between frames, because frames are written
 * synchronously and whole: the engine logs them and stays in sync.
 *
 * @module
 */
import process from "node:process";
import { type GuestMessage, type HostMessage, MAX_LOG_MESSAGE } from "../wire/protocol.ts";
import { ValueCap } from "./clone_check.ts";
import { FrameDecoder, MAX_JSON_PAYLOAD_BYTES, RSS_ALARM } from "../wire/framing.ts";
import { FrameWriter } from "../wire/frame_writer.ts";
import { droppedNote, LogGate } from "./log_gate.ts";
import { startRuntime } from "./runtime.ts";

const stdout = Deno.stdout;
const stdin = Deno.stdin;
// The runtime wraps Deno.exit to report a bundle's call; the port must end the process for real.
const exit = Deno.exit.bind(Deno);
const text = new TextDecoder();

function write(frame: Uint8Array): void {
  // Synchronous and complete: no JavaScript runs between two partial writes, so output the bundle
  // produces cannot land inside a frame.
  let offset = 0;
  while (offset < frame.byteLength) offset += stdout.writeSync(frame.subarray(offset));
}

// Frames posted in the same tick leave in one write (one syscall instead of one per message),
// encoded into one reused buffer. JSON frames only once `init` says how large the engine reads.
const outgoing = new FrameWriter();
let flushQueued = false;

function flush(): void {
  flushQueued = false;
  if (outgoing.size === 0) return;
  try {
    // Written synchronously: the writer's buffer is not reused before this returns.
    write(outgoing.take());
  } catch {
    // The engine closed the channel: nobody is left to serve.
    exit(0);
  }
}

const cap = new ValueCap();
/** The engine's default `channel.inlineDecodeBytes`: frames up to this size are not counted. */
const INLINE_DECODE_BYTES = 64 * 1024;
const logGate = new LogGate((n) => post(droppedNote(n)));

function post(message: GuestMessage, onUndeliverable?: (error: unknown) => void): void {
  if (message.type === "log") {
    // The gate's own note (it carries `dropped`) is not gated again.
    if (message.dropped === undefined && !logGate.admit()) return;
  }
  try {
    // Only a frame the engine counts the values of can be over its cap.
    outgoing.add(message, (size) => size > INLINE_DECODE_BYTES ? cap.refuse(message) : undefined);
  } catch (error) {
    if (!onUndeliverable) throw error;
    onUndeliverable(error);
    return;
  }
  if (!flushQueued) {
    flushQueued = true;
    queueMicrotask(flush);
  }
}

/** Learns from `init` how large a JSON frame the engine reads (none before it says). */
function learnJsonCap(message: HostMessage): void {
  if (message?.type !== "init") return;
  const max = message.jsonMaxBytes;
  outgoing.jsonMaxBytes = Number.isSafeInteger(max) && max! > 0
    ? Math.min(max!, MAX_JSON_PAYLOAD_BYTES)
    : 0;
}

/** Sends what is queued, then ends the process. */
function flushAndExit(code: number): never {
  flush();
  return exit(code);
}

function forward(chunk: Uint8Array | string): void {
  let message = typeof chunk === "string" ? chunk : text.decode(chunk);
  if (message.endsWith("\n")) message = message.slice(0, -1);
  if (message.length > MAX_LOG_MESSAGE) message = message.slice(0, MAX_LOG_MESSAGE);
  try {
    post({ type: "log", level: "info", message });
  } catch {
    // Output never fails the writer.
  }
}

Object.defineProperty(Deno, "stdout", {
  value: Object.create(stdout, {
    write: { value: (p: Uint8Array) => (forward(p), Promise.resolve(p.byteLength)) },
    writeSync: { value: (p: Uint8Array) => (forward(p), p.byteLength) },
    writable: { value: new WritableStream<Uint8Array>({ write: (chunk) => forward(chunk) }) },
  }),
  configurable: true,
  enumerable: true,
  writable: true,
});
process.stdout.write = ((chunk: Uint8Array | string, ...rest: unknown[]) => {
  forward(chunk);
  const callback = rest.find((r) => typeof r === "function") as (() => void) | undefined;
  if (callback) queueMicrotask(callback);
  return true;
}) as typeof process.stdout.write;
// Bytes a bundle read from stdin would be missing from the engine's frames.
Object.defineProperty(Deno, "stdin", {
  value: Object.create(Deno.stdin, {
    read: { value: () => Promise.resolve(null) },
    readSync: { value: () => null },
    readable: { value: new ReadableStream<Uint8Array>({ start: (c) => c.close() }) },
  }),
  configurable: true,
  enumerable: true,
  writable: true,
});

// The V8 heap cap does not cover ArrayBuffers, and a bundle filling them in a synchronous loop
// never lets its own thread answer a ping. A watchdog thread sees the process RSS regardless and
// raises the alarm on stderr, which the engine reads and answers with SIGKILL. The engine cannot
// read /proc/<pid> itself: Deno 2.9 wants --allow-all for any path under /proc.
const rssCap = Number(Deno.args[0]);
if (Number.isSafeInteger(rssCap) && rssCap > 0) {
  const alarm = JSON.stringify(RSS_ALARM);
  const watchdog = `const line = new TextEncoder();
    setInterval(() => {
      const rss = Deno.memoryUsage().rss;
      if (rss > ${rssCap}) Deno.stderr.writeSync(line.encode(${alarm} + rss + "\\n"));
    }, 100);`;
  new Worker(`data:text/javascript,${encodeURIComponent(watchdog)}`, {
    type: "module",
    name: "bundlehost-watchdog",
  });
}

// As in the worker tier: a bundle calling self.close() would end the process with a silent 0.
Object.defineProperty(globalThis, "close", {
  value: () => {
    try {
      post({ type: "fatal", reason: "self.close() called by the bundle" });
    } finally {
      flushAndExit(0);
    }
  },
  configurable: true,
  writable: true,
});

let handler: ((message: HostMessage) => void) | undefined;

function protocolFault(reason: string): void {
  try {
    post({ type: "fatal", reason: `protocol violation on the engine channel: ${reason}` });
  } finally {
    flushAndExit(70);
  }
}

startRuntime({
  post: (message, _transfer, onUndeliverable) => post(message, onUndeliverable),
  listen: (h) => (handler = h),
  exit: (code) => flushAndExit(code),
});

const decoder = new FrameDecoder({
  onFrame: (value) => {
    cap.learn(value);
    learnJsonCap(value as HostMessage);
    handler?.(value as HostMessage);
  },
  onInvalid: protocolFault,
  onStray: () => protocolFault("bytes outside a frame"),
});

// Read straight into one reused buffer (the decoder copies what it keeps): a stream reader would
// allocate a fresh 64 KiB chunk per read and go through the streams machinery every time.
const chunk = new Uint8Array(64 * 1024);

async function pump(): Promise<void> {
  for (;;) {
    const read = await stdin.read(chunk);
    if (read === null) break;
    decoder.push(chunk.subarray(0, read));
  }
  // End of input: the engine is gone or has let go of this instance.
  flushAndExit(0);
}
void pump();
