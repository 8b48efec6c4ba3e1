/**
 * Responses whose body the bundle gave as a string (`new Response("hello")`, what most frameworks'
 * `text()` and `json()` helpers build, and `Response.json`). Their body is whole at once, so the runtime reads it with
 * `response.text()` instead of through `response.body`: making the body a `ReadableStream` and
 * reading it, only to decode the bytes back into the same text, was about a quarter of the
 * guest's time per `GET /b/:id/` call. No public API tells a string body from a stream, so the
 * global `Response` is wrapped to note it at construction: the wrapper shares the platform's
 * prototype (`instanceof`, subclasses and the static methods are unchanged) and only records the
 * argument's type, so a bundle cannot make a streamed body pass for a string one.
 *
 * @module
 */

const NativeResponse = globalThis.Response;
const construct = Reflect.construct;
const weakMapGet = WeakMap.prototype.get;
const weakMapSet = WeakMap.prototype.set;
const apply = Reflect.apply;
const nativeJson = NativeResponse.json;
const nativeText = NativeResponse.prototype.text;
/** The string each tracked response was built with; null when only the platform holds it. */
const strings = new WeakMap<Response, string | null>();

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
    if (typeof body === "string") apply(weakMapSet, strings, [response, body]);
    return response;
  };
  // Response.json's body is a string the platform made: noted too, to be read with `text()`.
  const json = {
    json(data: unknown, init?: ResponseInit): Response {
      const response = apply(nativeJson, NativeResponse, [data, init]) as Response;
      apply(weakMapSet, strings, [response, null]);
      return response;
    },
  }.json;
  Object.defineProperty(json, "length", { value: nativeJson.length });
  Object.defineProperty(Response, "json", { value: json, writable: true, configurable: true });
  Object.defineProperty(Response, "length", { value: 0 });
  Object.defineProperty(Response, "prototype", { value: NativeResponse.prototype });
  Object.setPrototypeOf(Response, NativeResponse);
  Object.defineProperty(NativeResponse.prototype, "constructor", { value: Response });
  Object.defineProperty(globalThis, "Response", { value: Response });
}

/**
 * The string a response's body was built from, when it was one and is still unread: the string,
 * or its reading when only the platform holds it (`Response.json`; this consumes the body);
 * `undefined` for any other body (read it through `response.body`). The platform's own `text()`
 * reads it, whatever the bundle made of `Response.prototype`.
 *
 * @param response A bundle's response.
 * @returns The string as the bundle gave it, a promise of it, or `undefined`.
 */
export function stringBody(response: Response): string | Promise<string> | undefined {
  const body = apply(weakMapGet, strings, [response]) as string | null | undefined;
  if (body === undefined || response.bodyUsed) return undefined;
  return body ?? apply(nativeText, response, []) as Promise<string>;
}
