// Drives one headless Chromium page for tests/editors/vscode_session.py, one JSON request a line
// on stdin, one JSON answer a line on stdout ({id, ok, value} or {id, ok: false, error}).
//
//   node vscode_driver.mjs PLAYWRIGHT_CORE_DIR CHROMIUM USER_DATA_DIR
//
// The page logic lives in Python; this only maps requests onto playwright-core calls, so each
// wait has the deadline the Python side gives it.
import { createRequire } from "node:module";
import * as readline from "node:readline";

const [playwrightDir, chromiumPath, userDataDir] = process.argv.slice(2);
const { chromium } = createRequire(import.meta.url)(playwrightDir);

const ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let context;
let page;

const ops = {
  async launch({ url, width, height }) {
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: chromiumPath,
      headless: true,
      args: ARGS,
      viewport: { width, height },
    });
    page = context.pages()[0] ?? (await context.newPage());
    await page.goto(url, { waitUntil: "domcontentloaded" });
    return true;
  },
  async wait({ selector, state, timeout }) {
    await page.locator(selector).first().waitFor({ state: state ?? "visible", timeout });
    return true;
  },
  async click({ selector, timeout, button, clicks }) {
    await page.locator(selector).first().click({ timeout, button, clickCount: clicks });
    return true;
  },
  async press({ key }) {
    await page.keyboard.press(key);
    return true;
  },
  async type({ text }) {
    await page.keyboard.type(text);
    return true;
  },
  // `fn` is a function's source, called with `arg` in the page. A string goes to the page as an
  // expression (CDP's evaluate), which the workbench's content security policy does not block.
  async evaluate({ fn, arg }) {
    return await page.evaluate(`(${fn})(${JSON.stringify(arg ?? null)})`);
  },
  async screenshot({ path, selector }) {
    const target = selector ? page.locator(selector).first() : page;
    await target.screenshot({ path });
    return path;
  },
  async close() {
    await context?.close();
    return true;
  },
};

const lines = readline.createInterface({ input: process.stdin });
for await (const line of lines) {
  const { id, op, ...args } = JSON.parse(line);
  let answer;
  try {
    answer = { id, ok: true, value: (await ops[op](args)) ?? null };
  } catch (err) {
    answer = { id, ok: false, error: String(err?.message ?? err) };
  }
  process.stdout.write(JSON.stringify(answer) + "\n");
  if (op === "close") {
    break;
  }
}
process.exit(0);
