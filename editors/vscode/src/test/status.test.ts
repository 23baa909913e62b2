import { test } from "node:test";
import * as assert from "node:assert/strict";
import { formatLatency, StatusModel } from "../status";

test("latency reads in ms under a second, else seconds", () => {
  assert.equal(formatLatency(42.4), "42 ms");
  assert.equal(formatLatency(1840), "1.8 s");
  assert.equal(formatLatency(12_400), "12 s");
});

test("a session: server up, model loading, ready with the model's log line, a timed fill", () => {
  const s = new StatusModel();
  s.clientStarting();
  assert.match(s.view().text, /sync~spin.*fillgap: starting/);
  s.clientRunning();
  assert.equal(s.state, "idle");
  s.progressBegin("loading the model");
  assert.equal(s.view().text, "$(sync~spin) fillgap: loading");
  assert.match(s.view().tooltip, /loading the model/);
  s.progressEnd("model ready");
  s.logMessage(
    "fillgap: model /repo/model/checkpoints/fillgap-small on cpu (torch SDPA (float32)), 5,123,456 parameters",
  );
  s.requestDone("suggestion", 1840);
  const view = s.view();
  assert.equal(view.text, "$(check) fillgap 1.8 s");
  assert.match(view.tooltip, /model: fillgap-small on cpu, 5,123,456 parameters/);
  assert.match(view.tooltip, /backend: torch SDPA \(float32\)/);
  assert.match(view.tooltip, /last suggestion: 1\.8 s/);
});

test("fillgap.status results set the state, model and counts", () => {
  const s = new StatusModel();
  s.clientRunning();
  s.statusResult({ version: "0.1.0", worker: "not started", model: null, device: "cpu" });
  assert.equal(s.state, "idle");
  s.statusResult({
    version: "0.1.0",
    worker: "ready",
    model: "C:\\models\\dream",
    device: "cuda",
    backend: "torch SDPA (bfloat16)",
    suggestions: { misses: 3, accepted: 1 },
  });
  assert.equal(s.state, "ready");
  assert.match(s.view().tooltip, /fillgap 0\.1\.0: model ready/);
  assert.match(s.view().tooltip, /model: dream on cuda/);
  assert.match(s.view().tooltip, /suggestions: misses 3, accepted 1/);
});

test("a worker failure shows as an error until the state is known again", () => {
  const s = new StatusModel();
  s.clientRunning();
  s.showMessage(3, "fillgap: nothing to offer for Fill body"); // Info: not a worker failure
  assert.equal(s.state, "idle");
  s.showMessage(1, "fillgap: model worker unavailable: worker exited with status 1");
  assert.equal(s.state, "error");
  assert.equal(s.view().text, "$(error) fillgap: error");
  assert.match(s.view().tooltip, /worker exited with status 1/);
  s.statusResult({ worker: "not started" });
  assert.equal(s.state, "error"); // "not started" after a failure is the failure, not idleness
  s.clientStopped("fillgap.server.path: /x is not an executable file");
  assert.match(s.view().tooltip, /is not an executable file/);
});

test("the latency shows only once the worker is ready", () => {
  const s = new StatusModel();
  s.requestDone("Fill body", 900);
  assert.ok(!s.view().text.includes("900 ms"));
  s.statusResult({ worker: "ready" });
  assert.equal(s.view().text, "$(check) fillgap 900 ms");
});
