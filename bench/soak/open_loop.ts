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
  const total = Math.floor(config.rate * config.seconds);
  const host = `${config.hostname}:${config.port}`;
  const requests = config.targets.map((t) => encodeRequest("POST", t.path, t.body, host));
  const r: OpenLoopResult = {
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
  const idle: Http1Connection[] = [];
  const busy = new Map<Http1Connection, number>();
  const timedOut = new Set<Http1Connection>();
  let inFlight = 0;
  let answered = 0;
  let failed = 0;
  // Open the connections a closed-loop generator would hold, so the start is not a connect storm.
  for (let k = 0; k < Math.min(config.connections, config.maxInFlight); k++) {
    idle.push(await Http1Connection.open(config.hostname, config.port));
    r.connectionsOpened++;
  }
  const t0 = performance.now();
  r.startEpochMs = performance.timeOrigin + t0;
  const noteError = (error: unknown) => {
    const message = String((error as Error)?.message ?? error).split("\n")[0]!;
    if (message in r.errorMessages || Object.keys(r.errorMessages).length < 20) {
      r.errorMessages[message] = (r.errorMessages[message] ?? 0) + 1;
    }
  };

  const issue = async (i: number) => {
    const due = (i * 1000) / config.rate;
    const which = i % requests.length;
    r.dueMs[i] = due;
    r.target[i] = which;
    // The generator's own delay: due time → now, before any wait for a connection.
    r.lagMs[i] = performance.now() - t0 - due;
    if (inFlight >= config.maxInFlight) {
      r.status[i] = OUTCOME.skipped;
      failed++;
      return;
    }
    inFlight++;
    let conn: Http1Connection | undefined;
    try {
      conn = idle.pop();
      if (!conn) {
        conn = await Http1Connection.open(config.hostname, config.port);
        r.connectionsOpened++;
      }
      busy.set(conn, performance.now());
      const reply = await conn.send(requests[which]!);
      r.latencyMs[i] = performance.now() - t0 - due;
      const ok = reply.status !== 200 || reply.body.startsWith('{"result"');
      r.status[i] = ok ? reply.status : OUTCOME.badBody;
      if (reply.status === 200 && ok) answered++;
      else failed++;
      busy.delete(conn);
      idle.push(conn);
    } catch (error) {
      r.status[i] = conn && timedOut.has(conn) ? OUTCOME.timeout : OUTCOME.socketError;
      if (r.status[i] === OUTCOME.socketError) noteError(error);
      failed++;
      if (conn) busy.delete(conn);
    } finally {
      inFlight--;
    }
  };

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const [conn, since] of busy) {
      if (now - since > config.timeoutMs) {
        timedOut.add(conn);
        conn.close();
      }
    }
  }, 100);
  let next = 0;
  let reported = 0;
  while (next < total) {
    const now = performance.now() - t0;
    const due = Math.min(total, Math.floor((now * config.rate) / 1000) + 1);
    while (next < due) void issue(next++);
    if (now - reported >= 1000) {
      reported = now;
      onSecond(next, answered, failed);
    }
    await sleep(Math.max(0, (next * 1000) / config.rate - (performance.now() - t0)));
  }
  const drainUntil = performance.now() + config.timeoutMs + 1000;
  while (inFlight > 0 && performance.now() < drainUntil) await sleep(10);
  clearInterval(sweep);
  for (const conn of [...idle, ...busy.keys()]) conn.close();
  onSecond(next, answered, failed);
  return r;
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
