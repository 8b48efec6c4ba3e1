/**
 * Responses whose body the bundle gave as a string (`new Response("hello")`, what most frameworks'
 * `text()` and `json()` helpers build, and `Response.json`). Such a body is whole at once, so the
 * runtime reads it with the platform's `text()`, which hands back the string, instead of through
 * `response.body`: making the body a `ReadableStream` and reading it, only to decode the bytes
 * back into the same text, was about a quarter of the guest's time per `GET /b/:id/` call.
 *
 * No public API tells a string body from a stream, so the global `Response` is wrapped to note it
 * at construction: the wrapper shares the platform's prototype (`instanceof`, subclasses and the
 * static methods are unchanged) and notes only a string argument or a `Response.json` result, so
 * a bundle cannot make a streamed body pass for a string one. The body is still read once, as the
 * platform reads it: a response returned twice fails the second time, as before.
 *
 * @module
 */

const NativeResponse = globalThis.Response;
const construct = Reflect.construct;
const weakSetHas = WeakSet.prototype.has;
const weakSetAdd = WeakSet.prototype.add;
const apply = Reflect.apply;
const nativeJson = NativeResponse.json;
const nativeText = NativeResponse.prototype.text;
/** Responses built from a string. */
const stringBodies = new WeakSet<Response>();

/**
 * Makes the global `Response` note string bodies, for {@linkcode stringBody}. Idempotent; run it
 * before any bundle code.
 */
export function trackStringBodies(): void {
  if (globalThis.Response !== NativeResponse) return;
  const Response = function Response(
    this: unknown,
    body?: BodyInit | null,
    init?: ResponseInit,
  ): Response {
    if (!new.target) {
      throw new TypeError("Failed to construct 'Response': use the 'new' operator");
    }
    const target = new.target === Response ? NativeResponse : new.target;
    const response = construct(NativeResponse, [body, init], target) as Response;
    if (typeof body === "string") apply(weakSetAdd, stringBodies, [response]);
    return response;
  };
  // Response.json's body is a string the platform made: noted too.
  const json = {
    json(data: unknown, init?: ResponseInit): Response {
      const response = apply(nativeJson, NativeResponse, [data, init]) as Response;
      apply(weakSetAdd, stringBodies, [response]);
      return response;
    },
  }.json;
  Object.defineProperty(json, "length", { value: nativeJson.length });
  Object.defineProperty(Response, "length", { value: 0 });
  // Named here, not by the function: the runtime's bundler may rename the function to avoid a clash.
  Object.defineProperty(Response, "name", { value: "Response" });
  Object.defineProperty(Response, "prototype", { value: NativeResponse.prototype });
  // The platform's statics as own properties, in its order, like the platform's constructor (whose
  // prototype is Function.prototype): `Object.getOwnPropertyNames(Response)` lists the same names.
  for (const key of Reflect.ownKeys(NativeResponse)) {
    if (key === "length" || key === "name" || key === "prototype") continue;
    const descriptor = Object.getOwnPropertyDescriptor(NativeResponse, key)!;
    if (key === "json") descriptor.value = json;
    Object.defineProperty(Response, key, descriptor);
  }
  Object.defineProperty(NativeResponse.prototype, "constructor", { value: Response });
  Object.defineProperty(globalThis, "Response", { value: Response });
}

/**
 * Reads a response's body as the string it was built from, when it was one and is still unread:
 * with the platform's own `text()` (whatever the bundle made of `Response.prototype`), which
 * consumes the body and settles at once. `undefined` for any other body (read it through
 * `response.body`).
 *
 * @param response A bundle's response.
 * @returns The string, or `undefined`.
 */
export function stringBody(response: Response): Promise<string> | undefined {
  if (!apply(weakSetHas, stringBodies, [response]) || response.bodyUsed) return undefined;
  return apply(nativeText, response, []) as Promise<string>;
}
