import assert from "node:assert/strict";
import { ReleaseRefusedError } from "../base/errors.ts";
import { assertContract, contractProblems } from "./contract.ts";
import { parseManifest } from "./manifest.ts";

const manifest = parseManifest({
  id: "orders",
  version: "2.0.0",
  entry: "./src/main.ts",
  services: { OrderService: "1.0.0", AuditService: "1.0.0" },
  subscribe: { "order.created": "OrderService.created" },
  schedule: { "*/5 * * * *": { handler: "OrderService.sweep" } },
  eventMaps: {
    "order.paid": [
      { call: "MailService.send" },
      { call: "OrderService.paid", onError: "degrade", fallback: "OrderService.paidLater" },
    ],
  },
});

Deno.test("contractProblems names every missing service and method, in manifest order", () => {
  const problems = contractProblems(manifest, { OrderService: ["created", "paid"] });
  assert.deepEqual(problems, [
    {
      field: "services.AuditService",
      reason: "is not exported by src/main.ts (it exports: OrderService)",
    },
    {
      field: "schedule.*/5 * * * *",
      reason: 'names OrderService.sweep, which has no method "sweep" (methods: created, paid)',
    },
    {
      field: "eventMaps.order.paid.steps[1].fallback",
      reason:
        'names OrderService.paidLater, which has no method "paidLater" (methods: created, paid)',
    },
  ]);
});

Deno.test("contractProblems leaves other bundles' services alone and accepts a module that keeps the contract", () => {
  const exported = { OrderService: ["created", "sweep", "paid", "paidLater"], AuditService: [] };
  assert.deepEqual(contractProblems(manifest, exported), []);
  // A module exporting nothing is told so, once per declared service; handlers are not repeated.
  assert.deepEqual(contractProblems(manifest, {}).map((p) => p.reason), [
    "is not exported by src/main.ts (it exports: none)",
    "is not exported by src/main.ts (it exports: none)",
  ]);
});

Deno.test("assertContract throws one ReleaseRefusedError listing every problem", () => {
  assert.throws(
    () => assertContract(manifest, { OrderService: ["created"] }),
    (error: unknown) =>
      error instanceof ReleaseRefusedError && error.code === "RELEASE_REFUSED" &&
      error.message.startsWith(
        'Cannot release bundle "orders@2.0.0": field "services.AuditService"',
      ) &&
      error.message.includes('; field "schedule.*/5 * * * *" names OrderService.sweep'),
  );
  assertContract(manifest, {
    OrderService: ["created", "sweep", "paid", "paidLater"],
    AuditService: [],
  });
});

Deno.test("A refusal stays bounded however much the module exports or lacks", () => {
  const many = parseManifest({
    id: "many",
    version: "1.0.0",
    services: Object.fromEntries(Array.from({ length: 40 }, (_, i) => [`Declared${i}`, "1.0.0"])),
  });
  const exported = Object.fromEntries(Array.from({ length: 5_000 }, (_, i) => [`Other${i}`, []]));
  let error: unknown;
  try {
    assertContract(many, exported);
  } catch (thrown) {
    error = thrown;
  }
  assert.ok(error instanceof ReleaseRefusedError);
  assert.match(error.message, /Other31 and 4968 more\)/);
  assert.match(error.message, /field "services\.Declared9" .*; and 30 more$/);
  assert.ok(error.message.length < 8_000, `${error.message.length} characters`);
});
