/**
 * The published contract's edges: the release refuses a bad `types` file naming the field,
 * `GET /admin/bundles/:id/types` serves the active or an asked version and 404s naming what is
 * missing, and `cli types` never overwrites a file it did not write unless `--force`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { main as cli } from "../cli.ts";
import { GENERATED_MARK } from "../cli/types.ts";
import { manifest, writeBundle } from "./_helpers.ts";
import { testIo } from "./_cli_io.ts";
import { admin, releasePath } from "./_http.ts";
import { TEST_TOKEN, testServer } from "./_server.ts";

const MOD = "export default { services: { HelloService: { greet: () => ({ message: 'hi' }) } } };";
const contract = (version: string) =>
  `// ${version}\nexport interface HelloService {\n  greet(input: null): { message: string };\n}\n`;

function hello(version: string, extra: Record<string, unknown> = {}) {
  return manifest("hello", { version, services: { HelloService: "1.0.0" }, ...extra });
}

Deno.test("a release with a bad types file is refused naming the field", async () => {
  await using srv = await testServer({ isolation: "process" });
  const cases: [Record<string, unknown>, Record<string, string>, RegExp, number][] = [
    [
      { types: "./missing.ts" },
      {},
      /"\.\/missing\.ts", which is not a file in the bundle folder/,
      400,
    ],
    [{ types: "../other/contract.ts" }, {}, /field "types" must not contain '\.\.'/, 400],
    [{ types: "./contract.d.json" }, {}, /field "types" must be a relative path to a \.ts/, 400],
    [{ types: "/etc/passwd.ts" }, {}, /field "types" must be a relative path/, 400],
    [{ types: "./api/./contract.ts" }, {}, /field "types" must not contain '\.\.' or '\.'/, 400],
    [
      { types: "./contract.ts" },
      { "contract.ts": `export interface A {}\n${"// padding\n".repeat(7000)}` },
      /which is \d+ bytes, more than 65536/,
      400,
    ],
    [
      { types: "./contract.ts" },
      { "contract.ts": 'import type { X } from "./x.ts";\nexport interface A { x: X }\n' },
      /which imports another module .*import type \{ X \} from/,
      400,
    ],
    [
      { types: "./contract.ts" },
      { "contract.ts": 'export * from "./x.ts";\n' },
      /which imports another module/,
      400,
    ],
  ];
  for (const [extra, files, message, status] of cases) {
    const dir = await writeBundle(srv.root, hello("1.0.0", extra), { "mod.ts": MOD, ...files });
    const reply = await releasePath(srv.url, dir);
    assert.equal(reply.status, status, JSON.stringify(reply.body));
    const error = (reply.body as unknown as { error: { message: string; field?: string } }).error;
    assert.match(error.message, message);
    assert.match(error.message, /"types"/);
  }
  const list = await admin<unknown[]>(srv.url, "GET", "/admin/bundles");
  assert.deepEqual(list.body, [], "nothing of a refused release is kept");
});

Deno.test("GET /admin/bundles/:id/types serves the active or an asked version", async () => {
  await using srv = await testServer({ isolation: "process" });
  for (const version of ["1.0.0", "1.1.0"]) {
    const dir = await writeBundle(
      srv.root,
      hello(version, { types: "./api/contract.ts" }),
      { "mod.ts": MOD, "api/contract.ts": contract(version) },
    );
    assert.equal((await releasePath(srv.url, dir)).status, 201);
  }
  const plain = await writeBundle(srv.root, manifest("plain", { services: { P: "1.0.0" } }), {
    "mod.ts": "export default { services: { P: { x: () => 1 } } };",
  });
  assert.equal((await releasePath(srv.url, plain)).status, 201);

  const active = await srv.request("/admin/bundles/hello/types", { admin: true });
  assert.equal(active.status, 200);
  assert.equal(active.headers.get("content-type"), "text/plain; charset=utf-8");
  assert.equal(active.headers.get("x-bundle"), "hello@1.1.0");
  assert.equal(await active.text(), contract("1.1.0"));

  const older = await srv.request("/admin/bundles/hello/types?version=1.0.0", { admin: true });
  assert.equal(older.headers.get("x-bundle"), "hello@1.0.0");
  assert.equal(await older.text(), contract("1.0.0"));

  const expectations: [string, number, RegExp][] = [
    ["/admin/bundles/hello/types?version=2.0.0", 404, /hello has no released version "2\.0\.0"/],
    ["/admin/bundles/hello/types?version=latest", 400, /"version" must be a semver version/],
    ["/admin/bundles/nobody/types", 404, /No bundle "nobody"/],
    ["/admin/bundles/plain/types", 404, /plain@1\.0\.0 publishes no types.*"types" field/],
    ["/admin/bundles/Bad!/types", 400, /Invalid bundle id/],
  ];
  for (const [path, status, message] of expectations) {
    const reply = await admin<{ error: { message: string } }>(srv.url, "GET", path);
    assert.equal(reply.status, status, path);
    assert.match(reply.body.error.message, message, path);
  }
  const anonymous = await srv.request("/admin/bundles/hello/types");
  assert.equal(anonymous.status, 401);
  await anonymous.body?.cancel();
});

Deno.test("cli types overwrites only files it wrote, unless --force", async () => {
  await using srv = await testServer({ isolation: "process" });
  const dir = await writeBundle(srv.root, hello("1.0.0", { types: "contract.ts" }), {
    "mod.ts": MOD,
    "contract.ts": contract("1.0.0"),
  });
  assert.equal((await releasePath(srv.url, dir)).status, 201);
  const out = `${srv.root}/consumer/types/hello.ts`;
  const options = ["--url", srv.url, "--token", TEST_TOKEN, "--out", out];

  const first = testIo();
  assert.equal(await cli(["types", "hello", ...options], first), 0, first.errors.join("\n"));
  assert.ok((await Deno.readTextFile(out)).startsWith(GENERATED_MARK));
  // Its own file is rewritten without asking.
  const again = testIo();
  assert.equal(await cli(["types", "hello", ...options, "--version", "1.0.0"], again), 0);

  await Deno.writeTextFile(out, "// my own notes\n");
  const refused = testIo();
  assert.equal(await cli(["types", "hello", ...options], refused), 2);
  assert.match(refused.errors.join("\n"), /Refusing to overwrite .*hello\.ts: .*pass --force/);
  assert.equal(await Deno.readTextFile(out), "// my own notes\n");

  const forced = testIo();
  assert.equal(await cli(["types", "hello", ...options, "--force"], forced), 0);
  assert.match(await Deno.readTextFile(out), /from hello@1\.0\.0\. Do not edit/);

  const missing = testIo();
  assert.equal(
    await cli(["types", "nobody", "--url", srv.url, "--token", TEST_TOKEN, "--out", out], missing),
    1,
  );
  assert.match(missing.errors.join("\n"), /404 NOT_FOUND: No bundle "nobody"/);
});
