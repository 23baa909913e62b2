import { test } from "node:test";
import * as assert from "node:assert/strict";
import { Host, inEnvironment, resolveServer } from "../serverPath";

function host(files: string[], env: Record<string, string> = {}, platform: NodeJS.Platform = "linux"): Host {
  const set = new Set(files);
  return { platform, env, isExecutable: (f) => set.has(f) };
}

test("an explicit path wins and is checked", () => {
  const h = host(["/opt/fg/bin/fillgap", "/usr/bin/fillgap"], { PATH: "/usr/bin" });
  assert.deepEqual(resolveServer({ path: "/opt/fg/bin/fillgap" }, h), {
    command: "/opt/fg/bin/fillgap",
    args: ["serve"],
    source: "fillgap.server.path",
  });
  const missing = resolveServer({ path: "/nope/fillgap" }, h);
  assert.ok(missing instanceof Error && missing.message.includes("/nope/fillgap"));
});

test("a home-relative path is expanded", () => {
  const h = host(["/home/u/.venv/bin/fillgap"], { HOME: "/home/u" });
  const found = resolveServer({ path: "~/.venv/bin/fillgap" }, h);
  assert.ok(!(found instanceof Error) && found.command === "/home/u/.venv/bin/fillgap");
});

test("a Python environment is searched in bin/ (Scripts\\ on Windows)", () => {
  assert.equal(inEnvironment("/work/.venv", "linux"), "/work/.venv/bin/fillgap");
  assert.equal(inEnvironment("C:\\envs\\fg", "win32"), "C:\\envs\\fg\\Scripts\\fillgap.exe");
  const h = host(["/work/.venv/bin/fillgap"], { PATH: "/usr/bin" });
  const found = resolveServer({ pythonEnvironment: "/work/.venv" }, h);
  assert.ok(!(found instanceof Error) && found.source === "fillgap.server.pythonEnvironment");
  const wrong = resolveServer({ pythonEnvironment: "/elsewhere" }, h);
  assert.ok(wrong instanceof Error && wrong.message.includes("/elsewhere/bin/fillgap"));
});

test("PATH is searched in order, then $VIRTUAL_ENV", () => {
  const h = host(["/b/fillgap", "/c/fillgap"], { PATH: "/a:/b:/c" });
  const found = resolveServer({}, h);
  assert.ok(!(found instanceof Error) && found.command === "/b/fillgap" && found.source === "PATH");
  const venv = resolveServer({}, host(["/v/bin/fillgap"], { PATH: "/a", VIRTUAL_ENV: "/v" }));
  assert.ok(!(venv instanceof Error) && venv.source === "$VIRTUAL_ENV");
});

test("Windows PATH search uses PATHEXT", () => {
  const h = host(["C:\\py\\Scripts\\fillgap.exe"], { Path: "C:\\py\\Scripts", PATHEXT: ".COM;.EXE" }, "win32");
  const found = resolveServer({}, h);
  assert.ok(!(found instanceof Error) && found.command === "C:\\py\\Scripts\\fillgap.exe");
});

test("nothing found says which settings to set", () => {
  const none = resolveServer({}, host([], { PATH: "/usr/bin" }));
  assert.ok(none instanceof Error && none.message.includes("fillgap.server.path"));
});
