/**
 * Responses whose body the bundle gave as a string (`new Response("hello")`, what most frameworks'
 * `text()` and `json()` helpers build). Their body is whole at once, so the runtime reads it with
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
/** The string each tracked response was built with. */
const strings = new WeakMap<Response, string>();

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
  Object.defineProperty(Response, "length", { value: 0 });
  Object.defineProperty(Response, "prototype", { value: NativeResponse.prototype });
  Object.setPrototypeOf(Response, NativeResponse);
  Object.defineProperty(NativeResponse.prototype, "constructor", { value: Response });
  Object.defineProperty(globalThis, "Response", { value: Response });
}

/**
 * The string a response's body was built from, when it was one and is still unread; `undefined`
 * otherwise (read it through `response.body`).
 *
 * @param response A bundle's response.
 * @returns The string, as the bundle gave it.
 */
export function stringBody(response: Response): string | undefined {
  const body = apply(weakMapGet, strings, [response]) as string | undefined;
  return body === undefined || response.bodyUsed ? undefined : body;
}
