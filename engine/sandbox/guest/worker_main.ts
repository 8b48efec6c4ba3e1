/**
 * Entry module of the Web Worker tier. It is loaded with the engine's permissions (hole 1), so it
 * imports only engine code; the bundle itself is loaded later by a non-literal `import()` under
 * the worker's own permissions.
 *
 * The channel to the engine is the worker scope's `postMessage`, whose structured clone the
 * engine deserializes on its main thread. This module takes it before any bundle code runs and
 * removes it from the bundle's reach; what the runtime posts goes by clone only when it is proven
 * small (`clone_check.ts`), and is otherwise serialized here, on the sandbox's thread, for the
 * engine to check before decoding.
 *
 * @module
 */
import type { HostMessage } from "../wire/protocol.ts";
import { MessageBatcher, type Poster, unbatch } from "../wire/batcher.ts";
import { clonesCheaply, encodeMessage, MAX_CLONE_VALUES, ValueCap } from "./clone_check.ts";
import { droppedNote, LogGate } from "./log_gate.ts";
import { startRuntime } from "./runtime.ts";
import { warmUp } from "./warm_up.ts";

interface WorkerScope {
  postMessage(message: unknown, transfer: Transferable[]): void;
  close(): void;
  addEventListener(type: "message", listener: (event: MessageEvent<HostMessage>) => void): void;
}
const scope = globalThis as unknown as WorkerScope;
const rawPost = scope.postMessage.bind(scope);
const close = scope.close.bind(scope);
// Messages the runtime already proved small, so a batch of one is not walked twice. Its methods
// are captured: a bundle's patched `WeakSet.prototype.has` once made every message "proved".
const cheap = new WeakSet<object>();
const apply = Reflect.apply;
const cheapHas = WeakSet.prototype.has;
const cheapAdd = WeakSet.prototype.add;
const post: Poster = (data, transfer) => {
  if (apply(cheapHas, cheap, [data]) || clonesCheaply(data, MAX_CLONE_VALUES, transfer)) {
    return rawPost(data, transfer);
  }
  const encoded = encodeMessage(data);
  rawPost(encoded, [encoded.payload.buffer]);
};
const batcher = new MessageBatcher(post);

// The raw channel leaves the bundle's reach: on the scope and along its prototype chain.
for (let o: object | null = scope; o !== null; o = Object.getPrototypeOf(o)) {
  if (Object.hasOwn(o, "postMessage")) delete (o as { postMessage?: unknown }).postMessage;
}
if ("postMessage" in (scope as object)) {
  throw new Error("the worker scope's postMessage could not be removed");
}

// A bundle calling self.close() would end the worker silently: report it first.
Object.defineProperty(scope, "close", {
  value: () => {
    try {
      batcher.flush();
      post({ type: "fatal", reason: "self.close() called by the bundle" }, []);
    } finally {
      close();
    }
  },
});

const cap = new ValueCap();
const logGate = new LogGate((n) => batcher.send(droppedNote(n)));

startRuntime({
  post: (message, transfer, onUndeliverable) => {
    if (message.type === "log") {
      if (!logGate.admit()) return;
    }
    // Only a message too large to clone cheaply can be over the engine's cap.
    const small = clonesCheaply(message, MAX_CLONE_VALUES, transfer);
    if (small) apply(cheapAdd, cheap, [message]);
    const refused = small ? undefined : cap.refuse(message);
    if (!refused) return batcher.send(message, transfer, onUndeliverable);
    if (!onUndeliverable) throw refused;
    onUndeliverable(refused);
  },
  listen: (handler) =>
    scope.addEventListener("message", (event) =>
      unbatch(event.data, (message) => {
        cap.learn(message);
        handler(message as HostMessage);
      })),
  exit: () => {
    // The fatal report is queued: it must leave before the worker does.
    batcher.flush();
    close();
  },
});

// While it waits for its init (a spare may wait long): what every first start pays, paid now.
void warmUp();
