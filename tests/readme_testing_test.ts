/**
 * The README's "Testing a bundle" example is run as written: its files (each code block that
 * starts with a `// <path>` comment) are written to a temporary folder and `deno test` runs them
 * in a child process with the permissions the README gives, the package's entry points resolved
 * from this repository's `deno.json`.
 *
 * @module
 */
import assert from "node:assert/strict";
import { ROOT } from "./_helpers.ts";

/** The files of the section `heading` of README.md: path → content. */
function exampleFiles(heading: string): Map<string, string> {
  const readme = Deno.readTextFileSync(`${ROOT}/README.md`);
  const start = readme.indexOf(`\n${heading}\n`);
  assert.ok(start >= 0, `README.md has no "${heading}" section`);
  const end = readme.indexOf("\n## ", start + 1);
  const section = readme.slice(start, end < 0 ? undefined : end);
  const files = new Map<string, string>();
  for (const [, lang, body] of section.matchAll(/```(\w+)\n([\s\S]*?)```/g)) {
    const path = /^\/\/ (\S+)\n/.exec(body!)?.[1];
    if (path === undefined) continue;
    // JSON has no comments: the path line is the README's, not the file's.
    files.set(path, lang === "jsonc" ? body!.slice(body!.indexOf("\n") + 1) : body!);
  }
  return files;
}

/** The command line the README gives after "Run it with the permissions the engine needs". */
function runCommand(heading: string): string[] {
  const readme = Deno.readTextFileSync(`${ROOT}/README.md`);
  const section = readme.slice(readme.indexOf(`\n${heading}\n`));
  const command = /Run it with the permissions the engine needs:\s*`deno ([^`]+)`/.exec(section);
  assert.ok(command, "README.md gives no command to run the example");
  return command[1]!.split(/\s+/);
}

Deno.test("README's Testing a bundle example passes as written", async () => {
  const files = exampleFiles("### Testing a bundle");
  assert.deepEqual([...files.keys()].sort(), [
    "checkout/bundle.json",
    "checkout/checkout_test.ts",
    "checkout/mod.ts",
  ]);
  JSON.parse(files.get("checkout/bundle.json")!);
  const root = await Deno.makeTempDir({ prefix: "bundlehost-readme-" });
  try {
    for (const [path, content] of files) {
      await Deno.mkdir(`${root}/${path.slice(0, path.lastIndexOf("/"))}`, { recursive: true });
      await Deno.writeTextFile(`${root}/${path}`, content);
    }
    const [sub, ...args] = runCommand("### Testing a bundle");
    assert.equal(sub, "test");
    // The package's own name resolves through its deno.json, as a user's import map would.
    const out = await new Deno.Command("deno", {
      args: ["test", "--config", `${ROOT}/deno.json`, "--no-lock", ...args],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, text);
    assert.match(text, /ok \| 3 passed \| 0 failed/);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
