/**
 * The soak benchmark's fixed-rate (open-loop) load generator: request `i` is due at
 * `i / rate` seconds whatever happened to the requests before it, split round-robin over the
 * targets, with a bound on requests in flight. Latency is measured from the time a request was
 * due, not from when it was sent, so a stalled server (or generator) shows in the figures instead
 * of silently lowering the rate (no coordinated omission); the send lag is recorded too, which
 * says whether the generator itself kept up.
 *
 * {@linkcode runOpenLoop} runs in the calling thread; the benchmark runs it in a Worker
 * (`open_loop_worker.ts`) so that its timing is not disturbed by the rest of the benchmark.
 *
 * @module
 */
import { encodeRequest, Http1Connection } from "./http1.ts";

/** A request the generator sends. */
export interface OpenLoopTarget {
  /** Short name, for the report. */
  name: string;
  /** Path, e.g. `/rpc/SoakA/echo`. */
  path: string;
  /** JSON body. */
  body: string;
}

/** Settings of one open-loop run. */
export interface OpenLoopConfig {
  /** Server host. */
  hostname: string;
  /** Server port. */
  port: number;
  /** Requests rotate over these. */
  targets: OpenLoopTarget[];
  /** Requests per second, all targets together. */
  rate: number;
  /** How long requests are issued, s. */
  seconds: number;
  /** Keep-alive connections opened before the first request (more open when needed). */
  connections: number;
  /** Requests in flight at most; a request due beyond it is skipped and counted. */
  maxInFlight: number;
  /** A request without a reply after this is a timeout, ms. */
  timeoutMs: number;
}

/** Outcome codes in {@linkcode OpenLoopResult.status} besides HTTP statuses. */
export const OUTCOME = {
  /** The socket failed or closed. */
  socketError: 0,
  /** Not sent: `maxInFlight` requests were already waiting. */
  skipped: -1,
  /** No reply within `timeoutMs`. */
  timeout: -2,
  /** A 200 whose body is not `{"result": …}`. */
  badBody: -3,
} as const;

/** Everything one run recorded, one entry per due request. */
export interface OpenLoopResult {
  /** Wall-clock time (ms since the epoch) of the first due time. */
  startEpochMs: number;
  /** Requests that fell due. */
  count: number;
  /** Due time of each request, ms after the start. */
  dueMs: Float64Array;
  /** Due time → reply, ms (NaN when there was none). */
  latencyMs: Float32Array;
  /** Due time → the generator took the request up, ms: its own delay. */
  lagMs: Float32Array;
  /** HTTP status, or an {@linkcode OUTCOME} code. */
  status: Int16Array;
  /** Index into the targets. */
  target: Uint8Array;
  /** Distinct socket error messages with their counts (the first 20). */
  errorMessages: Record<string, number>;
  /** Connections opened in total. */
  connectionsOpened: number;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function emptyResult(total: number): OpenLoopResult {
  return {
    startEpochMs: 0,
    count: total,
    dueMs: new Float64Array(total),
    latencyMs: new Float32Array(total).fill(NaN),
    lagMs: new Float32Array(total).fill(NaN),
    status: new Int16Array(total),
    target: new Uint8Array(total),
    errorMessages: {},
    connectionsOpened: 0,
  };
}

/** One run's state: its connections, counters and records. */
class FixedRate {
  readonly r: OpenLoopResult;
  readonly #config: OpenLoopConfig;
  readonly #requests: Uint8Array[];
  readonly #idle: Http1Connection[] = [];
  readonly #busy = new Map<Http1Connection, number>();
  readonly #timedOut = new Set<Http1Connection>();
  #t0 = 0;
  inFlight = 0;
  answered = 0;
  failed = 0;

  constructor(config: OpenLoopConfig) {
    this.#config = config;
    const host = `${config.hostname}:${config.port}`;
    this.#requests = config.targets.map((t) => encodeRequest("POST", t.path, t.body, host));
    this.r = emptyResult(Math.floor(config.rate * config.seconds));
  }

  /** Opens the connections a closed-loop generator would hold: the start is no connect storm. */
  async open(): Promise<void> {
    const c = this.#config;
    for (let k = 0; k < Math.min(c.connections, c.maxInFlight); k++) {
      this.#idle.push(await Http1Connection.open(c.hostname, c.port));
      this.r.connectionsOpened++;
    }
    this.#t0 = performance.now();
    this.r.startEpochMs = performance.timeOrigin + this.#t0;
  }

  /** Milliseconds since the first due time. */
  now(): number {
    return performance.now() - this.#t0;
  }

  /** Sends request `i` (or records why not) and records its outcome. */
  async issue(i: number): Promise<void> {
    const r = this.r;
    const due = (i * 1000) / this.#config.rate;
    const which = i % this.#requests.length;
    r.dueMs[i] = due;
    r.target[i] = which;
    // The generator's own delay: due time → now, before any wait for a connection.
    r.lagMs[i] = this.now() - due;
    if (this.inFlight >= this.#config.maxInFlight) {
      r.status[i] = OUTCOME.skipped;
      this.failed++;
      return;
    }
    this.inFlight++;
    let conn: Http1Connection | undefined;
    try {
      conn = this.#idle.pop();
      if (!conn) {
        conn = await Http1Connection.open(this.#config.hostname, this.#config.port);
        r.connectionsOpened++;
      }
      this.#busy.set(conn, performance.now());
      const reply = await conn.send(this.#requests[which]!);
      r.latencyMs[i] = this.now() - due;
      const ok = reply.status !== 200 || reply.body.startsWith('{"result"');
      r.status[i] = ok ? reply.status : OUTCOME.badBody;
      if (reply.status === 200 && ok) this.answered++;
      else this.failed++;
      this.#busy.delete(conn);
      this.#idle.push(conn);
    } catch (error) {
      r.status[i] = conn && this.#timedOut.has(conn) ? OUTCOME.timeout : OUTCOME.socketError;
      if (r.status[i] === OUTCOME.socketError) this.#noteError(error);
      this.failed++;
      if (conn) this.#busy.delete(conn);
    } finally {
      this.inFlight--;
    }
  }

  /** Closes connections waiting longer than the timeout (their requests become timeouts). */
  sweep(): void {
    const now = performance.now();
    for (const [conn, since] of this.#busy) {
      if (now - since > this.#config.timeoutMs) {
        this.#timedOut.add(conn);
        conn.close();
      }
    }
  }

  /** Closes every connection. */
  close(): void {
    for (const conn of [...this.#idle, ...this.#busy.keys()]) conn.close();
  }

  #noteError(error: unknown): void {
    const message = String((error as Error)?.message ?? error).split("\n")[0]!;
    const seen = this.r.errorMessages;
    if (message in seen || Object.keys(seen).length < 20) seen[message] = (seen[message] ?? 0) + 1;
  }
}

/**
 * Runs the fixed-rate load.
 *
 * @param config Target, rate, duration and bounds.
 * @param onSecond Called about once a second with the requests due and answered so far.
 * @returns Every request's record.
 */
export async function runOpenLoop(
  config: OpenLoopConfig,
  onSecond: (due: number, answered: number, failed: number) => void = () => {},
): Promise<OpenLoopResult> {
  const run = new FixedRate(config);
  const total = run.r.count;
  await run.open();
  const sweep = setInterval(() => run.sweep(), 100);
  let next = 0;
  let reported = 0;
  while (next < total) {
    const now = run.now();
    const due = Math.min(total, Math.floor((now * config.rate) / 1000) + 1);
    while (next < due) void run.issue(next++);
    if (now - reported >= 1000) {
      reported = now;
      onSecond(next, run.answered, run.failed);
    }
    await sleep(Math.max(0, (next * 1000) / config.rate - run.now()));
  }
  const drainUntil = performance.now() + config.timeoutMs + 1000;
  while (run.inFlight > 0 && performance.now() < drainUntil) await sleep(10);
  clearInterval(sweep);
  run.close();
  onSecond(next, run.answered, run.failed);
  return run.r;
}

/** A fixed-rate run going on in its own Worker. */
export interface OpenLoopRun {
  /** Resolves with the records when the run (and its drain) is over. */
  result: Promise<OpenLoopResult>;
  /** Ends the worker at once (on interrupt). */
  terminate(): void;
}

/**
 * Starts {@linkcode runOpenLoop} in a Worker of its own.
 *
 * @param config Target, rate, duration and bounds.
 * @param onSecond Progress, about once a second.
 * @returns The running load.
 */
export function startOpenLoop(
  config: OpenLoopConfig,
  onSecond: (due: number, answered: number, failed: number) => void = () => {},
): OpenLoopRun {
  const worker = new Worker(new URL("./open_loop_worker.ts", import.meta.url), { type: "module" });
  const result = new Promise<OpenLoopResult>((resolve, reject) => {
    worker.onmessage = (event: MessageEvent) => {
      const data = event.data as
        | { kind: "second"; due: number; answered: number; failed: number }
        | { kind: "done"; result: OpenLoopResult };
      if (data.kind === "second") onSecond(data.due, data.answered, data.failed);
      else {
        worker.terminate();
        resolve(data.result);
      }
    };
    worker.onerror = (event) => {
      event.preventDefault();
      worker.terminate();
      reject(new Error(`The load generator failed: ${event.message}`));
    };
  });
  worker.postMessage(config);
  return { result, terminate: () => worker.terminate() };
}
