// Replacements VS Code can draw. The server's item for a placeholder body replaces `pass` (or
// `...`, `todo!()`) by the body. VS Code draws an inline item only as insertions into the text of
// its range (its computeGhostText gives up on any deleted character), so that item shows nothing.
// With finalized API an item can only insert, then run a command; so it becomes an insertion at
// the end of the line, drawn as ghost lines below the placeholder, and its command replaces the
// placeholder and the inserted text by the server's text, in the accept's own undo step.
// Pure: positions are (line, character) in the document, so tests need no VS Code.

/** A position in the document: zero-based line and UTF-16 character, as VS Code counts. */
export interface At {
  line: number;
  character: number;
}

/** What the item becomes: an insertion VS Code draws, and the edit its accept command makes. */
export interface Drawn {
  /** The empty range of the insertion: the end of the placeholder's line. */
  insertAt: At;
  /** Plain text inserted on Tab: a line break, the placeholder's column, the body, the rest of the line. */
  display: string;
  /** After the insertion, [replaceFrom, replaceTo) holds the placeholder, the rest of its line and `display`. */
  replaceFrom: At;
  replaceTo: At;
  /** What that range becomes: the server's text then the rest of the line (for a snippet, escaped). */
  text: string;
  /** Where the cursor goes afterwards for plain text: the end of the server's text. */
  cursor: At;
  /** The text the command expects in that range, so it never edits a document that changed meanwhile. */
  expected: string;
}

/** Drop the common start of `a` and `b`. */
function afterCommonPrefix(a: string, b: string): [string, string] {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) {
    i++;
  }
  return [a.slice(i), b.slice(i)];
}

function isSubsequence(small: string, big: string): boolean {
  let i = 0;
  for (let j = 0; j < big.length && i < small.length; j++) {
    if (big[j] === small[i]) {
      i++;
    }
  }
  return i === small.length;
}

/**
 * Whether VS Code draws an item replacing `replaced` (one line) by `insert` as ghost text: only
 * characters added, none removed, and what goes on later lines added after all of `replaced`.
 */
export function drawsAsGhostText(replaced: string, insert: string): boolean {
  const [lost, added] = afterCommonPrefix(replaced, insert);
  if (lost === "") {
    return true;
  }
  return !added.includes("\n") && isSubsequence(lost, added);
}

/** The text a snippet inserts (tab stops as their placeholder text), for drawing it. */
export function snippetText(snippet: string): string {
  let out = "";
  let depth = 0;
  for (let i = 0; i < snippet.length; i++) {
    const c = snippet[i];
    if (c === "\\" && i + 1 < snippet.length && "$}\\".includes(snippet[i + 1])) {
      out += snippet[++i];
    } else if (c === "$" && snippet[i + 1] === "{" && /\d/.test(snippet[i + 2] ?? "")) {
      const m = /^\$\{\d+(:|\})/.exec(snippet.slice(i));
      if (m && m[1] === ":") {
        depth++;
      }
      i += m ? m[0].length - 1 : 1;
    } else if (c === "$" && /\d/.test(snippet[i + 1] ?? "")) {
      while (/\d/.test(snippet[i + 1] ?? "")) {
        i++;
      }
    } else if (c === "}" && depth > 0) {
      depth--;
    } else {
      out += c;
    }
  }
  return out;
}

function escapeSnippet(text: string): string {
  return text.replace(/[$}\\]/g, "\\$&");
}

/**
 * The item replacing [start, end) of `lineText` (line `line`) by `insert` as VS Code can draw it.
 * `snippet`: `insert` is snippet syntax (tab stops on the model's doubts).
 */
export function drawBelow(line: number, lineText: string, start: number, end: number, insert: string, snippet: boolean): Drawn {
  const plain = snippet ? snippetText(insert) : insert;
  const rest = lineText.slice(end);
  // The placeholder's column: its indentation as is, other text before it (`def f(): ...`) as spaces.
  const pad = lineText.slice(0, start).replace(/[^\t]/g, " ");
  const display = "\n" + pad + plain + rest;
  const lines = display.split("\n");
  const replaceTo = { line: line + lines.length - 1, character: lines[lines.length - 1].length };
  const plainLines = plain.split("\n");
  const cursor = {
    line: line + plainLines.length - 1,
    character: (plainLines.length === 1 ? start : 0) + plainLines[plainLines.length - 1].length,
  };
  return {
    insertAt: { line, character: lineText.length },
    display,
    replaceFrom: { line, character: start },
    replaceTo,
    // A snippet's final stop stays where the server put it: before the rest of the line.
    text: snippet ? insert + escapeSnippet(rest) : insert + rest,
    cursor,
    expected: lineText.slice(start) + display,
  };
}
