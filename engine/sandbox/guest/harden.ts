/**
 * Guest-scope hardening, run inside every sandbox right before the bundle's code loads.
 *
 * Deno's permissions do not govern a few APIs whose state is shared by every worker of a process,
 * or lives on disk outside any folder a bundle was granted (measured on Deno 2.9.6):
 * - `caches` writes to the Deno dir's web cache, shared by every bundle, with no write grant;
 * - `BroadcastChannel` and `navigator.locks` reach every worker of the engine process;
 * - `localStorage` and `Deno.openKv()` without a path persist in the Deno dir (process tier);
 * - `Deno.chdir` changes the engine's working directory, and `Deno.addSignalListener` (also behind
 *   `node:process` `on("SIGTERM")`) keeps the engine from ending on a signal while the bundle lives.
 *
 * This removes or refuses them in the bundle's realm, and wraps `Worker` so nested web workers are
 * hardened the same way. A `node:worker_threads` worker would start with fresh globals (the APIs
 * above come back, measured) and its `BroadcastChannel` export reaches every worker of the process,
 * so both classes are refused: their prototype becomes a constructor that throws (a derived class
 * calls its prototype in `super()`), and they are made non-extensible so the prototype cannot be
 * put back. Release vetting refuses a static import of the module too; this covers the computed
 * `import()` vetting cannot see. Other fresh realms were checked and give nothing back: a `node:vm`
 * context has no web or Deno APIs, `ShadowRealm` is not enabled, and a nested worker from a
 * `blob:` or `data:` URL goes through the wrapped `Worker`.
 *
 * It is defence in depth, not a boundary: a realm shared with hostile code cannot be made
 * airtight. Use the process tier for code you do not trust.
 *
 * @module
 */
import * as workerThreads from "node:worker_threads";

/** The exports of `node:worker_threads` that give a bundle a fresh realm or a shared bus. */
export interface WorkerThreadsModule {
  /** The thread class. */
  Worker?: unknown;
  /** The process-wide broadcast bus. */
  BroadcastChannel?: unknown;
}

/** Hardens the sandbox's own realm, `node:worker_threads` included. Idempotent. */
export function hardenSandbox(): void {
  hardenGuestScope(workerThreads);
}

/**
 * Removes or refuses the process-shared APIs listed in the module doc. Idempotent. The function is
 * self-contained (it references nothing outside its body), because its source is also run as the
 * first module of every nested web worker the bundle creates.
 *
 * @param threads The realm's `node:worker_threads` module, whose classes are refused.
 */
export function hardenGuestScope(threads?: WorkerThreadsModule): void {
  const scope = globalThis as unknown as Record<string, unknown>;
  if (scope.__bundlehostHardened === true) return;
  Object.defineProperty(scope, "__bundlehostHardened", { value: true });
  const refuse = (what: string, why: string) => () => {
    throw new Deno.errors.NotCapable(`${what} is refused in a bundle: ${why}`);
  };
  const lock = (target: object, key: string, value: unknown) =>
    Object.defineProperty(target, key, { value, writable: false, configurable: false });

  for (const name of ["Worker", "BroadcastChannel"] as const) {
    const cls = threads?.[name];
    if (typeof cls !== "function") continue;
    const what = `node:worker_threads ${name}`;
    const why = name === "Worker"
      ? "a thread starts with fresh globals, outside the sandbox's hardening"
      : "its channel reaches every worker of the engine process";
    Object.setPrototypeOf(
      cls,
      function Refused() {
        refuse(what, why)();
      },
    );
    Object.preventExtensions(cls);
  }

  for (const name of ["caches", "CacheStorage", "Cache", "BroadcastChannel", "LockManager"]) {
    delete scope[name];
  }
  for (const name of ["localStorage", "sessionStorage", "Storage"]) delete scope[name];
  const navigatorProto = scope.navigator ? Object.getPrototypeOf(scope.navigator) : undefined;
  if (navigatorProto && "locks" in navigatorProto) delete navigatorProto.locks;

  lock(
    Deno,
    "chdir",
    refuse("Deno.chdir()", "the working directory belongs to the whole engine process"),
  );
  lock(
    Deno,
    "addSignalListener",
    refuse("Deno.addSignalListener()", "signals belong to the whole engine process"),
  );
  const openKv = (Deno as unknown as Record<string, unknown>).openKv;
  if (typeof openKv === "function") {
    lock(Deno, "openKv", (path?: string, ...rest: unknown[]) => {
      if (path === undefined || path === "") {
        refuse(
          "Deno.openKv() without a path",
          'its database is outside the bundle\'s folders and shared; pass a path under ctx.bundle.dataDir or ":memory:"',
        )();
      }
      return openKv.call(Deno, path, ...rest);
    });
  }

  const NativeWorker = scope.Worker as (new (...args: unknown[]) => object) | undefined;
  if (typeof NativeWorker === "function") {
    const guard = `data:text/javascript,${
      encodeURIComponent(
        `import * as threads from "node:worker_threads";\n(${hardenGuestScope})(threads);`,
      )
    }`;
    const base = (scope.location as { href?: string } | undefined)?.href;
    const Worker = function Worker(this: unknown, specifier: string | URL, options?: object) {
      if (!new.target) throw new TypeError("Failed to construct 'Worker': use the 'new' operator");
      const target = new URL(String(specifier), base).href;
      const entry = `data:text/javascript,${
        encodeURIComponent(`import ${JSON.stringify(guard)};\nimport ${JSON.stringify(target)};`)
      }`;
      const newTarget = new.target === Worker ? NativeWorker : new.target;
      return Reflect.construct(NativeWorker, [entry, options], newTarget);
    };
    lock(Worker, "prototype", NativeWorker.prototype);
    lock(NativeWorker.prototype, "constructor", Worker);
    lock(scope, "Worker", Worker);
  }
}
