import { test } from "node:test";
import * as assert from "node:assert/strict";
import { toServerSettings, userValue } from "../settings";

const from = (values: Record<string, unknown>) => toServerSettings((key) => values[key]);

test("VS Code's setting names become the server's keys", () => {
  const settings = from({
    model: " /models/dream ",
    device: "cuda",
    threads: 1,
    debounceMs: 300,
    snippets: "off",
    "sampler.steps": 16,
    "sampler.refineRounds": 0,
    "sampler.tau": 0.5,
    "sampler.temperature": 0.2,
    "sampler.seed": 7,
    "sampler.threshold": 0.9,
  });
  assert.deepEqual(settings, {
    model: "/models/dream",
    device: "cuda",
    threads: 1,
    debounce_ms: 300,
    snippets: "off",
    sampler: { steps: 16, refine_rounds: 0, tau: 0.5, temperature: 0.2, seed: 7, threshold: 0.9 },
  });
});

test("unset and empty settings are left to the server's defaults", () => {
  assert.deepEqual(from({}), {});
  assert.deepEqual(from({ model: "", device: "  " }), {});
});

test("malformed values are dropped rather than sent (the server refuses unknown or bad ones)", () => {
  const settings = from({
    threads: -1,
    debounceMs: 1.5,
    snippets: "sometimes",
    "sampler.steps": "8",
    "sampler.tau": Number.NaN,
    "server.path": "/usr/bin/fillgap",
  });
  assert.deepEqual(settings, {});
});

test("the typing profile switch and the worker's place go to the server", () => {
  const settings = from({
    "typing.enabled": false,
    "worker.mode": "private",
    "worker.address": " tcp://gpu-box:7070 ",
    "worker.tokenFile": "",
    "worker.model": " small ",
  });
  assert.deepEqual(settings.typing, { enabled: false });
  assert.deepEqual(settings.worker, { mode: "private", address: "tcp://gpu-box:7070", model: "small" });
  assert.equal(from({ "worker.mode": "elsewhere" }).worker, undefined);
});

test("only what the user set is read: a default from package.json is not the user's", () => {
  assert.equal(userValue(undefined), undefined);
  assert.equal(userValue({}), undefined); // only the default applies
  assert.equal(userValue({ globalValue: 16 }), 16);
  assert.equal(userValue({ globalValue: 16, workspaceValue: 4 }), 4);
  assert.equal(userValue({ globalValue: 16, workspaceValue: 4, workspaceFolderValue: 2 }), 2);
  assert.equal(userValue({ workspaceValue: 4, globalLanguageValue: 3 }), 3);
  assert.equal(userValue({ globalValue: null }), undefined); // null: the user's way to unset
  assert.equal(userValue({ globalValue: false }), false); // false is a value
});

test("settings left at their defaults send nothing: no steps, no device", () => {
  // What VS Code's inspect() says for untouched settings: a default, no user value.
  const inspected: Record<string, { defaultValue?: unknown; globalValue?: unknown }> = {
    device: { defaultValue: "auto" },
    "sampler.steps": { defaultValue: null },
    "typing.enabled": { defaultValue: true },
    "sampler.tau": { defaultValue: null, globalValue: 0.5 },
  };
  const settings = toServerSettings((key) => userValue(inspected[key]));
  assert.deepEqual(settings, { sampler: { tau: 0.5 } });
});

test("block-diffusion settings go out under the server's names, only when set and well formed", () => {
  const settings = from({
    "sampler.entropyBound": 0.2,
    "sampler.tMax": 0.9,
    "sampler.tMin": 0.3,
    "sampler.maxDenoisingSteps": 32,
    "sampler.stabilityThreshold": 0,
    "sampler.confidenceThreshold": 0.01,
    "sampler.infill": "inpainting",
  });
  assert.deepEqual(settings.sampler, {
    entropy_bound: 0.2,
    t_max: 0.9,
    t_min: 0.3,
    max_denoising_steps: 32,
    stability_threshold: 0,
    confidence_threshold: 0.01,
    infill: "inpainting",
  });
  assert.deepEqual(from({ "sampler.infill": "guess", "sampler.tMax": null }), {});
  assert.deepEqual(from({ "typing.maxDenoisingSteps": 12 }).typing, { max_denoising_steps: 12 });
  assert.deepEqual(from({ "typing.maxDenoisingSteps": 0 }), {});
  assert.deepEqual(from({ "typing.gate": 0 }).typing, { gate: 0 }); // 0: every suggestion shown
  assert.deepEqual(from({ "typing.gate": 1.5 }), {});
});
