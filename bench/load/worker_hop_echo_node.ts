/**
 * The worker of `worker_hop_server.ts` with Deno's Node layer loaded, as every worker-tier sandbox
 * loads it: the sandbox's hardening imports `node:worker_threads` to refuse its `Worker` and
 * `BroadcastChannel`. Answers every message with `"hello"`, as `worker_hop_echo.ts` does.
 *
 * @module
 */
import "node:worker_threads";
import "./worker_hop_echo.ts";
