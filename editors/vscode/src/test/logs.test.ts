import { test } from "node:test";
import * as assert from "node:assert/strict";
import { StderrLevels } from "../logs";

test("the server's and the worker's logging records keep their levels; continuation lines follow", () => {
  const levels = new StderrLevels();
  const read = (lines: string[]) => lines.map((l) => levels.levelOf(l));
  assert.deepEqual(
    read([
      "INFO:pygls.server:Starting IO server",
      "2026-12-01 16:23:31,123 fillgap-worker INFO fillgap: model /m on cpu (torch SDPA (float32)), 5 parameters",
      "WARNING:lsp.server:slow fill",
      "  the fill took 3.2 s",
      "2026-12-01 16:23:32,000 fillgap-worker DEBUG step 3",
      "ERROR:pygls.protocol:Failed to handle request",
      "Traceback (most recent call last):",
      '  File "x.py", line 1, in <module>',
      "CRITICAL:root:gone",
    ]),
    ["info", "info", "warn", "warn", "debug", "error", "error", "error", "error"],
  );
});

test("before any record: an argument error is an error, other lines info; a traceback is an error", () => {
  const levels = new StderrLevels();
  assert.equal(levels.levelOf("usage: fillgap serve [-h] [--log-level LOG_LEVEL] [--stdio]"), "info");
  assert.equal(levels.levelOf("fillgap serve: error: unrecognized arguments: --pipe=x"), "error");
  const after = new StderrLevels();
  assert.equal(after.levelOf("INFO:x:started"), "info");
  assert.equal(after.levelOf("Traceback (most recent call last):"), "error");
  assert.equal(after.levelOf("ValueError: bad"), "error");
});
