// The server's stderr, line by line, at the level each line was logged at. vscode-languageclient
// writes every stderr line as an error; the server's lines are Python logging records
// ("INFO:pygls.server:..." from `fillgap serve`, "2026-01-01 10:00:00,000 fillgap-worker INFO ..."
// from a private worker), and a record's continuation lines (a traceback) share its level.
// Pure, so it is tested without VS Code.

export type Level = "trace" | "debug" | "info" | "warn" | "error";

const LEVELS: Record<string, Level> = {
  DEBUG: "debug",
  INFO: "info",
  WARNING: "warn",
  WARN: "warn",
  ERROR: "error",
  CRITICAL: "error",
  FATAL: "error",
};

// A level name near the start of the line, as a word of its own: "INFO:", " INFO ", "[INFO]".
const RECORD = /^(?:\S+\s+){0,3}?\[?(DEBUG|INFO|WARNING|WARN|ERROR|CRITICAL|FATAL)\]?(?::|\s|$)/;

/** Reads stderr lines one after another, keeping the level of the record a line continues. */
export class StderrLevels {
  private last: Level | undefined;

  /** The level of `line`: its record's, else that of the record it continues, else a guess from its words. */
  levelOf(line: string): Level {
    const m = RECORD.exec(line);
    if (m) {
      this.last = LEVELS[m[1]];
      return this.last;
    }
    if (/^Traceback \(most recent call last\)/.test(line)) {
      this.last = "error"; // an uncaught exception; its lines follow
    } else if (this.last === undefined && /\berror\b/i.test(line)) {
      return "error"; // before any record: an argument error, a failed import
    }
    return this.last ?? "info";
  }
}
