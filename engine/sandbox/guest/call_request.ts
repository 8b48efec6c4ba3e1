/**
 * The `Request` a fetch handler receives. It is a real `Request` (a subclass: `instanceof`,
 * method, url, headers and body are the platform's own), whose `signal` is the call's
 * (`call_scope.ts`), created only when the bundle reads it. Passing a signal to the `Request`
 * constructor instead made the platform build a dependent signal for every call, and the call an
 * `AbortController` and a deadline timer: about a third of the cost of building the request, for
 * a signal most handlers never read.
 *
 * `clone()` keeps following the call's signal, as a clone of a request built with that signal
 * would, and so do `new Request(request)` and `fetch(request)`: the platform reads the signal of
 * a request it copies through an internal getter, not `signal`, so that getter is overridden too
 * (without it, a proxy bundle's `fetch(request)` no longer ended at the call's deadline). And
 * `request.constructor` is `Request`, as it is for the platform's own requests.
 *
 * @module
 */
import type { CallScope } from "./call_scope.ts";

/** The platform's internal signal getter of `Request`, found by its description (Deno 2.9). */
const INTERNAL_SIGNAL = Object.getOwnPropertySymbols(Request.prototype).find((symbol) =>
  symbol.description === "signal"
);

/** A fetch handler's request, whose signal is the call's. */
export class CallRequest extends Request {
  static {
    // What a bundle logging its request sees: the platform's name.
    Object.defineProperty(this, "name", { value: "Request" });
  }
  readonly #scope: CallScope;

  /**
   * Builds the request.
   *
   * @param url The request's URL.
   * @param init Method, headers and body (any `signal` in it is ignored: the call's is used).
   * @param scope The call whose signal `request.signal` is.
   */
  constructor(url: string, init: RequestInit, scope: CallScope) {
    super(url, init);
    this.#scope = scope;
  }

  /** The call's signal: aborted at its deadline or on cancel. */
  override get signal(): AbortSignal {
    return this.#scope.signal;
  }

  static {
    if (INTERNAL_SIGNAL !== undefined) {
      Object.defineProperty(this.prototype, INTERNAL_SIGNAL, {
        get(this: CallRequest) {
          return this.signal;
        },
        configurable: true,
      });
    }
    Object.defineProperty(this.prototype, "constructor", {
      value: Request,
      writable: true,
      configurable: true,
    });
  }

  /**
   * A copy of the request whose signal is the call's.
   *
   * @returns The copy.
   */
  override clone(): Request {
    return new Request(super.clone(), { signal: this.#scope.signal });
  }
}
