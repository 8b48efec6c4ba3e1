import assert from "node:assert/strict";
import {
  closestName,
  explainFault,
  inAuthorTerms,
  listNames,
  locate,
  permissionHint,
} from "./author_terms.ts";

const DIR = "/srv/data/.bundlehost/releases/shop/1.2.0";
const DATA = "/srv/data/.bundlehost/data/shop";
const FOLDER = { dir: DIR, source: "/home/ada/shop", entry: "./mod.ts", data: DATA };

Deno.test("inAuthorTerms names the author's files, or bundle-relative ones for clients", () => {
  const text = `Module not found "file://${DIR}/lib/x.ts" (imported by ${DIR}/mod.ts); in ${DIR}`;
  assert.equal(
    inAuthorTerms(text, FOLDER, "author"),
    'Module not found "/home/ada/shop/lib/x.ts" (imported by /home/ada/shop/mod.ts); in /home/ada/shop',
  );
  assert.equal(
    inAuthorTerms(text, FOLDER, "client"),
    'Module not found "lib/x.ts" (imported by mod.ts); in the bundle folder',
  );
  // The data folder is $DATA to everyone.
  assert.equal(
    inAuthorTerms(`cannot open ${DATA}/a.db`, FOLDER, "client"),
    "cannot open $DATA/a.db",
  );
  // A sibling folder that only shares the prefix is not the bundle's.
  assert.equal(inAuthorTerms(`${DIR}0/mod.ts`, FOLDER, "client"), `${DIR}0/mod.ts`);
});

Deno.test("locate picks the first frame inside the bundle; an inlined entry maps to its file", () => {
  const frames = `file:///srv/engine/guest/runtime.ts:1:2 file://${DIR}/lib/a.ts:3:4`;
  assert.equal(locate(frames, FOLDER, "client"), "lib/a.ts:3:4");
  assert.equal(locate(frames, FOLDER, "author"), "/home/ada/shop/lib/a.ts:3:4");
  assert.equal(locate("data::7:9 file:///x.ts:1:1", FOLDER, "client"), "mod.ts:7:9");
  assert.equal(locate(`file://${DIR}/../../etc/x.ts:1:1`, FOLDER, "client"), undefined);
  assert.equal(locate("file:///srv/engine/guest/runtime.ts:1:2", FOLDER, "client"), undefined);
  assert.equal(locate(`file://${DIR}/%E0.ts:1:1`, FOLDER, "client"), undefined);
});

Deno.test("permissionHint names the field and value, or says no grant can allow it", () => {
  const denied = (kind: string, what: string) =>
    `Requires ${kind} access to "${what}", run again with the --allow-${kind} flag`;
  assert.equal(
    permissionHint(denied("read", `${DIR}/data/x.json`), FOLDER, "/srv"),
    'Requires read access to "data/x.json": add "./data/x.json" to "permissions.read" in ' +
      "bundle.json (the operator policy must allow it too)",
  );
  assert.match(
    permissionHint(denied("write", "/etc/passwd"), FOLDER, "/srv")!,
    /"\/etc\/passwd", which is outside the bundle folder: no "permissions\.write" grant allows it$/,
  );
  assert.match(
    permissionHint(denied("read", "./data/x.json"), FOLDER, "/srv")!,
    /relative path resolves against the engine's working folder/,
  );
  assert.match(
    permissionHint(denied("env", "HOME"), FOLDER, "/srv")!,
    /add "HOME" to "permissions\.env"/,
  );
  assert.match(
    permissionHint(denied("sys", "hostname"), FOLDER, "/srv")!,
    /add "hostname" to "permissions\.sys"/,
  );
  assert.equal(
    permissionHint(denied("write", `${DATA}/cache/a.db`), FOLDER, "/srv"),
    'Requires write access to "$DATA/cache/a.db": add "$DATA/cache/a.db" to "permissions.write" ' +
      "in bundle.json (the operator policy must allow it too)",
  );
  assert.equal(permissionHint("Some other failure", FOLDER, "/srv"), undefined);
  // A refusal worded differently still loses the flag advice and gains the field.
  assert.equal(
    permissionHint("Requires ffi access, run again with the --allow-ffi flag", FOLDER, "/srv"),
    'Requires ffi access: add it to "permissions.ffi" in bundle.json (the operator policy must allow it too)',
  );
});

Deno.test("explainFault only rewrites permission errors, and never the bundle's own words", () => {
  const own = explainFault(
    { name: "Error", message: 'Requires read access to "x", run again with the --allow-read flag' },
    FOLDER,
    "client",
    "/srv",
  );
  assert.equal(own.message, 'Requires read access to "x", run again with the --allow-read flag');
  assert.equal(own.at, undefined);
});

Deno.test("listNames and closestName stay bounded", () => {
  assert.equal(listNames(["a", "b"]), "a, b");
  const many = Array.from({ length: 500 }, (_, i) => `method${i}`);
  const listed = listNames(many);
  assert.ok(listed.length < 300, listed);
  assert.match(listed, /, … and \d+ more$/);
  assert.equal(closestName("HeloService", ["HelloService", "CatalogService"]), "HelloService");
  assert.equal(closestName("Billing", ["HelloService", "CatalogService"]), undefined);
  assert.equal(closestName("x".repeat(10_000), ["x"]), undefined);
});
