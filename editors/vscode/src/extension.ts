// The VS Code side of fillgap: starts `fillgap serve` with vscode-languageclient (inline
// suggestions, code actions, the completion fallback come from the client's LSP 3.18 features),
// adds commands, passes settings on, and keeps a status bar item on the worker.
import * as fs from "node:fs";
import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  LogMessageNotification,
  MessageType,
  ServerOptions,
  ShowMessageNotification,
  State,
  WorkDoneProgress,
  WorkDoneProgressCreateRequest,
} from "vscode-languageclient/node";
import { pipeStderr, pipeStdout, TraceChannel } from "./channels";
import { drawable, finishAccept, FINISH_ACCEPT, watchSaves } from "./inline";
import { resolveServer, Host } from "./serverPath";
import { RESTART_KEYS, toServerSettings, userValue } from "./settings";
import { ServerStatus, StatusModel } from "./status";

const SECTION = "fillgap";
let client: LanguageClient | undefined;
let item: vscode.StatusBarItem;
let channel: vscode.LogOutputChannel;
let traceChannel: TraceChannel;
const status = new StatusModel();

function render(): void {
  const view = status.view();
  item.text = view.text;
  item.tooltip = view.tooltip;
  item.backgroundColor =
    status.state === "error" ? new vscode.ThemeColor("statusBarItem.errorBackground") : undefined;
}

const host: Host = {
  platform: process.platform,
  env: process.env,
  isExecutable(file: string): boolean {
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return fs.statSync(file).isFile();
    } catch {
      return false;
    }
  },
};

function config(): vscode.WorkspaceConfiguration {
  return vscode.workspace.getConfiguration(SECTION);
}

// Only the settings the user set, never package.json's defaults: those are the server's to decide.
function serverSettings(): object {
  const cfg = config();
  return toServerSettings((key) => userValue(cfg.inspect(key)));
}

/** Time a fill the user waits for, for the status bar. */
async function timed<T>(what: string, work: () => Thenable<T> | Promise<T>): Promise<T> {
  const t0 = Date.now();
  const result = await work();
  status.requestDone(what, Date.now() - t0);
  render();
  return result;
}

async function start(): Promise<void> {
  const cfg = config();
  const where = resolveServer(
    { path: cfg.get<string>("server.path"), pythonEnvironment: cfg.get<string>("server.pythonEnvironment") },
    host,
  );
  if (where instanceof Error) {
    status.clientStopped(where.message);
    render();
    void vscode.window.showErrorMessage(where.message);
    return;
  }
  // No transport: the client would append --stdio (which `fillgap serve` takes, but older ones
  // did not); a command without one is spawned and spoken to on stdio all the same.
  const serverOptions: ServerOptions = { command: where.command, args: where.args };
  // Default (package.json): every language the server has a grammar for, as its activationEvents.
  const languages = cfg.get<string[]>("languages") ?? [];
  const clientOptions: LanguageClientOptions = {
    documentSelector: languages.flatMap((language) => [
      { scheme: "file", language },
      { scheme: "untitled", language },
    ]),
    initializationOptions: serverSettings(),
    outputChannel: channel,
    traceOutputChannel: traceChannel,
    stdioOptions: { stderr: pipeStderr, stdout: pipeStdout },
    middleware: {
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        const t0 = Date.now();
        const result = await next(document, position, context, token);
        const items = Array.isArray(result) ? result : result?.items;
        // Only answered requests count: a superseded one (typing on) says nothing about speed.
        if (!token.isCancellationRequested && items && items.length > 0) {
          status.requestDone("suggestion", Date.now() - t0);
          render();
        }
        if (!items || context.selectedCompletionInfo) {
          return result; // with the popup open VS Code takes only items extending its selected entry
        }
        return items.map((i) => drawable(document, position, i));
      },
      resolveCodeAction: (action, token, next) => timed(action.title, async () => next(action, token)),
    },
  };
  client = new LanguageClient("fillgap", "fillgap", serverOptions, clientOptions);
  client.onDidChangeState((e) => {
    if (e.newState === State.Starting) {
      status.clientStarting();
    } else if (e.newState === State.Running) {
      status.clientRunning();
    } else {
      status.clientStopped();
    }
    render();
  });
  await client.start();
  watchServer(client);
  await refreshStatus(false);
}

/** Replace the client's handlers for the messages that tell the worker's state, passing them on. */
function watchServer(c: LanguageClient): void {
  c.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
    let done: (() => void) | undefined;
    // The loading shows in the status bar item and as window progress, not as a notification.
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Window, title: "fillgap" },
      () => new Promise<void>((resolve) => (done = resolve)),
    );
    const sub = c.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === "begin") {
        status.progressBegin(value.message);
      } else if (value.kind === "end") {
        status.progressEnd(value.message);
        done?.();
        sub.dispose();
      }
      render();
    });
  });
  c.onNotification(LogMessageNotification.type, ({ type, message }) => {
    status.logMessage(message);
    render();
    const log = { [MessageType.Error]: c.error, [MessageType.Warning]: c.warn, [MessageType.Info]: c.info };
    const write = log[type as 1 | 2 | 3];
    if (write) {
      write.call(c, message, undefined, false);
    } else {
      c.outputChannel.appendLine(message);
    }
  });
  c.onNotification(ShowMessageNotification.type, ({ type, message }) => {
    status.showMessage(type, message);
    render();
    const show =
      type === MessageType.Error
        ? vscode.window.showErrorMessage
        : type === MessageType.Warning
          ? vscode.window.showWarningMessage
          : vscode.window.showInformationMessage;
    void show(message);
  });
}

async function refreshStatus(show: boolean): Promise<void> {
  if (!client || !client.isRunning()) {
    if (show) {
      void vscode.window.showWarningMessage(`fillgap: ${status.detail || "not running"}`);
    }
    return;
  }
  const result = (await client.sendRequest(ExecuteCommandRequest.type, {
    command: "fillgap.status",
    arguments: [],
  })) as ServerStatus;
  status.statusResult(result);
  render();
  if (show) {
    client.outputChannel.appendLine(JSON.stringify(result, null, 2));
    void vscode.window.showInformationMessage(status.view().tooltip.split("\n").slice(0, -1).join(" · "));
  }
}

function activeDocument(): vscode.TextEditor | undefined {
  const editor = vscode.window.activeTextEditor;
  if (!editor || !client) {
    void vscode.window.showWarningMessage("fillgap: open a file fillgap serves first");
    return undefined;
  }
  return editor;
}

/** Run one of the server's commands that applies its own edit (fillgap.fillBody / fillAll). */
async function serverCommand(what: string, command: string, args: (editor: vscode.TextEditor) => unknown[]) {
  const editor = activeDocument();
  if (!editor || !client) {
    return;
  }
  const c = client;
  const result = (await timed(what, () =>
    c.sendRequest(ExecuteCommandRequest.type, { command, arguments: args(editor) }),
  )) as { applied?: boolean; reason?: string | null };
  if (!result?.applied) {
    void vscode.window.showInformationMessage(`fillgap: ${what}: ${result?.reason ?? "not applied"}`);
  }
}

/** The server's "Rewrite selection" code action on the selection, resolved and applied. */
async function rewriteSelection(): Promise<void> {
  const editor = activeDocument();
  if (!editor || editor.selection.isEmpty) {
    void vscode.window.showInformationMessage("fillgap: select the code to rewrite first");
    return;
  }
  const actions = await vscode.commands.executeCommand<vscode.CodeAction[]>(
    "vscode.executeCodeActionProvider",
    editor.document.uri,
    editor.selection,
    vscode.CodeActionKind.RefactorRewrite.value,
    1000,
  );
  const rewrite = actions?.find((a) => a.title === "Rewrite selection");
  if (!rewrite?.edit) {
    void vscode.window.showInformationMessage("fillgap: nothing to offer for this selection");
    return;
  }
  await vscode.workspace.applyEdit(rewrite.edit);
}

// The server's shutdown waits for its private worker to stop (up to 5 s); the client's default 2 s
// ran out under load, and the failed stop then kept the new server from starting.
const STOP_TIMEOUT_MS = 10_000;

async function restart(): Promise<void> {
  const old = client;
  client = undefined;
  await old?.stop(STOP_TIMEOUT_MS).catch((e: unknown) => channel.warn(`stopping the server: ${String(e)}`));
  await start();
}

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  channel = vscode.window.createOutputChannel("fillgap", { log: true });
  traceChannel = new TraceChannel(channel);
  item = vscode.window.createStatusBarItem("fillgap.status", vscode.StatusBarAlignment.Right, 100);
  item.name = "fillgap";
  item.command = "fillgap.showStatus";
  render();
  item.show();
  const uri = (editor: vscode.TextEditor) => client!.code2ProtocolConverter.asUri(editor.document.uri);
  context.subscriptions.push(
    item,
    channel,
    traceChannel,
    vscode.commands.registerCommand(FINISH_ACCEPT, finishAccept),
    watchSaves(),
    vscode.commands.registerCommand("fillgap.showStatus", () => refreshStatus(true)),
    vscode.commands.registerCommand("fillgap.fillBodyAtCursor", () =>
      serverCommand("Fill body", "fillgap.fillBody", (e) => [uri(e), e.selection.active.line]),
    ),
    vscode.commands.registerCommand("fillgap.fillAllGaps", () =>
      serverCommand("Fill all gaps", "fillgap.fillAll", (e) => [uri(e)]),
    ),
    vscode.commands.registerCommand("fillgap.rewriteSelection", rewriteSelection),
    vscode.commands.registerCommand("fillgap.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration(async (e) => {
      if (!e.affectsConfiguration(SECTION)) {
        return;
      }
      if (RESTART_KEYS.some((k) => e.affectsConfiguration(`${SECTION}.${k}`)) || !client?.isRunning()) {
        await restart();
      } else {
        // The server takes its own section; a new model or device restarts its worker.
        await client.sendNotification(DidChangeConfigurationNotification.type, {
          settings: { [SECTION]: serverSettings() },
        });
        await refreshStatus(false);
      }
    }),
  );
  await start();
}

export async function deactivate(): Promise<void> {
  await client?.stop(STOP_TIMEOUT_MS);
}
