// The load harness's hello handler for workerd: the same bytes as bench/load/bare_server.ts.
// POST (the /rpc shape): parse the JSON body, answer {"result":"hello"}. Anything else: "hello".
export default {
  async fetch(request) {
    if (request.method === "POST") {
      JSON.parse(await request.text());
      return new Response(JSON.stringify({ result: "hello" }), {
        headers: { "content-type": "application/json" },
      });
    }
    return new Response("hello");
  },
};
