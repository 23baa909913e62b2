// Inline items VS Code would not draw (a placeholder body replaced by the fill), rewritten into
// an insertion it draws, and the command that finishes their accept (see placeholder.ts).
import * as vscode from "vscode";
import { Drawn, drawBelow, drawsAsGhostText, snippetText } from "./placeholder";

/** The command an accepted rewritten item runs; internal, so not in package.json. */
export const FINISH_ACCEPT = "fillgap._finishAccept";

function pos(at: { line: number; character: number }): vscode.Position {
  return new vscode.Position(at.line, at.character);
}

/** `item` as VS Code draws it: unchanged when it already draws, else an insertion below its line. */
export function drawable(
  document: vscode.TextDocument,
  position: vscode.Position,
  item: vscode.InlineCompletionItem,
): vscode.InlineCompletionItem {
  const range = item.range;
  if (!range || range.isEmpty || !range.isSingleLine || range.start.line !== position.line) {
    return item;
  }
  const snippet = item.insertText instanceof vscode.SnippetString;
  const insert = typeof item.insertText === "string" ? item.insertText : item.insertText.value;
  if (drawsAsGhostText(document.getText(range), snippet ? snippetText(insert) : insert)) {
    return item;
  }
  const line = document.lineAt(range.start.line).text;
  const drawn = drawBelow(range.start.line, line, range.start.character, range.end.character, insert, snippet);
  const at = pos(drawn.insertAt);
  const out = new vscode.InlineCompletionItem(drawn.display, new vscode.Range(at, at));
  out.command = {
    title: item.command?.title ?? "fillgap: accept",
    command: FINISH_ACCEPT,
    arguments: [document.uri.toString(), drawn, snippet, item.command],
  };
  return out;
}

// The document version at each document's last save: VS Code starts a new undo step at a save, so
// a save between the insertion and finishAccept's edit makes the accept two undo steps.
const savedAt = new Map<string, number>();

/** Follow saves, for finishAccept. */
export function watchSaves(): vscode.Disposable {
  return vscode.workspace.onWillSaveTextDocument((e) => savedAt.set(e.document.uri.toString(), e.document.version));
}

/**
 * After VS Code inserted `drawn.display`: the placeholder and the inserted text become the
 * server's text in the same undo step (no undo stop before the edit), then the server's own
 * command for the item runs (it counts the accept).
 */
export async function finishAccept(uri: string, drawn: Drawn, snippet: boolean, then?: vscode.Command): Promise<void> {
  const editor = vscode.window.visibleTextEditors.find((e) => e.document.uri.toString() === uri);
  let range = new vscode.Range(pos(drawn.replaceFrom), pos(drawn.replaceTo));
  if (editor && editor.document.getText(range) === drawn.expected) {
    let stop = false;
    if (savedAt.get(uri) === editor.document.version && vscode.window.activeTextEditor === editor) {
      // Saved since the insertion, so its undo step is closed: undo it (Tab was just pressed in
      // this editor) and make the whole replacement one step of its own.
      await vscode.commands.executeCommand("undo");
      const line = editor.document.lineAt(drawn.replaceFrom.line);
      if (line.text.slice(drawn.replaceFrom.character) !== drawn.expected.slice(0, -drawn.display.length)) {
        await vscode.commands.executeCommand("redo");
        return;
      }
      range = new vscode.Range(pos(drawn.replaceFrom), line.range.end);
      stop = true;
    }
    const keep = { undoStopBefore: stop, undoStopAfter: true };
    if (snippet) {
      await editor.insertSnippet(new vscode.SnippetString(drawn.text), range, keep);
    } else if (await editor.edit((b) => b.replace(range, drawn.text), keep)) {
      editor.selection = new vscode.Selection(pos(drawn.cursor), pos(drawn.cursor));
    }
  }
  if (then) {
    await vscode.commands.executeCommand(then.command, ...(then.arguments ?? []));
  }
}
