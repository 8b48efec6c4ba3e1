/**
 * Process isolation tier: one child `deno run` per instance, whose flags are exactly the bundle's
 * grants, with a V8 heap cap. Unlike a Web Worker it can be stopped while it spins (SIGKILL) and
 * running out of memory ends only the child (docs/architecture.md, "Platform facts", holes 2 and 3). It speaks the same
 * protocol as the worker tier, framed over stdio (see `../wire/framing.ts`), so the
 * {@linkcode Instance} above it cannot tell the tiers apart.
 *
 * The transport is the supervisor's eyes: it reports how the child ended (exit code, signal, out
 * of memory), kills a child whose resident set outgrows its cap (a watchdog thread in the child
 * raises the alarm on stderr even while the bundle spins; heartbeat replies report RSS too),
 * forwards the child's stderr as log records, and reaps every child so none is left as a zombie.
 * Bundle code can write crafted frames to fd 1 behind the runtime's back, so the child's stdout is
 * untrusted: frames are checked by kind and size before decoding, larger ones have their values
 * counted in the bytes before decoding (see `inbox.ts`), and a child that floods the channel is killed.
 * Restarts with backoff and crash loop detection are the pool's, as for every tier.
 *
 * @module
 */
import { setPriority } from "node:os";
import { toProcessFlags } from "../../manifest/permissions.ts";
import type { ResolvedPermissions } from "../../manifest/permissions.ts";
import {
  FRAME_HEADER_BYTES,
  FrameDecoder,
  kindMismatch,
  MAX_FRAME_BYTES,
  MAX_JSON_PAYLOAD_BYTES,
} from "../wire/framing.ts";
import { ChildInput } from "./child_input.ts";
import { ChildStderr, lineSplitter } from "./child_lines.ts";
import { type ChannelLimits, resolveChannelLimits } from "./channel_limits.ts";
import { GuestInbox, withCap } from "./inbox.ts";
import type { Transport, TransportSink } from "./instance.ts";

const RUNTIME_URL = new URL("../guest/process_main.ts", import.meta.url);
const MIB = 1024 * 1024;
/** How long a dead child's pipes may take to deliver their last bytes. */
const DRAIN_MS = 1_000;

/** What the process tier needs to spawn a sandbox. */
export interface ProcessSpec {
  /** Instance name (`id@version#instanceId`), for messages. */
  name: string;
  /** Exact grants: they become the child's only `--allow-*` flags. */
  permissions: ResolvedPermissions;
  /** V8 heap cap, MiB (`--max-old-space-size`); a child that reaches it aborts. */
  memoryMb: number;
  /**
   * Resident-set cap, MiB. Memory outside the V8 heap (ArrayBuffers) is not under the heap cap,
   * so the supervisor kills a child whose RSS exceeds this. @default {2 * memoryMb + 128}
   */
  maxRssMb?: number;
  /** Deno executable (a name, so the engine's `--allow-run=deno` covers it). @default {"deno"} */
  denoCommand?: string;
  /**
   * Longest liveness probe after a call passes its deadline, ms. A SIGKILL is sure and cheap, so
   * this tier probes sooner than the engine's default and a spinning child dies within
   * deadline + 500 ms. @default {250}
   */
  probeMs?: number;
  /** Largest frame in either direction, bytes. @default {67108864} */
  maxFrameBytes?: number;
  /** What the child may make the engine decode, per frame and per second. @default {DEFAULT_CHANNEL_LIMITS} */
  channel?: ChannelLimits;
}

/** The process tier's transport: a {@linkcode Transport} that also says when its child is reaped. */
export interface ProcessTransport extends Transport {
  /** The child's pid. */
  readonly pid: number;
  /** Settles once the child has exited and been reaped, and its pipes are closed. */
  readonly ended: Promise<void>;
}

/**
 * The `deno` arguments that start a child for `spec`: the runtime entry with exactly the grants.
 *
 * `--no-config` keeps the engine's import map, lockfile and unstable features away from the
 * bundle; `--cached-only` loads only modules that release vetting (`deno info`) already fetched;
 * `--no-remote` stands in for an empty `import` grant, because `deno run` otherwise allows a
 * default list of import hosts (and `--deny-import` does not remove them).
 *
 * @param spec Grants and heap cap.
 * @returns Arguments for `deno`, starting with `run`.
 *
 * @example Flags for a bundle that reads its own module and one data folder
 * ```ts ignore
 * processArgs({ name: "x", memoryMb: 64, permissions: { ...none, read: ["/b/mod.ts", "/d"] } });
 * // ["run", "--no-prompt", "--no-config", "--cached-only", "--no-remote",
 * //  "--v8-flags=--max-old-space-size=64", "--allow-read=/b/mod.ts,/d", "file:///…/process_main.ts"]
 * ```
 */
export function processArgs(spec: ProcessSpec): string[] {
  const grants = spec.permissions;
  return [
    "run",
    "--no-prompt",
    "--no-config",
    "--cached-only",
    ...(grants.import.length === 0 ? ["--no-remote"] : []),
    `--v8-flags=--max-old-space-size=${spec.memoryMb}`,
    ...toProcessFlags(grants),
    RUNTIME_URL.href,
    String(rssCapBytes(spec)),
  ];
}

/** Engine variables a child needs to find its module cache and export telemetry like the engine. */
export const CHILD_ENV_PASSTHROUGH: readonly string[] = [
  "DENO_DIR",
  "OTEL_DENO",
  "OTEL_SERVICE_NAME",
  "OTEL_RESOURCE_ATTRIBUTES",
  "OTEL_EXPORTER_OTLP_ENDPOINT",
  "OTEL_EXPORTER_OTLP_PROTOCOL",
  "OTEL_EXPORTER_OTLP_HEADERS",
  "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
  "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
  "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
  "OTEL_METRIC_EXPORT_INTERVAL",
  // The same sampling and export batching as the engine: a child must not sample what the
  // engine's sampler dropped, nor hold its spans for longer.
  "OTEL_TRACES_SAMPLER",
  "OTEL_TRACES_SAMPLER_ARG",
  "OTEL_PROPAGATORS",
  "OTEL_BSP_SCHEDULE_DELAY",
  "OTEL_BLRP_SCHEDULE_DELAY",
];

/**
 * The child's whole environment: `NO_COLOR`, the pass-through list above and the variables the
 * bundle is granted (`permissions.env`), each only when the engine can read it.
 *
 * @param grants The bundle's grants.
 * @returns Variables for the child.
 */
export function childEnv(grants: ResolvedPermissions): Record<string, string> {
  // No PATH: Deno would resolve the `deno` command itself with the child's PATH, and the engine's
  // `--allow-run=deno` grant covers only the `deno` its own PATH finds.
  const env: Record<string, string> = { NO_COLOR: "1", DENO_NO_UPDATE_CHECK: "1" };
  for (const name of [...CHILD_ENV_PASSTHROUGH, ...grants.env]) {
    try {
      const value = Deno.env.get(name);
      if (value !== undefined) env[name] = value;
    } catch {
      // The engine may not read it (no --allow-env for that name): the child does without.
    }
  }
  return env;
}

function rssCapBytes(spec: ProcessSpec): number {
  return (spec.maxRssMb ?? 2 * spec.memoryMb + 128) * MIB;
}

/**
 * How a child ended, in words for `InstanceLostError` and status.
 *
 * @param status The child's exit status.
 * @param outOfMemory Whether V8 reported a full heap on stderr.
 * @param memoryMb The heap cap, MiB.
 * @returns E.g. `"out of memory (heap cap 64 MiB): aborted with signal SIGTRAP"`.
 */
export function describeExit(
  status: Deno.CommandStatus,
  outOfMemory: boolean,
  memoryMb: number,
): string {
  const how = status.signal ? `signal ${status.signal}` : `exit code ${status.code}`;
  if (outOfMemory) return `out of memory (heap cap ${memoryMb} MiB): aborted with ${how}`;
  if (status.signal === "SIGTRAP" || status.signal === "SIGABRT") {
    return `process crashed: aborted with ${how}`;
  }
  return status.signal ? `process killed by ${how}` : `process exited with ${how}`;
}

async function pump(
  reader: ReadableStreamDefaultReader<Uint8Array>,
  push: (chunk: Uint8Array) => void,
): Promise<void> {
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      push(value);
    }
  } catch {
    // Cancelled after the child died, or the pipe broke: nothing more will come.
  }
}

/** Resolves after `ms`, or at once when `signal` aborts, leaving no timer behind. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  // Real time, not the engine's clock: this waits on an OS process, whose exit takes real time.
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener("abort", () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });
}

/** What {@linkcode stdoutReader} needs. */
interface StdoutOptions {
  limits: ChannelLimits;
  maxFrameBytes: number;
  /** A decoded message, in order. */
  deliver(value: unknown): void;
  /** A line of output written to fd 1 outside any frame. */
  log(line: string): void;
  /** The child broke a channel limit: kill it. */
  fail(reason: string): void;
  /** Whether a decoded message answers a pending request. */
  solicited?(value: unknown): boolean;
}

/**
 * Reads a child's stdout, which bundle code can write crafted frames to behind the runtime's
 * back: frames are charged to the child's budget as they are decoded (a chunk of a flood stops
 * at the budget), larger ones are checked by the inbox, and stray output becomes log lines
 * on the same budget. Once the child is failed its output is dropped undecoded.
 */
function stdoutReader(options: StdoutOptions) {
  const inbox = new GuestInbox({
    limits: options.limits,
    deliver: options.deliver,
    ...(options.solicited ? { solicited: options.solicited } : {}),
    validate: (value) => kindMismatch(value, "data"),
    fail: options.fail,
  });
  const strayOut = lineSplitter((line) => {
    if (inbox.charge(1, line.length)) options.log(line);
  });
  const frames = new FrameDecoder({
    maxFrameBytes: options.maxFrameBytes,
    inlineBytes: options.limits.inlineDecodeBytes,
    jsonMaxBytes: childJsonMaxBytes(options.limits),
    // Bytes before decoding; the message itself once decoded (see inbox.ts). A failed child's
    // remaining frames are dropped undecoded.
    onHeader: (_kind, length) => inbox.charge(0, FRAME_HEADER_BYTES + length),
    onLarge: (payload) => inbox.large(payload),
    onFrame: (value) => inbox.value(value),
    onInvalid: () => inbox.value(undefined),
    onStray: (bytes) => strayOut.push(bytes),
  });
  return {
    push(chunk: Uint8Array) {
      if (!inbox.failed) frames.push(chunk);
    },
    flush() {
      strayOut.flush();
    },
  };
}

/**
 * Largest JSON payload the engine reads from a child: JSON frames are decoded at once, so never
 * more than the inline decode size (larger messages come as `node:v8`, whose values are counted).
 */
function childJsonMaxBytes(limits: ChannelLimits): number {
  return Math.min(MAX_JSON_PAYLOAD_BYTES, limits.inlineDecodeBytes);
}

/** Scheduling niceness of process-tier children: below the engine's, never above it. */
export const CHILD_NICENESS = 10;

/**
 * Runs a sandbox at a lower CPU priority than the engine, so a bundle spinning or thrashing in GC
 * on a busy machine slows itself and its neighbours' sandboxes, not the engine's event loop that
 * routes every call. Needs `--allow-sys=setPriority`; without it the child keeps the engine's
 * priority (nothing else changes).
 *
 * @param pid The child's process id.
 */
function lowerPriority(pid: number): void {
  try {
    setPriority(pid, CHILD_NICENESS);
  } catch {
    // Not permitted (no --allow-sys=setPriority) or already gone: same priority as the engine.
  }
}

/** Spawns a bundle's child: its flags are its grants, its environment only what they name. */
function spawnChild(spec: ProcessSpec): Deno.ChildProcess {
  const child = new Deno.Command(spec.denoCommand ?? "deno", {
    args: processArgs(spec),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    // The child starts from an empty environment: the engine's secrets (the admin token, cloud
    // credentials) never reach a bundle's process, whatever it is granted later.
    clearEnv: true,
    env: childEnv(spec.permissions),
  }).spawn();
  lowerPriority(child.pid);
  return child;
}

/**
 * Transport factory for the process tier.
 *
 * @param spec Grants, caps and timings.
 * @returns A transport factory the {@linkcode Instance} calls once; it spawns the child at once.
 * @throws {Deno.errors.NotCapable} From the factory, when the engine may not run `denoCommand`.
 */
export function processTransport(
  spec: ProcessSpec,
): (sink: TransportSink) => ProcessTransport {
  return (sink) => {
    const maxFrameBytes = spec.maxFrameBytes ?? MAX_FRAME_BYTES;
    const rssCap = rssCapBytes(spec);
    const child = spawnChild(spec);
    const input = new ChildInput(child.stdin.getWriter(), maxFrameBytes, () => !killed && !exited);
    let killed = false;
    let exited = false;
    const supervise = (rss: number) => {
      if (rss <= rssCap || killed || exited) return;
      sink.closed(
        `out of memory: resident set ${Math.round(rss / MIB)} MiB exceeds the cap of ${
          Math.round(rssCap / MIB)
        } MiB`,
      );
    };
    const log = (level: "info" | "warn", message: string) =>
      sink.receive({ type: "log", level, message });

    const errors = new ChildStderr(supervise, (line) => log("warn", `[stderr] ${line}`));

    const limits = spec.channel ?? resolveChannelLimits();
    const out = stdoutReader({
      limits,
      maxFrameBytes,
      deliver: (value) => {
        // Pongs carry the RSS too: a second source besides the watchdog's alarm.
        const memory = (value as { type?: unknown; memory?: { rss?: unknown } })?.memory;
        if ((value as { type?: unknown })?.type === "pong" && typeof memory?.rss === "number") {
          supervise(memory.rss);
        }
        sink.receive(value);
      },
      log: (line) => log("info", line),
      ...(sink.solicited ? { solicited: sink.solicited } : {}),
      fail: (reason) => {
        if (!killed && !exited) sink.closed(reason);
      },
    });
    const stdout = child.stdout.getReader();
    const stderr = child.stderr.getReader();
    const reading = Promise.all([
      pump(stdout, (chunk) => out.push(chunk)),
      pump(stderr, (chunk) => errors.push(chunk)),
    ]);

    const ended = (async () => {
      const status = await child.status;
      exited = true;
      // The last frames (a fatal report) and stderr lines (V8's out-of-memory message) may still
      // be in the pipes; a grandchild holding them open must not hold the engine, hence the limit.
      const drained = new AbortController();
      await Promise.race([reading, pause(DRAIN_MS, drained.signal)]);
      drained.abort();
      await Promise.all([stdout.cancel(), stderr.cancel(), input.abort()]).catch(() => {});
      out.flush();
      errors.flush();
      if (killed) return;
      const { outOfMemory, lastError } = errors;
      const how = describeExit(status, outOfMemory, spec.memoryMb);
      sink.closed(lastError && !outOfMemory ? `${how}: ${lastError}` : how);
    })();

    return {
      pid: child.pid,
      probeMs: spec.probeMs ?? 250,
      ended,
      send(message) {
        const framed = message.type === "init"
          ? { ...withCap(message, limits), jsonMaxBytes: childJsonMaxBytes(limits) }
          : message;
        input.send(framed);
      },
      kill() {
        if (killed) return;
        killed = true;
        try {
          child.kill("SIGKILL");
        } catch {
          // It has already exited; `ended` reaps it.
        }
      },
    };
  };
}
