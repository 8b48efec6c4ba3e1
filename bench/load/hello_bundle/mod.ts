/**
 * The load harness's hello bundle: `HelloBench.hello` answers `"hello"` (the engine wraps it as
 * `{"result":"hello"}`, the bytes the bare and workerd handlers send for a POST), and `fetch`
 * answers the text `hello` (what they send for a GET). No imports, no permissions, no logging, so
 * a measured call pays only the engine's own path.
 *
 * @module
 */

export default {
  services: {
    HelloBench: {
      hello(_input: unknown): string {
        return "hello";
      },
    },
  },

  fetch(_request: Request): Response {
    return new Response("hello");
  },
};
