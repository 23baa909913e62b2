// The fillgap output channel, and what goes into it. vscode-languageclient 10 traces the LSP
// traffic only while its trace channel's log level is Trace, and then at level trace, so
// `fillgap.trace.server` alone showed nothing; here the trace channel's level follows that setting
// and its lines go to the fillgap channel as info. The server's stderr goes in at each line's
// own level rather than all as errors.
import * as readline from "node:readline";
import type { Readable } from "node:stream";
import * as vscode from "vscode";
import { StderrLevels } from "./logs";

const SETTING = "fillgap.trace.server";

/** A LogOutputChannel whose level is `fillgap.trace.server` (off: Off, else Trace), writing into `target`. */
export class TraceChannel implements vscode.LogOutputChannel {
  private readonly changed = new vscode.EventEmitter<vscode.LogLevel>();
  private readonly watch: vscode.Disposable;
  readonly onDidChangeLogLevel = this.changed.event;

  constructor(private readonly target: vscode.LogOutputChannel) {
    this.watch = vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration(SETTING)) {
        this.changed.fire(this.logLevel);
      }
    });
  }

  get name(): string {
    return this.target.name;
  }

  get logLevel(): vscode.LogLevel {
    const setting = vscode.workspace.getConfiguration().get<string>(SETTING, "off");
    return setting === "off" ? vscode.LogLevel.Off : vscode.LogLevel.Trace;
  }

  // The client calls trace() for each message; shown at info, the channel's usual level.
  trace(message: string, ...args: unknown[]): void {
    this.target.info(message, ...args);
  }
  debug(message: string, ...args: unknown[]): void {
    this.target.debug(message, ...args);
  }
  info(message: string, ...args: unknown[]): void {
    this.target.info(message, ...args);
  }
  warn(message: string, ...args: unknown[]): void {
    this.target.warn(message, ...args);
  }
  error(error: string | Error, ...args: unknown[]): void {
    this.target.error(error, ...args);
  }
  append(value: string): void {
    this.target.append(value);
  }
  appendLine(value: string): void {
    this.target.appendLine(value);
  }
  replace(value: string): void {
    this.target.replace(value);
  }
  clear(): void {
    this.target.clear();
  }
  show(columnOrPreserve?: vscode.ViewColumn | boolean, preserveFocus?: boolean): void {
    if (typeof columnOrPreserve === "boolean") {
      this.target.show(columnOrPreserve);
    } else {
      this.target.show(columnOrPreserve, preserveFocus);
    }
  }
  hide(): void {
    this.target.hide();
  }
  dispose(): void {
    this.watch.dispose();
    this.changed.dispose();
  }
}

/** Each line of the server's stderr into `channel` at the level it was logged at. */
export function pipeStderr(input: Readable, channel: vscode.LogOutputChannel): void {
  const levels = new StderrLevels();
  readline
    .createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 })
    .on("line", (line: string) => channel[levels.levelOf(line)](line));
}

/** stdout carries LSP frames; the client reads it, and would only log it for other transports. */
export function pipeStdout(input: Readable, channel: vscode.LogOutputChannel): void {
  readline
    .createInterface({ input, crlfDelay: Infinity, terminal: false, historySize: 0 })
    .on("line", (line: string) => channel.info(line));
}
