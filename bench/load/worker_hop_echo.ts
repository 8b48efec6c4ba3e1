/**
 * The worker of `worker_hop_server.ts`: answers every message with `"hello"`.
 *
 * @module
 */

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent<{ id: number }>) => void) | null;
  postMessage(message: unknown): void;
};
scope.onmessage = (event) => scope.postMessage({ id: event.data.id, value: "hello" });
