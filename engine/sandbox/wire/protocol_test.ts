import assert from "node:assert/strict";
import { parseGuestMessage } from "./guest_message.ts";

Deno.test("parseGuestMessage: a response's text travels only as a whole body", () => {
  const head = { status: 200, headers: [["content-type", "text/plain"]] };
  const whole = parseGuestMessage({
    type: "response",
    id: 1,
    response: { ...head, body: null, text: "hi" },
  });
  assert.equal(whole?.type === "response" && whole.response.text, "hi");
  for (
    const response of [
      { ...head, body: null, text: 42 },
      { ...head, body: new Uint8Array(1), text: "hi" },
      { ...head, body: null, text: "hi", stream: true },
      { ...head, body: null, text: "hi", upgrade: true },
    ]
  ) {
    assert.equal(parseGuestMessage({ type: "response", id: 1, response }), undefined);
  }
});
