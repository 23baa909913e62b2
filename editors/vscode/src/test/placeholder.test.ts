import { test } from "node:test";
import * as assert from "node:assert/strict";
import { At, drawBelow, drawsAsGhostText, snippetText } from "../placeholder";

/** The document's offset of a (line, character) position. */
function offset(text: string, at: At): number {
  const lines = text.split("\n");
  return lines.slice(0, at.line).reduce((n, l) => n + l.length + 1, 0) + at.character;
}

function replace(text: string, from: At, to: At, insert: string): string {
  return text.slice(0, offset(text, from)) + insert + text.slice(offset(text, to));
}

/** What VS Code does on Tab (insert `display`), then what the accept command does. */
function acceptDrawn(text: string, line: number, start: number, end: number, insert: string): [string, string] {
  const lineText = text.split("\n")[line];
  const drawn = drawBelow(line, lineText, start, end, insert, false);
  const shown = replace(text, drawn.insertAt, drawn.insertAt, drawn.display);
  const { replaceFrom, replaceTo } = drawn;
  assert.equal(shown.slice(offset(shown, replaceFrom), offset(shown, replaceTo)), drawn.expected);
  const after = replace(shown, replaceFrom, replaceTo, drawn.text);
  assert.equal(offset(after, drawn.cursor), offset(text, { line, character: start }) + insert.length);
  return [after, drawn.display];
}

test("VS Code draws insertions, not an item that deletes what its range holds", () => {
  assert.ok(drawsAsGhostText("", "return 1"));
  assert.ok(drawsAsGhostText("ret", "return 1")); // an unfinished line, typed on
  assert.ok(drawsAsGhostText(")", "a, b)")); // characters added before the text after the cursor
  assert.ok(!drawsAsGhostText("pass", "return a + b"));
  assert.ok(!drawsAsGhostText("...", "return 1"));
  assert.ok(!drawsAsGhostText(")", "a)\n    b = 2")); // added lines before what the range holds
});

test("a `pass` body is drawn below its line and accepted as the server's replacement", () => {
  const text = "def add(a, b):\n    pass\n\nprint(add(1, 2))\n";
  const body = "total = a + b\n    return total";
  const [after, display] = acceptDrawn(text, 1, 4, 8, body);
  assert.equal(display, "\n    total = a + b\n    return total");
  assert.equal(after, "def add(a, b):\n    total = a + b\n    return total\n\nprint(add(1, 2))\n");
});

test("text around the placeholder stays: a one-line def, a comment after it, tabs", () => {
  const [oneLine, display] = acceptDrawn("def f(): ...  # later\n", 0, 9, 12, "return 1");
  assert.equal(oneLine, "def f(): return 1  # later\n");
  assert.equal(display, "\n         return 1  # later");
  const [tabs] = acceptDrawn("fn f() {\n\ttodo!()\n}\n", 1, 1, 8, "let x = 1;\n\tx");
  assert.equal(tabs, "fn f() {\n\tlet x = 1;\n\tx\n}\n");
  const [last] = acceptDrawn("def f():\n    pass", 1, 4, 8, "return 2");
  assert.equal(last, "def f():\n    return 2");
});

test("a snippet is drawn as its text and replaced as the snippet, final stop before the rest", () => {
  assert.equal(snippetText("return ${1:a} + \\$b\\}$0"), "return a + $b}");
  assert.equal(snippetText("x = ${1}; y = $2"), "x = ; y = ");
  const drawn = drawBelow(0, "    pass  # }", 4, 8, "return ${1:a}$0", true);
  assert.equal(drawn.display, "\n    return a  # }");
  assert.equal(drawn.text, "return ${1:a}$0  # \\}");
});
