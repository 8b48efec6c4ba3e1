import assert from "node:assert/strict";
import { MAX_LOG_MESSAGE } from "../wire/protocol.ts";
import { RSS_ALARM } from "../wire/framing.ts";
import { ChildStderr, lineSplitter } from "./child_lines.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("Lines are split across chunks, and a line without its newline is bounded", () => {
  const lines: string[] = [];
  const split = lineSplitter((line) => lines.push(line));
  split.push(bytes("one\ntw"));
  split.push(bytes("o\n"));
  split.push(bytes("x".repeat(MAX_LOG_MESSAGE + 10)));
  assert.deepEqual(lines.slice(0, 2), ["one", "two"]);
  assert.equal(lines[2]?.length, MAX_LOG_MESSAGE, "an endless line is cut, not held");
  split.push(bytes("tail"));
  split.flush();
  assert.equal(lines.at(-1), "tail");
});

Deno.test("A child's stderr raises the RSS alarm, and notes a full heap and the first uncaught error", () => {
  const alarms: number[] = [];
  const logged: string[] = [];
  const stderr = new ChildStderr((rss) => alarms.push(rss), (line) => logged.push(line));
  stderr.push(bytes(`${RSS_ALARM}123456\nerror: Uncaught TypeError: x\n`));
  stderr.push(bytes("error: Uncaught Error: second\nFatal JavaScript out of memory: heap\n"));
  stderr.flush();
  assert.deepEqual(alarms, [123456]);
  assert.equal(stderr.lastError, "error: Uncaught TypeError: x");
  assert.equal(stderr.outOfMemory, true);
  assert.equal(logged.length, 3, "the alarm is not logged; every other line is");
});
